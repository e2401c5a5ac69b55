import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as dropPublishSecretKey from "../../migrations/20261129000100_keys_drop_publish_secret_key.js";
import type { Notification } from "../../src/domain/notification.js";
import { hashSecret, tokenFingerprint } from "../../src/domain/secret.js";
import { createServer, type Server } from "../../src/main.js";
import { openDatabase } from "../../src/store/database.js";
import { migrateLatest } from "../../src/store/migrate.js";
import { databaseWithServers } from "../support/database-with-servers.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { scriptedProviders } from "../support/scripted-provider.js";
import { chatApp, testConfig } from "../support/test-config.js";
import { withCharChanged } from "../support/tamper.js";

// What the database and the logs hold (issue 11 items 5, 9, 10 and 16): the embedded database's files
// are the server user's alone, no publish secret can be read or recomputed from the database, message
// content an app never sends is never stored, and a dead-token log line names the token by its
// fingerprint, never by itself.

const ctx = databaseWithServers(async (db) => {
  await db.knex("delivery_jobs").del();
});
const servers = ctx.servers;

async function setup(app: Record<string, unknown> = {}) {
  const providers = scriptedProviders();
  const { log, text, lines } = recordingLogger();
  const config = testConfig({ delivery: { syncDeadlineMs: 300, providerTimeoutMs: 200, auditFlushMs: 5 }, apps: [chatApp(app)] });
  const server = await createServer(config, { log, db: ctx.db(), providerFactories: [providers.factory] });
  servers.push(server);
  return { server, providers, logText: text, logLines: lines };
}

const hex = (tag: string) => `${Buffer.from(tag).toString("hex")}${randomBytes(32).toString("hex")}`.slice(0, 64);
const publish = (server: Server, node: string, secret: string | undefined, notification: Notification) =>
  server.publish.publish({
    fromDomain: "localhost",
    node,
    options: new Map(secret === undefined ? [] : [["secret", secret]]),
    notification,
  });
const withContent: Notification = {
  priority: "high",
  call: false,
  messageCount: 1,
  lastMessageSender: "bob@localhost/phone",
  lastMessageBody: "meet me at 6",
};

describe("publish secrets (item 9)", () => {
  it("keeps no key in the database and stores only a hash of a random secret", async () => {
    const { server } = await setup();
    const r = await server.registrations.register({
      ownerJid: "alice@localhost",
      deviceId: "d9a",
      dialect: "p2",
      provider: "apns",
      token: hex("a"),
      withSecret: true,
    });
    if (!r.ok) throw new Error(r.message);
    expect(await ctx.db().knex("server_settings").where({ name: "publish-secret-key" })).toHaveLength(0);
    const dump = JSON.stringify(await ctx.db().knex.raw("SELECT * FROM registrations r JOIN registration_addresses a USING (node)"));
    expect(dump).not.toContain(r.secret!);
    expect(dump).toContain(hashSecret(r.secret!));
    expect(await publish(server, r.registration.node, r.secret, withContent)).toBe("delivered");
  });

  it("never hands a reused client-chosen node its earlier secret, and the earlier secret stops working", async () => {
    const { server } = await setup();
    const node = `static-device-${randomBytes(4).toString("hex")}`;
    const reg = () =>
      server.registrations.register({
        ownerJid: "alice@localhost",
        deviceId: node,
        node,
        dialect: "appserver",
        provider: "apns",
        token: hex("b"),
        withSecret: true,
      });
    const first = await reg();
    if (!first.ok) throw new Error(first.message);
    expect(await server.registrations.unregister({ ownerJid: "alice@localhost", deviceId: node })).toBe(true);
    const second = await reg();
    if (!second.ok) throw new Error(second.message);
    expect(second.registration.node).toBe(node);
    expect(second.secret).not.toBe(first.secret);
    expect(await publish(server, node, first.secret, withContent)).toBe("not-authorized");
    expect(await publish(server, node, second.secret, withContent)).toBe("delivered");
  });

  it("keeps registrations made before the upgrade working with the secrets their servers hold", async () => {
    // Before: secret = HMAC(publish-secret-key, node), its sha256 stored; the key sat in server_settings.
    const key = randomBytes(32);
    const node = `old-${randomBytes(4).toString("hex")}`;
    const oldSecret = createHmac("sha256", key).update(`xmpp-push publish secret\u0000${node}`).digest("base64url").slice(0, 32);
    await ctx
      .db()
      .knex("server_settings")
      .insert({ name: "publish-secret-key", value: key.toString("base64") })
      .onConflict("name")
      .merge();
    await ctx
      .db()
      .knex("registrations")
      .insert({
        node,
        app: "chat",
        owner_jid: "carol@localhost",
        device_id: "old-phone",
        channel: "",
        dialect: "p2",
        secret_hash: hashSecret(oldSecret),
      });
    await ctx
      .db()
      .knex("registration_addresses")
      .insert({ node, provider: "apns", token: hex("c"), token_hash: hex("c"), environment: "production" });
    await dropPublishSecretKey.up(ctx.db().knex);
    expect(await ctx.db().knex("server_settings").where({ name: "publish-secret-key" })).toHaveLength(0);
    const { server } = await setup();
    expect(await publish(server, node, oldSecret, withContent)).toBe("delivered");
    expect(await publish(server, node, withCharChanged(oldSecret, 1), withContent)).toBe("not-authorized");
  });
});

