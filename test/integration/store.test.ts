import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NewRegistration } from "../../src/domain/registration.js";
import { createPgRegistrationStore } from "../../src/store/registration-store-pg.js";
import { createPgDeliveryAudit } from "../../src/store/delivery-audit-pg.js";
import { createPgDeliveryQueue } from "../../src/store/delivery-queue-pg.js";
import { createTokenCipher } from "../../src/store/token-cipher.js";
import { deliveryAuditContract, deliveryQueueContract, registrationStoreContract, t } from "../support/contracts/store-contracts.js";
import { openDatabase } from "../../src/store/database.js";
import { freshTestDatabase, usingPostgres, type TestDatabase } from "../support/db.js";

// The store suite: runs against Postgres when DATABASE_URL is set and against the embedded PGlite
// otherwise (.ci/run does both). The port contracts (test/support/contracts/) are the same the in-memory
// fakes pass; what only a database does (tokens sealed at rest) is tested here.

let db: TestDatabase;
beforeAll(async () => {
  db = await freshTestDatabase();
});
afterAll(async () => {
  await db?.dispose();
});

let seq = 0;
const device = (over: Partial<NewRegistration> = {}): NewRegistration => {
  seq += 1;
  return {
    node: `sealed-node-${seq}`,
    app: "chat",
    ownerJid: `sealed${seq}@example.org`,
    deviceId: `sealed-device-${seq}`,
    channel: "",
    dialect: "p2",
    secretHash: "a".repeat(64),
    address: { provider: "apns", token: `apns-token-${seq}`, environment: "production", pushType: "alert" },
    ...over,
  };
};

const backend = usingPostgres() ? "postgres" : "embedded PGlite";
registrationStoreContract(backend, () => createPgRegistrationStore({ knex: db.knex, cipher: createTokenCipher(undefined) }));
deliveryAuditContract(backend, () => createPgDeliveryAudit({ knex: db.knex }));
deliveryQueueContract(backend, () => createPgDeliveryQueue({ knex: db.knex }));

describe("registration store at rest", () => {
  const store = () => createPgRegistrationStore({ knex: db.knex, cipher: createTokenCipher(undefined) });

  it("encrypts device tokens at rest when a key is configured", async () => {
    const key = Buffer.alloc(32, 7).toString("base64");
    const sealed = createPgRegistrationStore({ knex: db.knex, cipher: createTokenCipher(key) });
    const input = device({ address: { provider: "apns", token: "secret-device-token", voipToken: "secret-voip-token" } });
    await sealed.register(input, t(1));
    const raw = (await db.knex("registration_addresses").where({ node: input.node }).first()) as { token: string; voip_token: string };
    expect(raw.token).not.toContain("secret-device-token");
    expect(raw.voip_token).not.toContain("secret-voip-token");
    const found = await sealed.findByToken("apns", "secret-device-token");
    expect(found[0]?.addresses[0]).toMatchObject({ token: "secret-device-token", voipToken: "secret-voip-token" });
    // Without the key the row is unreadable: unknown, not an error that fails every lookup.
    expect(await store().findByNode(input.node)).toBeUndefined();
  });
});

describe("registration reads beside a transaction", () => {
  const store = () => createPgRegistrationStore({ knex: db.knex, cipher: createTokenCipher(undefined) });

  // The batched read runs outside knex's query builder, on a connection of knex's pool. On the embedded
  // database that pool is one connection: a read sent on it directly while a transaction was open
  // would see, and could be answered from, rows the transaction then rolls back.
  it("never sees a registration of a transaction that is still open or rolled back", async () => {
    const input = device();
    const trx = await db.knex.transaction();
    await createPgRegistrationStore({ knex: trx, cipher: createTokenCipher(undefined) }).register(input, t(1));
    const duringTransaction = store().findByNodes([input.node]);
    await trx.rollback();
    expect((await duringTransaction).size).toBe(0);
    expect((await store().findByNodes([input.node])).size).toBe(0);
    await store().register(input, t(2));
    expect((await store().findByNodes([input.node])).get(input.node)?.updatedAtMs).toEqual(t(2).getTime());
  });
});

describe("registration reads and connection poolers (database.preparedStatements)", () => {
  // PgBouncer's transaction pooling (before 1.21, or with max_prepared_statements = 0) hands each
  // statement to any server connection: a statement prepared on one is missing on the next. With the
  // setting off, the read leaves nothing on the connection; on, Postgres keeps it prepared (the
  // embedded database sends the text each time either way).
  it("leaves no prepared statement on the connection when off, and one on Postgres when on", async () => {
    const one = usingPostgres() ? await openDatabase({ url: db.location.url!, dataDir: "", poolMax: 1 }) : db;
    const protocolStatements = async () =>
      Number(
        ((await one.knex.raw("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE NOT from_sql")) as { rows: Array<{ n: number }> })
          .rows[0]!.n,
      );
    try {
      const input = device();
      const off = createPgRegistrationStore({ knex: one.knex, cipher: createTokenCipher(undefined), preparedStatements: false });
      await off.register(input, t(1));
      expect((await off.findByNodes([input.node])).get(input.node)?.deviceId).toBe(input.deviceId);
      expect(await protocolStatements()).toBe(0);
      const on = createPgRegistrationStore({ knex: one.knex, cipher: createTokenCipher(undefined) });
      expect((await on.findByNodes([input.node])).get(input.node)?.deviceId).toBe(input.deviceId);
      expect(await protocolStatements()).toBe(usingPostgres() ? 1 : 0);
    } finally {
      if (one !== db) await one.close();
    }
  });
});
