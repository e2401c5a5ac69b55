import { writeFileSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { DEFAULT_THIRD_PARTY_CHANNEL } from "../../src/config/jpush-config-schema.js";
import { createServer, type Server } from "../../src/main.js";
import type { Clock } from "../../src/ports/clock.js";
import { createPgDeliveryAudit } from "../../src/store/delivery-audit-pg.js";
import { p2Commands } from "../../src/dialects/p2/p2-commands.js";
import { cleanEnv, runCli } from "../support/cli.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { startFakeJpush, type FakeJpush } from "../support/fakes/fake-jpush.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { fakeApnsSection, JPUSH_APP_KEY, JPUSH_MASTER_SECRET, testConfig } from "../support/test-config.js";
import { waitFor } from "../support/wait-for.js";

// JPush depth through the whole pipeline (real database, fake JPush and APNs over HTTP): vendor-channel
// options as configured, apns_production from the registration, delivery receipts on the audit (and in
// the admin API and `xmpp-push audit`), and the confirm fallback.

let db: TestDatabase;
let jpush: FakeJpush;
let apns: FakeApns;
const servers: Server[] = [];

beforeAll(async () => {
  db = await freshTestDatabase();
  jpush = await startFakeJpush({ appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET });
  apns = await startFakeApns();
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  jpush.reset();
  apns.reset();
  await db.knex("delivery_jobs").del();
});
afterAll(async () => {
  await jpush?.stop();
  await apns?.stop();
  await db?.dispose();
});

/** A clock the test moves forward, so the receipt window passes without waiting for it. */
function manualClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return { now: () => new Date(Date.now() + offset), advance: (ms) => void (offset += ms) };
}

function jpushApp(over: Record<string, unknown> = {}, jpushOver: Record<string, unknown> = {}) {
  return {
    id: "chat",
    strategy: { providers: ["jpush"], mode: "fallback" },
    jpush: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, baseUrl: jpush.url, reportBaseUrl: `${jpush.url}/v3`, ...jpushOver },
    ...over,
  };
}

const apnsSection = (defaultEnvironment: "sandbox" | "production") => fakeApnsSection(apns, { defaultEnvironment });

async function start(app: Record<string, unknown>, clock?: Clock, http = false): Promise<Server> {
  const server = await createServer(
    testConfig({
      delivery: { auditFlushMs: 5, retryBaseMs: 50, retryMaxMs: 100 },
      ...(http ? { http: { port: 0, adminToken: "admin-token-0123456789abcdef" } } : {}),
      apps: [app],
    }),
    { log: recordingLogger().log, db, ...(clock ? { clock } : {}) },
  );
  servers.push(server);
  return server;
}

let seq = 0;
async function device(server: Server, kinds: ReadonlyArray<"jpush" | "apns">, environment?: "sandbox" | "production") {
  seq += 1;
  let node = "";
  let secret = "";
  const owner = `user${seq}@localhost`;
  const tokens: Partial<Record<"jpush" | "apns", string>> = {};
  for (const provider of kinds) {
    const token = provider === "jpush" ? `1a0018970a8a2b0c${seq}` : seq.toString(16).padStart(64, "0");
    tokens[provider] = token;
    const r = await server.registrations.register({
      ownerJid: owner,
      app: "chat",
      deviceId: "phone",
      dialect: "p2",
      provider,
      token,
      withSecret: true,
      ...(environment !== undefined ? { environment } : {}),
    });
    if (!r.ok) throw new Error(r.message);
    node = r.registration.node;
    secret = r.secret ?? secret;
  }
  const publish = () =>
    server.publish.publish({
      fromDomain: "localhost",
      node,
      options: new Map([["secret", secret]]),
      notification: { priority: "high", call: false, lastMessageBody: "New Message!" },
    });
  const audit = async () => {
    await server.writes.flush();
    return [...(await createPgDeliveryAudit({ knex: db.knex }).list({ node, limit: 20 }))].reverse();
  };
  return { node, owner, tokens, publish, audit };
}

interface SentOptions {
  readonly apns_production: boolean;
  readonly time_to_live: number;
  readonly classification?: number;
  readonly third_party_channel?: unknown;
}
const sentOptions = (i = 0) => (jpush.delivered()[i]?.body as { options: SentOptions }).options;

