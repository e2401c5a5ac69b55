import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Notification } from "../../src/domain/notification.js";
import { createServer, type Server } from "../../src/main.js";
import type { Clock } from "../../src/ports/clock.js";
import { createPgDeliveryAudit } from "../../src/store/delivery-audit-pg.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { scriptedProviders, type ScriptedProviders } from "../support/scripted-provider.js";
import { chatApp, testConfig } from "../support/test-config.js";
import { waitFor } from "../support/wait-for.js";

// The delivery pipeline end to end below XMPP: registration service, publish service, dispatcher,
// write buffer, durable queue and worker, on the real database, with providers scripted per token.

let db: TestDatabase;
beforeAll(async () => {
  db = await freshTestDatabase();
});
afterAll(async () => {
  await db?.dispose();
});

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  // Each test starts with an empty queue: leftovers would be claimed by the next test's worker.
  await db.knex("delivery_jobs").del();
});

const msg: Notification = { priority: "high", call: false, messageCount: 1, lastMessageBody: "New Message!" };
let seq = 0;

async function setup(
  opts: { app?: Record<string, unknown>; config?: Record<string, unknown>; clock?: Clock; providers?: ScriptedProviders } = {},
) {
  const providers = opts.providers ?? scriptedProviders();
  const { log, text } = recordingLogger();
  const config = testConfig({
    domains: ["localhost", "example.net"],
    delivery: { syncDeadlineMs: 500, providerTimeoutMs: 300, retryBaseMs: 50, retryMaxMs: 200, auditFlushMs: 5 },
    apps: [chatApp(opts.app ?? {})],
    ...opts.config,
  });
  const server = await createServer(config, {
    log,
    db,
    providerFactories: [providers.factory],
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  servers.push(server);
  const register = async (tokens: { apns?: string; jpush?: string }, owner = "alice@localhost") => {
    seq += 1;
    const deviceId = `device-${seq}`;
    let node = "";
    let secret = "";
    for (const [provider, token] of Object.entries(tokens) as Array<["apns" | "jpush", string]>) {
      const r = await server.registrations.register({ ownerJid: owner, deviceId, dialect: "p2", provider, token, withSecret: true });
      if (!r.ok) throw new Error(r.message);
      node = r.registration.node;
      secret = r.secret!;
    }
    return { node, secret };
  };
  const publish = (node: string, secret: string | undefined, fromDomain = "localhost", notification = msg) =>
    server.publish.publish({ fromDomain, node, options: new Map(secret === undefined ? [] : [["secret", secret]]), notification });
  const audit = async (node: string) => {
    await server.writes.flush();
    return [...(await createPgDeliveryAudit({ knex: db.knex }).list({ node, limit: 50 }))].reverse();
  };
  const jobs = async (node: string) => {
    await server.writes.flush();
    return db.knex("delivery_jobs").where({ node });
  };
  return { server, providers, register, publish, audit, jobs, logText: text };
}

/** An APNs-shaped (hex) token carrying a keyword the scripted provider reacts to. */
const hex = (tag: string) => `${Buffer.from(tag).toString("hex")}${"0".repeat(64)}`.slice(0, 64);

describe("publish → provider", () => {
  it("delivers through the first provider and audits the attempt", async () => {
    const t = await setup();
    const { node, secret } = await t.register({ apns: hex("a1") });
    expect(await t.publish(node, secret)).toBe("delivered");
    expect(t.providers.delivered("apns")).toHaveLength(1);
    const sentTo = t.providers.sent[0]!.attempt;
    expect(sentTo.address.token).toBe(hex("a1"));
    // The app does not send message content, so the body never got past the publish.
    expect(sentTo.notification).toEqual({ priority: "high", call: false, messageCount: 1 });
    expect(sentTo.data.account).toMatch(/^[0-9a-f]{40}$/); // p2's sha1(jid \0 device)
    const rows = await t.audit(node);
    expect(rows).toMatchObject([{ provider: "apns", outcome: "delivered", status: 200, attempt: 1, environment: "production" }]);
    expect(await t.jobs(node)).toHaveLength(0);
  });

  it("refuses a wrong or missing secret, an unknown node, and another server's device, without calling a provider", async () => {
    const t = await setup();
    const { node, secret } = await t.register({ apns: hex("a2") });
    expect(await t.publish(node, `${secret}x`)).toBe("not-authorized");
    expect(await t.publish(node, undefined)).toBe("not-authorized");
    expect(await t.publish("no-such-node", secret)).toBe("unknown-node");
    expect(await t.publish(node, secret, "example.net")).toBe("unknown-node");
    expect(await t.publish(node, secret, "evil.example")).toBe("forbidden");
    expect(t.providers.sent).toHaveLength(0);
    expect(await t.audit(node)).toHaveLength(0);
  });

  it("falls back to JPush when APNs says the token is dead, and keeps the device on JPush", async () => {
    const t = await setup();
    const { node, secret } = await t.register({ apns: hex("dead"), jpush: "jpush-regid-1" });
    expect(await t.publish(node, secret)).toBe("delivered");
    expect((await t.audit(node)).map((r) => `${r.provider}:${r.outcome}`)).toEqual(["apns:token_dead", "jpush:delivered"]);
    const reg = await t.server.registrationStore.findByNode(node);
    expect(reg?.disabledAtMs).toBeUndefined();
    expect(reg?.addresses.find((a) => a.provider === "apns")?.disabledAtMs).toEqual(expect.any(Number));
    // The next push goes straight to JPush.
    expect(await t.publish(node, secret)).toBe("delivered");
    expect(t.providers.sent.filter((s) => s.kind === "apns")).toHaveLength(1);
  });

  it("falls back to JPush while APNs is down", async () => {
    const t = await setup();
    const { node, secret } = await t.register({ apns: hex("down"), jpush: "jpush-regid-2" });
    expect(await t.publish(node, secret)).toBe("delivered");
    expect((await t.audit(node)).map((r) => `${r.provider}:${r.outcome}`)).toEqual(["apns:retry", "jpush:delivered"]);
    expect(await t.jobs(node)).toHaveLength(0);
  });

  it("answers token-dead and disables the registration when its only token is dead", async () => {
    const t = await setup();
    const { node, secret } = await t.register({ apns: hex("dead2") });
    expect(await t.publish(node, secret)).toBe("token-dead");
    expect((await t.server.registrationStore.findByNode(node))?.disabledAtMs).toEqual(expect.any(Number));
    expect(await t.publish(node, secret)).toBe("unknown-node");
    expect(t.providers.sent).toHaveLength(1);
    expect(await t.server.metrics.registry.getSingleMetricAsString("xmpp_push_addresses_disabled_total")).toMatch(
      /\{app="chat",provider="apns"\} 1/,
    );
  });

  it("queues a push the provider cannot take now, and the worker delivers it later", async () => {
    const t = await setup();
    const { node, secret } = await t.register({ apns: hex("a3") });
    t.providers.setScript("apns", () => ({ class: "retry", status: 503, reason: "ServiceUnavailable" }));
    expect(await t.publish(node, secret)).toBe("queued");
    const [job] = await t.jobs(node);
    expect(job).toMatchObject({ attempts: 1, last_error: "ServiceUnavailable" });
    t.providers.setScript("apns", () => ({ class: "delivered", status: 200, messageId: "later" }));
    await waitFor(
      "the worker to retry the queued push",
      async () => (await t.server.worker.runOnce()) > 0 || (await t.jobs(node)).length === 0,
      10_000,
      20,
    );
    await waitFor("the job to leave the queue", async () => (await t.jobs(node)).length === 0, 10_000, 20);
    expect((await t.audit(node)).map((r) => `${r.outcome}#${r.attempt}`)).toEqual(["retry#1", "delivered#2"]);
    expect((await t.server.registrationStore.findByNode(node))?.disabledAtMs).toBeUndefined();
  });

  it("keeps every registration on a configuration error, opens the breaker and stops calling the provider", async () => {
    const t = await setup({ app: { strategy: { providers: ["apns"], mode: "fallback" } } });
    const a = await t.register({ apns: hex("c1") });
    const b = await t.register({ apns: hex("c2") });
    t.providers.setScript("apns", () => ({ class: "config_error", status: 403, reason: "InvalidProviderToken" }));
    expect(await t.publish(a.node, a.secret)).toBe("queued");
    expect(await t.publish(b.node, b.secret)).toBe("queued");
    expect(t.providers.sent).toHaveLength(1); // the second never left: circuit open
    expect((await t.audit(b.node)).map((r) => r.reason)).toEqual(["circuit-open"]);
    for (const n of [a.node, b.node]) expect((await t.server.registrationStore.findByNode(n))?.disabledAtMs).toBeUndefined();
    expect(await t.server.metrics.registry.getSingleMetricAsString("xmpp_push_circuit_open")).toMatch(
      /xmpp_push_circuit_open\{app="chat",provider="apns"\} 1/,
    );
    expect(t.logText()).toMatch(/apns rejects the credentials or setup of app chat \(InvalidProviderToken\)/);
  });

  it("keeps one pending push per node: a newer publish replaces the queued one", async () => {
    const t = await setup({ app: { strategy: { providers: ["apns"], mode: "fallback" } } });
    const { node, secret } = await t.register({ apns: hex("down3") });
    expect(await t.publish(node, secret)).toBe("queued");
    expect(await t.publish(node, secret, "localhost", { priority: "low", call: false })).toBe("queued");
    const rows = await t.jobs(node);
    expect(rows).toHaveLength(1);
    expect(rows[0].notification).toEqual({ priority: "low", call: false });
  });

  it("does not lose a push when the process dies between accepting it and delivering it", async () => {
    let now = Date.now();
    const clock: Clock = { now: () => new Date(now) };
    const first = await setup({ app: { strategy: { providers: ["apns"], mode: "fallback" } }, clock });
    const { node, secret } = await first.register({ apns: hex("a4") });
    first.providers.setScript("apns", () => "hang");
    // The provider never answers: the publish is acknowledged once the job is durable.
    expect(await first.publish(node, secret)).toBe("queued");
    await first.server.writes.flush();
    // "Crash": the first process is abandoned mid-attempt. A new one starts on the same database.
    servers.splice(servers.indexOf(first.server), 1);
    await first.server.worker.stop();
    now += 10_000;
    const second = await setup({ app: { strategy: { providers: ["apns"], mode: "fallback" } }, clock });
    await waitFor("the second server's worker to take the job", async () => (await second.server.worker.runOnce()) > 0, 10_000, 20);
    await waitFor("the push to be delivered", () => second.providers.delivered("apns").length === 1, 10_000, 20);
    expect(second.providers.delivered("apns")[0]!.attempt).toMatchObject({ node, attempt: 2 });
    await waitFor("the job to leave the queue", async () => (await second.jobs(node)).length === 0, 10_000, 20);
  });

  it("drops a queued push once it is older than the job TTL", async () => {
    let now = Date.now();
    const clock: Clock = { now: () => new Date(now) };
    const t = await setup({
      app: { strategy: { providers: ["apns"], mode: "fallback" } },
      clock,
      config: {
        delivery: { jobTtlSeconds: 60, syncDeadlineMs: 500, providerTimeoutMs: 300, retryBaseMs: 50, retryMaxMs: 200, auditFlushMs: 5 },
      },
    });
    const { node, secret } = await t.register({ apns: hex("down4") });
    expect(await t.publish(node, secret)).toBe("queued");
    await t.server.writes.flush();
    now += 61_000;
    await t.server.worker.runOnce();
    await waitFor("the job to leave the queue", async () => (await t.jobs(node)).length === 0, 10_000, 20);
    expect(await t.server.metrics.registry.getSingleMetricAsString("xmpp_push_jobs_expired_total")).toMatch(/app="chat"\} 1/);
  });

  it("sends through every address in mode all", async () => {
    const t = await setup({ app: { strategy: { providers: ["apns", "jpush"], mode: "all" } } });
    const { node, secret } = await t.register({ apns: hex("a5"), jpush: "jpush-regid-5" });
    expect(await t.publish(node, secret)).toBe("delivered");
    expect(
      t.providers
        .delivered()
        .map((s) => s.kind)
        .sort(),
    ).toEqual(["apns", "jpush"]);
  });

  it("holds pushes inside the per-node rate-limit window and sends the newest when it ends", async () => {
    const t = await setup({ config: { limits: { pushIntervalSeconds: 60 } } });
    const { node, secret } = await t.register({ apns: hex("a6") });
    expect(await t.publish(node, secret)).toBe("delivered");
    expect(await t.publish(node, secret)).toBe("coalesced");
    expect(await t.publish(node, secret)).toBe("coalesced");
    expect(t.providers.sent).toHaveLength(1);
    const rows = await t.jobs(node);
    expect(rows).toHaveLength(1);
    expect(new Date(rows[0].next_attempt_at).getTime()).toBeGreaterThan(Date.now() + 50_000);
  });

  it("answers overloaded beyond the in-flight limit", async () => {
    const t = await setup({ config: { delivery: { maxInFlight: 1, syncDeadlineMs: 200, providerTimeoutMs: 300, auditFlushMs: 5 } } });
    const { node, secret } = await t.register({ apns: hex("hang") });
    const first = t.publish(node, secret);
    expect(await t.publish(node, secret)).toBe("overloaded");
    expect(await first).toBe("queued");
  });
});

describe("registration limits", () => {
  it("refuses an account's device beyond the per-account cap, and still updates the devices it has", async () => {
    const t = await setup({ config: { limits: { devicesPerJid: 3 } } });
    const reg = (device: string) =>
      t.server.registrations.register({
        ownerJid: "capped@localhost",
        deviceId: device,
        dialect: "p2",
        provider: "apns",
        token: hex(device),
        withSecret: true,
      });
    for (const d of ["d1", "d2", "d3"]) expect((await reg(d)).ok).toBe(true);
    expect(await reg("d4")).toEqual({ ok: false, reason: "limit", message: "at most 3 devices per account" });
    expect((await reg("d2")).ok).toBe(true); // an existing device can always register again
    expect(await t.server.registrationStore.countByOwner("capped@localhost")).toBe(3);
  });

  it("refuses accounts of domains it does not serve", async () => {
    const t = await setup();
    const r = await t.server.registrations.register({
      ownerJid: "eve@evil.example",
      deviceId: "d",
      dialect: "p2",
      provider: "apns",
      token: hex("e"),
      withSecret: true,
    });
    expect(r).toMatchObject({ ok: false, reason: "domain" });
  });
});

describe("fpush: the node is the APNs token", () => {
  const fpushApp = { fpush: { modules: { monalProdiOS: "production", "monalProdiOS-sandbox": "sandbox" } } };

  it("delivers to the token in the module's environment, without a registration step", async () => {
    const t = await setup({ app: fpushApp });
    const token = hex("f1");
    const outcome = await t.server.publish.publish({
      fromDomain: "localhost",
      node: token,
      options: new Map([["pushModule", "monalProdiOS-sandbox"]]),
      notification: msg,
    });
    expect(outcome).toBe("delivered");
    expect(t.providers.sent[0]!.attempt.address).toMatchObject({ provider: "apns", token, environment: "sandbox" });
    const node = t.providers.sent[0]!.attempt.node;
    expect(node).not.toContain(token); // the audit and queue never hold the token itself
    expect((await t.audit(node)).map((r) => r.outcome)).toEqual(["delivered"]);
  });

  it("forgets a dead token and refuses its node from then on", async () => {
    const t = await setup({ app: fpushApp });
    const token = hex("dead7");
    const p = () =>
      t.server.publish.publish({
        fromDomain: "localhost",
        node: token,
        options: new Map([["pushModule", "monalProdiOS"]]),
        notification: msg,
      });
    expect(await p()).toBe("token-dead");
    expect(await p()).toBe("unknown-node");
  });

  it("registers through the registration service, but a server's devices are not capped like an account's", async () => {
    const t = await setup({ app: fpushApp, config: { limits: { devicesPerJid: 1 } } });
    const p = (tag: string) =>
      t.server.publish.publish({
        fromDomain: "localhost",
        node: hex(tag),
        options: new Map([["pushModule", "monalProdiOS"]]),
        notification: msg,
      });
    expect([await p("fa"), await p("fb"), await p("fc")]).toEqual(["delivered", "delivered", "delivered"]);
    const reg = await t.server.registrationStore.findByNode(t.providers.sent[2]!.attempt.node);
    expect(reg).toMatchObject({ dialect: "fpush", ownerJid: "localhost" });
    expect(reg?.secretHash).toBeUndefined();
  });

  it("is told not-authorized by an app that requires publish secrets", async () => {
    const t = await setup({ app: { ...fpushApp, requireSecret: true } });
    const outcome = await t.server.publish.publish({
      fromDomain: "localhost",
      node: hex("f3"),
      options: new Map([["pushModule", "monalProdiOS"]]),
      notification: msg,
    });
    expect(outcome).toBe("not-authorized");
    expect(t.providers.sent).toEqual([]);
  });

  it("is off unless an app configures it", async () => {
    const t = await setup();
    const outcome = await t.server.publish.publish({
      fromDomain: "localhost",
      node: hex("f2"),
      options: new Map([["pushModule", "monalProdiOS"]]),
      notification: msg,
    });
    expect(outcome).toBe("unknown-node");
  });
});
