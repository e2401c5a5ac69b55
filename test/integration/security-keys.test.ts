import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config/load-config.js";
import type { Notification } from "../../src/domain/notification.js";
import { createServer } from "../../src/main.js";
import { createTokenCipher, tokenKeyId } from "../../src/store/token-cipher.js";
import { rotateTokenKey } from "../../src/store/token-rotation.js";
import { cleanEnv, runCli } from "../support/cli.js";
import { freshTestDatabase } from "../support/db.js";
import { databaseWithServers } from "../support/database-with-servers.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { scriptedProviders } from "../support/scripted-provider.js";
import { chatApp, testConfig } from "../support/test-config.js";

// The token-encryption key (issue 11 item 4): a wrong or lost key stops the start with a clear error
// instead of publishes that answer `wait` forever; one unreadable row costs only its own device; keys
// rotate with `xmpp-push rotate-key` while old and new are both accepted; today's rows stay readable.

const K1 = randomBytes(32).toString("base64");
const K2 = randomBytes(32).toString("base64");
const msg: Notification = { priority: "high", call: false, messageCount: 1 };
const hex = (tag: string) => `${Buffer.from(tag).toString("hex")}${randomBytes(32).toString("hex")}`.slice(0, 64);

const ctx = databaseWithServers(async (db) => {
  // Each test starts from a database no key has touched.
  await db.knex.raw("TRUNCATE registrations, registration_addresses, delivery_jobs");
  await db.knex("server_settings").where({ name: "token-key-canary" }).del();
});
const servers = ctx.servers;

async function start(keys: { key?: string; previous?: string }) {
  const providers = scriptedProviders();
  const { log, lines } = recordingLogger();
  const config = testConfig({
    delivery: { syncDeadlineMs: 300, providerTimeoutMs: 200, auditFlushMs: 5 },
    apps: [chatApp({ strategy: { providers: ["apns"], mode: "fallback" } })],
    ...(keys.key !== undefined ? { tokenEncryptionKey: keys.key } : {}),
    ...(keys.previous !== undefined ? { tokenEncryptionPreviousKey: keys.previous } : {}),
  });
  const server = await createServer(config, { log, db: ctx.db(), providerFactories: [providers.factory] });
  servers.push(server);
  const register = async (deviceId: string, token = hex(deviceId)) => {
    const r = await server.registrations.register({
      ownerJid: "alice@localhost",
      deviceId,
      dialect: "p2",
      provider: "apns",
      token,
      withSecret: true,
    });
    if (!r.ok) throw new Error(r.message);
    return { node: r.registration.node, secret: r.secret! };
  };
  const publish = (d: { node: string; secret: string }) =>
    server.publish.publish({ fromDomain: "localhost", node: d.node, options: new Map([["secret", d.secret]]), notification: msg });
  const stop = async () => {
    servers.splice(servers.indexOf(server), 1);
    await server.stop();
  };
  return { server, providers, register, publish, stop, logLines: lines };
}

const startFails = (keys: { key?: string; previous?: string }) =>
  start(keys).then(
    () => undefined,
    (err: unknown) => err,
  );