describe("vendor channels", () => {
  it("sends third_party_channel, classification and the time-to-live cap exactly as the app configures them", async () => {
    const thirdPartyChannel = {
      xiaomi: { channel_id: "chat_messages", distribution: "first_ospush" },
      oppo: { channel_id: "chat", category: "IM", notify_level: 16 },
      vivo: { classification: 1, category: "IM", push_mode: 0 },
      huawei: { importance: "NORMAL", category: "IM", urgency: "HIGH" },
    };
    const server = await start(jpushApp({}, { thirdPartyChannel, classification: 1, timeToLiveSeconds: 120 }));
    const d = await device(server, ["jpush"]);
    expect(await d.publish()).toBe("delivered");
    const options = sentOptions();
    expect(options.third_party_channel).toEqual(thirdPartyChannel);
    expect(options.classification).toBe(1);
    expect(options.time_to_live).toBeGreaterThan(0);
    expect(options.time_to_live).toBeLessThanOrEqual(120);
  });

  it("marks pushes as IM/system messages by default, where the vendor lets the server say so", async () => {
    const server = await start(jpushApp());
    const d = await device(server, ["jpush"]);
    expect(await d.publish()).toBe("delivered");
    expect(sentOptions().third_party_channel).toEqual(DEFAULT_THIRD_PARTY_CHANNEL);
    expect(sentOptions().third_party_channel).toMatchObject({
      vivo: { classification: 1, category: "IM" },
      huawei: { importance: "NORMAL" },
    });
    expect(sentOptions().classification).toBe(1);
  });
});

describe("environment per registration", () => {
  it("follows the registration's environment, and the app's APNs default when it names none", async () => {
    const server = await start(jpushApp({ apns: apnsSection("sandbox") }));
    const unnamed = await device(server, ["jpush"]);
    const production = await device(server, ["jpush"], "production");
    expect(await unnamed.publish()).toBe("delivered");
    expect(await production.publish()).toBe("delivered");
    expect(sentOptions(0).apns_production).toBe(false);
    expect(sentOptions(1).apns_production).toBe(true);
    expect((await unnamed.audit())[0]?.provider).toBe("jpush");
  });

  it("advertises the environment field in the p2 JPush registration form", async () => {
    const server = await start(jpushApp());
    const form = p2Commands({ registrations: server.registrations, componentJid: "push.localhost" }).find(
      (c) => c.node === "register-push-jpush",
    )!;
    expect(form.formFields?.().map((f) => f.var)).toContain("environment");
  });
});

