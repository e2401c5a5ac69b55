// Heap bytes a registration costs while the registration cache keeps it (docs/operations.md, "Memory"):
// 20,000 registrations of the benchmark's kind (an APNs and a JPush address, pushed to before) are read
// through the Postgres store in batches, as cache misses are, and kept in a Map, as the cache keeps them.
// Reported per registration, from the heap after a full GC, three rounds.
//   npx tsx bench/cached-registration-bytes.ts       (DATABASE_URL: an admin connection, as for npm run bench)
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import pg from "pg";
import type { Registration } from "../src/domain/registration.js";
import { openDatabase } from "../src/store/database.js";
import { migrateLatest } from "../src/store/migrate.js";
import { createPgRegistrationStore } from "../src/store/registration-store-pg.js";
import { createTokenCipher } from "../src/store/token-cipher.js";
import { nodeOf, seedRegistrations } from "../test/support/seed.js";

const COUNT = 20_000;
const BATCH = 200;
const ROUNDS = 3;
const DB_NAME = "xmpp_push_bench_memory";
const ADMIN_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${DB_NAME}`);
const url = new URL(ADMIN_URL);
url.pathname = `/${DB_NAME}`;
const db = await openDatabase({ url: url.toString(), dataDir: "", poolMax: 2 });
try {
  await migrateLatest(db);
  await seedRegistrations(db.knex, COUNT, "bench");
  await db.knex.raw("UPDATE registrations SET last_push_at = now()");
  const store = createPgRegistrationStore({ knex: db.knex, cipher: createTokenCipher(undefined) });
  const nodes = Array.from({ length: COUNT }, (_, i) => nodeOf(i));
  // One function call per round: what a round kept is unreachable before the next one measures.
  const round = async (): Promise<number> => {
    const kept = new Map<string, Registration>();
    const before = heapAfterGc();
    for (let i = 0; i < COUNT; i += BATCH) {
      for (const [node, reg] of await store.findByNodes(nodes.slice(i, i + BATCH))) kept.set(node, reg);
    }
    if (kept.size !== COUNT) throw new Error(`read ${kept.size} of ${COUNT} registrations`);
    return Math.round((heapAfterGc() - before) / kept.size);
  };
  const perRegistration: number[] = [];
  for (let i = 0; i < ROUNDS; i++) perRegistration.push(await round());
  process.stdout.write(
    `heap bytes per cached registration (${COUNT.toLocaleString("en")}, ${ROUNDS} rounds): ${perRegistration.join(", ")}\n`,
  );
} finally {
  await db.close();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.end();
}