describe("a wrong or lost key (canary at start)", () => {
  it("refuses to start with another key or with none, naming key ids only; starts again with the right one", async () => {
    const first = await start({ key: K1 });
    const device = await first.register("canary-phone");
    await first.stop();

    const wrong = await startFails({ key: K2 });
    expect(wrong).toBeInstanceOf(ConfigError);
    expect(String(wrong)).toMatch(
      new RegExp(
        `tokenEncryptionKey: .*sealed with token key ${tokenKeyId(K1)}, which is not configured \\(configured: ${tokenKeyId(K2)}\\)`,
      ),
    );
    expect(String(wrong)).not.toContain(K1);
    expect(String(wrong)).not.toContain(K2);
    const lost = await startFails({});
    expect(String(lost)).toMatch(/no tokenEncryptionKey is configured/);

    const again = await start({ key: K1 });
    expect(await again.publish(device)).toBe("delivered");
  });

  it("checks a database encrypted before the canary existed (today's enc1 rows) by one of its rows", async () => {
    await ctx
      .db()
      .knex("registrations")
      .insert({ node: "legacy-1", app: "chat", owner_jid: "alice@localhost", device_id: "legacy", channel: "", dialect: "p2" });
    await ctx
      .db()
      .knex("registration_addresses")
      .insert({ node: "legacy-1", provider: "apns", token: legacySeal(K1, hex("legacy")), token_hash: "x", environment: "production" });
    expect(String(await startFails({ key: K2 }))).toMatch(/none of the configured token keys opens it/);
    const ok = await start({ key: K1 });
    expect((await ok.server.registrationStore.findByNode("legacy-1"))?.addresses[0]?.token).toMatch(/^6c6567616379/); // "legacy" in hex
  });

  it("exits with status 2 and a clear message from the command line", async () => {
    const own = await freshTestDatabase();
    await own.close();
    try {
      const env = (extra: Record<string, string>) =>
        cleanEnv({ ...(own.location.url ? { DATABASE_URL: own.location.url } : { XMPP_PUSH_DATA_DIR: own.location.dataDir }), ...extra });
      const reg = await runCli(
        ["register", "--jid", "alice@localhost", "--device", "cli-phone", "--provider", "apns", "--token", "ab".repeat(32)],
        { env: env({ XMPP_PUSH_TOKEN_ENCRYPTION_KEY: K1 }) },
      );
      expect(reg.code).toBe(0);
      const node = /node (\S+)/.exec(reg.output)![1]!;

      const wrong = await runCli(["send-test", "--node", node], { env: env({ XMPP_PUSH_TOKEN_ENCRYPTION_KEY: K2 }) });
      expect(wrong.code).toBe(2);
      expect(wrong.output).toMatch(/tokenEncryptionKey: the database's device tokens cannot be decrypted/);

      const rotate = await runCli(["rotate-key"], {
        env: env({ XMPP_PUSH_TOKEN_ENCRYPTION_KEY: K2, XMPP_PUSH_TOKEN_ENCRYPTION_PREVIOUS_KEY: K1 }),
      });
      expect(rotate.code).toBe(0);
      expect(rotate.output).toMatch(new RegExp(`rewrote 1 device token row\\(s\\) with key ${tokenKeyId(K2)}`));
      expect(rotate.output).toMatch(/rotation complete/);

      const after = await runCli(["send-test", "--node", node], { env: env({ XMPP_PUSH_TOKEN_ENCRYPTION_KEY: K2 }) });
      expect(after.code).toBe(0);
      expect(after.output).toMatch(/outcome: delivered/);
      expect((await runCli(["send-test", "--node", node], { env: env({ XMPP_PUSH_TOKEN_ENCRYPTION_KEY: K1 }) })).code).toBe(2);
    } finally {
      await own.dispose();
    }
  }, 240_000); // five commands, each its own process on the database (about 10 s each on a busy 2-core machine)
});

describe("one unreadable row", () => {
  it("costs only its own device: reported, unknown, the rest of the batch delivered", async () => {
    const t = await start({ key: K1 });
    const healthy = await Promise.all(["h1", "h2", "h3"].map((d) => t.register(d)));
    const broken = await t.register("broken");
    // The row as another key sealed it (a restore from another installation, a damaged row).
    await ctx
      .db()
      .knex("registration_addresses")
      .where({ node: broken.node })
      .update({ token: createTokenCipher(K2).seal(hex("broken")) });
    const outcomes = await Promise.all([...healthy, broken].map((d) => t.publish(d)));
    expect(outcomes).toEqual(["delivered", "delivered", "delivered", "unknown-node"]);
    const report = t
      .logLines()
      .find((l) => l.msg === "a device token cannot be decrypted; the device is treated as unknown until it registers again");
    expect(report).toMatchObject({ level: "error", node: broken.node, provider: "apns" });
    expect(String(report?.reason)).toContain(tokenKeyId(K2));

    const batch = await t.server.registrationStore.findByNodes([...healthy, broken].map((d) => d.node));
    expect([...batch.keys()].sort()).toEqual(healthy.map((d) => d.node).sort());
  });

  it("is replaced when the device registers again (no 500), and the device works again", async () => {
    const t = await start({ key: K1 });
    const before = await t.register("again");
    await ctx
      .db()
      .knex("registration_addresses")
      .where({ node: before.node })
      .update({ token: createTokenCipher(K2).seal(hex("again")) });
    const after = await t.register("again", hex("again-new"));
    expect(after.node).toBe(before.node);
    expect(await t.publish(after)).toBe("delivered");
  });
});

describe("rotate-key", () => {
  it("accepts old and new key while rotating, rewrites every row in bounded batches, then needs only the new key", async () => {
    const old = await start({ key: K1 });
    const devices = await Promise.all(["r1", "r2", "r3", "r4", "r5"].map((d) => old.register(d)));
    await ctx
      .db()
      .knex("registration_addresses")
      .where({ node: devices[4]!.node })
      .update({ token: legacySeal(K1, hex("r5")) }); // today's format
    await old.stop();

    const rotating = await start({ key: K2, previous: K1 });
    expect(rotating.logLines().some((l) => l.msg?.toString().startsWith("a token key rotation has not finished"))).toBe(true);
    expect(await rotating.publish(devices[0]!)).toBe("delivered"); // an old row, read with the previous key
    const fresh = await rotating.register("r6"); // a new row, sealed with the new key
    const batches: number[] = [];
    const result = await rotateTokenKey({
      knex: ctx.db().knex,
      cipher: createTokenCipher(K2, [K1]),
      batchSize: 2,
      onBatch: (n) => batches.push(n),
    });
    expect(result).toMatchObject({ rewritten: 5, unreadable: 0, batches: 3, complete: true });
    expect(batches).toEqual([2, 4, 5]);
    const stored = await ctx.db().knex("registration_addresses").pluck("token");
    expect(stored.every((t: string) => t.startsWith(`enc2:${tokenKeyId(K2)}:`))).toBe(true);
    await rotating.stop();

    const done = await start({ key: K2 });
    expect(await Promise.all([...devices, fresh].map((d) => done.publish(d)))).toEqual(Array(6).fill("delivered"));
    expect(String(await startFails({ key: K1 }))).toMatch(new RegExp(`sealed with token key ${tokenKeyId(K2)}`));
  });

  it("leaves rows no key opens, lists them, and keeps the canary on the previous key", async () => {
    const t = await start({ key: K1 });
    const lost = await t.register("lost");
    await t.register("kept");
    await ctx
      .db()
      .knex("registration_addresses")
      .where({ node: lost.node })
      .update({ token: createTokenCipher(randomBytes(32).toString("base64")).seal(hex("lost")) });
    await t.stop();
    const result = await rotateTokenKey({ knex: ctx.db().knex, cipher: createTokenCipher(K2, [K1]), batchSize: 100 });
    expect(result).toMatchObject({ rewritten: 1, unreadable: 1, unreadableNodes: [lost.node], complete: false });
    // Not complete: dropping the previous key now would be refused at start.
    expect(String(await startFails({ key: K2 }))).toMatch(new RegExp(`sealed with token key ${tokenKeyId(K1)}`));
  });
});

/** A token sealed the way releases before key ids did: "enc1:" + base64url(iv | tag | ciphertext). */
function legacySeal(base64Key: string, token: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(base64Key, "base64"), iv);
  const body = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
  return `enc1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url")}`;
}