describe("delivery receipts", () => {
  const receiptsOn = (windowSeconds = 600) => jpushApp({}, { receipts: { enabled: true, windowSeconds, pollSeconds: 3600 } });

  it("records a receipt JPush reports on the push's audit row, with the channel, and shows it in the admin API", async () => {
    const server = await start(receiptsOn(), undefined, true);
    const base = await server.http.listen();
    jpush.setDefaultReceipt({ received: true, channel: "vendor", delayMs: 0 });
    const d = await device(server, ["jpush"]);
    expect(await d.publish()).toBe("delivered");
    expect((await d.audit())[0]).toMatchObject({ provider: "jpush", outcome: "delivered", receipt: "pending" });

    await server.receipts.poller.pollNow("chat");
    const [row] = await d.audit();
    expect(row).toMatchObject({ receipt: "received", receiptChannel: "vendor" });
    expect(row?.receiptAt).toBeInstanceOf(Date);
    // One batched Report API call named the push's msg_id.
    expect(jpush.reportRequests()).toHaveLength(1);
    expect(jpush.reportRequests()[0]?.path).toContain(`msg_ids=${row?.messageId}`);

    const res = await fetch(`${base}/v1/deliveries?node=${d.node}`, { headers: { authorization: "Bearer admin-token-0123456789abcdef" } });
    const body = (await res.json()) as { deliveries: Array<Record<string, unknown>> };
    expect(body.deliveries[0]).toMatchObject({ provider: "jpush", receipt: "received", receiptChannel: "vendor" });

    const counted = (await server.metrics.jpushReceipts.get()).values.find(
      (v) => v.labels.result === "received" && v.labels.app === "chat",
    );
    expect(counted?.value).toBe(1);
  });

  it("keeps a delayed receipt pending until JPush reports it; after the window, JPush's per-device verdict decides", async () => {
    const clock = manualClock();
    const server = await start(receiptsOn(60), clock);
    const [late, never, moved] = [await device(server, ["jpush"]), await device(server, ["jpush"]), await device(server, ["jpush"])];
    for (const d of [late, never, moved]) expect(await d.publish()).toBe("delivered");
    const receipts = async () => Promise.all([late, never, moved].map(async (d) => (await d.audit())[0]?.receipt));
    expect(await receipts()).toEqual(["pending", "pending", "pending"]);
    await server.receipts.poller.pollNow("chat");
    expect(await receipts()).toEqual(["pending", "pending", "pending"]);
    // The late one arrives now, through APNs; the next round records it.
    const [lateRow] = await late.audit();
    jpush.setReceipt(lateRow!.messageId!, { received: true, channel: "apns" });
    await server.receipts.poller.pollNow("chat");
    const [row] = await late.audit();
    expect(row).toMatchObject({ receipt: "received", receiptChannel: "apns" });

    // The device moved to a new JPush registration id before the window ended: the old message did
    // not target it, and JPush cannot say; the other never arrived.
    const r = await server.registrations.register({
      ownerJid: moved.owner,
      app: "chat",
      deviceId: "phone",
      dialect: "p2",
      provider: "jpush",
      token: "1a0018970a8a2b0cnew",
      withSecret: true,
    });
    expect(r.ok && r.registration.node).toBe(moved.node);
    clock.advance(61_000);
    await server.receipts.poller.pollNow("chat");
    expect(await receipts()).toEqual(["received", "not_received", "unconfirmed"]);
    const counted = Object.fromEntries((await server.metrics.jpushReceipts.get()).values.map((v) => [v.labels.result, v.value]));
    expect(counted).toEqual({ received: 1, not_received: 1, unconfirmed: 1 });
    // One per-device verdict call per settled row, carrying the push's exact msg_id.
    const verdicts = jpush.reportRequests().filter((q) => q.path === "/v3/status/message");
    expect(verdicts).toHaveLength(2);
    expect(verdicts.map((q) => JSON.stringify(q.body))).toEqual(expect.arrayContaining([expect.stringContaining(never.tokens.jpush!)]));
  });

  it("waits for the Report API's rate-limit window before asking again", async () => {
    const server = await start(receiptsOn());
    const d = await device(server, ["jpush"]);
    expect(await d.publish()).toBe("delivered");
    expect((await d.audit())[0]?.receipt).toBe("pending");
    jpush.scriptReport(() => ({ httpStatus: 429, code: 2002, rateLimitReset: 60, rateLimitRemaining: 0 }));
    await server.receipts.poller.pollNow("chat");
    expect(jpush.reportRequests()).toHaveLength(1);
    jpush.scriptReport(undefined);
    jpush.setDefaultReceipt({ received: true });
    await server.receipts.poller.pollNow("chat");
    // Still inside JPush's 60 s window: no second call, the row stays pending.
    expect(jpush.reportRequests()).toHaveLength(1);
    expect((await d.audit())[0]?.receipt).toBe("pending");
  });
});