describe("message content in the queue (item 10)", () => {
  const queuedNotification = async (app: Record<string, unknown>) => {
    const { server } = await setup(app);
    const r = await server.registrations.register({
      ownerJid: "alice@localhost",
      deviceId: `d10-${randomBytes(3).toString("hex")}`,
      dialect: "p2",
      provider: "apns",
      token: hex("down"),
      withSecret: true,
    });
    if (!r.ok) throw new Error(r.message);
    expect(await publish(server, r.registration.node, r.secret, withContent)).toBe("queued"); // APNs 503: the job stays
    await server.writes.flush();
    const [job] = await ctx.db().knex("delivery_jobs").where({ node: r.registration.node });
    return JSON.stringify(job.notification);
  };

  it("stores neither sender nor body for an app that does not send message content", async () => {
    const stored = await queuedNotification({ strategy: { providers: ["apns"], mode: "fallback" } });
    expect(stored).not.toContain("meet me at 6");
    expect(stored).not.toContain("bob@localhost");
    expect(JSON.parse(stored)).toMatchObject({ priority: "high", messageCount: 1 });
  });

  it("keeps them for an app that sends message content", async () => {
    const stored = await queuedNotification({ strategy: { providers: ["apns"], mode: "fallback" }, includeMessageContent: true });
    expect(JSON.parse(stored)).toMatchObject({ lastMessageBody: "meet me at 6", lastMessageSender: "bob@localhost/phone" });
  });
});

describe("the dead-token log line (item 16)", () => {
  it("shows operators the token's fingerprint under tokenFp, never the token", async () => {
    const { server, logText, logLines } = await setup({ strategy: { providers: ["apns"], mode: "fallback" } });
    const token = hex("dead");
    const r = await server.registrations.register({
      ownerJid: "alice@localhost",
      deviceId: "d16",
      dialect: "p2",
      provider: "apns",
      token,
      withSecret: true,
    });
    if (!r.ok) throw new Error(r.message);
    expect(await publish(server, r.registration.node, r.secret, withContent)).toBe("token-dead");
    const line = logLines().find((l) => l.msg === "provider reports the device token dead; address disabled");
    expect(line).toMatchObject({ node: r.registration.node, tokenFp: tokenFingerprint(token) });
    expect(logText()).not.toContain(token);
    expect(logText()).not.toContain(r.secret!);
  });
});

describe("the embedded database's files (item 5)", () => {
  /** Paths under dir (dir included) that group or others may read, write or enter. */
  const open = (dir: string) =>
    [dir, ...readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath, e.name))].filter(
      (p) => (lstatSync(p).mode & 0o077) !== 0,
    );
  const count = (dir: string) => readdirSync(dir, { recursive: true }).length;

  it("are owner-only under umask 022, also after writes, and a world-readable directory from before is locked down", async () => {
    const umaskBefore = process.umask(0o022);
    const root = mkdtempSync(join(tmpdir(), "xp-at-rest-"));
    try {
      const dataDir = join(root, "data");
      const first = await openDatabase({ dataDir, poolMax: 1 });
      await migrateLatest(first);
      await first
        .knex("registrations")
        .insert({ node: "n5", app: "chat", owner_jid: "alice@localhost", device_id: "d5", channel: "", dialect: "p2" });
      await first.knex.raw("CHECKPOINT");
      expect(lstatSync(dataDir).mode & 0o777).toBe(0o700);
      expect(open(dataDir)).toEqual([]);
      await first.close();
      expect(open(dataDir)).toEqual([]);
      const files = count(dataDir);

      // A directory left by an earlier version: everything readable and writable by anyone.
      for (const p of [dataDir, ...readdirSync(dataDir, { recursive: true }).map((n) => join(dataDir, String(n)))]) {
        chmodSync(p, lstatSync(p).isDirectory() ? 0o777 : 0o666);
      }
      const again = await openDatabase({ dataDir, poolMax: 1 });
      expect(await again.knex("registrations").where({ node: "n5" })).toHaveLength(1);
      expect(open(dataDir)).toEqual([]);
      await again.close();
      // The umask is the process's own again once no embedded database is open.
      expect(process.umask(0o022)).toBe(0o022);
      console.log(`[at-rest] embedded database: ${files} files and directories, none open to group or others`);
    } finally {
      process.umask(umaskBefore);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