describe("confirm fallback (strategy.confirmWithinSeconds)", () => {
  const chain = () =>
    jpushApp(
      { strategy: { providers: ["jpush", "apns"], mode: "fallback", confirmWithinSeconds: 1 }, apns: apnsSection("sandbox") },
      { receipts: { enabled: true, windowSeconds: 600, pollSeconds: 3600 } },
    );

  it("sends a push JPush does not confirm in time through APNs, once", async () => {
    const server = await start(chain());
    const d = await device(server, ["jpush", "apns"], "sandbox");
    expect(await d.publish()).toBe("delivered");
    expect(apns.delivered()).toHaveLength(0);
    await waitFor("the APNs fallback", () => apns.delivered().length === 1);
    const rows = await waitFor("both audit rows", async () => {
      const r = await d.audit();
      return r.length === 2 ? r : undefined;
    });
    expect(rows.map((r) => `${r.provider}:${r.outcome}`)).toEqual(["jpush:delivered", "apns:delivered"]);
    expect(rows[1]?.reason).toBe("jpush did not confirm within 1s");
    const fallbacks = (await server.metrics.confirmFallbacks.get()).values.find((v) => v.labels.result === "fallback");
    expect(fallbacks?.value).toBe(1);
    expect(jpush.delivered()).toHaveLength(1);
  });

  it("never sends a confirmed push again", async () => {
    const server = await start(chain());
    jpush.setDefaultReceipt({ received: true, channel: "apns" });
    const d = await device(server, ["jpush", "apns"], "sandbox");
    expect(await d.publish()).toBe("delivered");
    await waitFor("the confirmation", async () =>
      (await server.metrics.confirmFallbacks.get()).values.some((v) => v.labels.result === "confirmed" && v.value === 1),
    );
    expect(apns.delivered()).toHaveLength(0);
    const rows = await d.audit();
    expect(rows.map((r) => `${r.provider}:${r.outcome}:${r.receipt}`)).toEqual(["jpush:delivered:received"]);
  });
});

describe("xmpp-push audit and config check", () => {
  it("shows the receipt in `xmpp-push audit --node`", async () => {
    const own = await freshTestDatabase();
    try {
      const server = await createServer(testConfig({ delivery: { auditFlushMs: 5 }, apps: [receiptsApp()] }), {
        log: recordingLogger().log,
        db: own,
      });
      jpush.setDefaultReceipt({ received: true, channel: "vendor" });
      const r = await server.registrations.register({
        ownerJid: "cli@localhost",
        app: "chat",
        deviceId: "phone",
        dialect: "p2",
        provider: "jpush",
        token: "1a0018970a8a2b0c3d4",
        withSecret: true,
      });
      if (!r.ok) throw new Error(r.message);
      const node = r.registration.node;
      expect(
        await server.publish.publish({
          fromDomain: "localhost",
          node,
          options: new Map([["secret", r.secret!]]),
          notification: { priority: "high", call: false },
        }),
      ).toBe("delivered");
      await server.writes.flush();
      await server.receipts.poller.pollNow("chat");
      await server.stop();
      await own.close();
      const env = cleanEnv(own.location.url ? { DATABASE_URL: own.location.url } : { XMPP_PUSH_DATA_DIR: own.location.dataDir });
      const out = await runCli(["audit", "--node", node], { env });
      expect(out.code).toBe(0);
      expect(out.output).toMatch(/\breceipt\b/);
      expect(out.output).toMatch(/jpush\s+delivered.*received \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* via vendor/);
    } finally {
      await own.dispose();
    }
  });

  it("refuses a vendor block with an unknown key or a wrong type, naming its path, with exit code 2", async () => {
    const dir = mkdtempSync(join(inject("testRunDir"), "jpush-"));
    const file = join(dir, "push.yaml");
    writeFileSync(
      file,
      [
        "apps:",
        "  - id: chat",
        "    jpush:",
        `      appKey: ${JPUSH_APP_KEY}`,
        `      masterSecret: ${JPUSH_MASTER_SECRET}`,
        "      thirdPartyChannel:",
        "        xiaomi: { channel_id: chat, chanel: typo }",
        "        vivo: { classification: high }",
        "        samsung: { distribution: ospush }",
      ].join("\n"),
    );
    const { code, output } = await runCli(["--config", file, "config", "check"]);
    expect(code).toBe(2);
    expect(output).toMatch(/apps\[0\]\.jpush\.thirdPartyChannel\.xiaomi.*chanel/);
    expect(output).toMatch(/apps\[0\]\.jpush\.thirdPartyChannel\.vivo\.classification/);
    expect(output).toMatch(/apps\[0\]\.jpush\.thirdPartyChannel.*samsung/);
    expect(output).not.toMatch(/\n\s+at /);
  });
});

function receiptsApp() {
  return jpushApp({}, { receipts: { enabled: true, windowSeconds: 600, pollSeconds: 3600 } });
}
