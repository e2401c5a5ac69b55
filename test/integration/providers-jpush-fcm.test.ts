import { generateKeyPairSync } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { FcmConfig, JpushConfig } from "../../src/config/config-schema.js";
import type { DeliveryOutcome } from "../../src/domain/delivery-outcome.js";
import type { PushAttempt, PushProvider } from "../../src/ports/push-provider.js";
import { createFcmProvider } from "../../src/providers/fcm/fcm-provider.js";
import { fcmFactory, jpushFactory } from "../../src/providers/provider-factories.js";
import { createJpushProvider } from "../../src/providers/jpush/jpush-provider.js";
import { startFakeFcm, type FakeFcm } from "../support/fakes/fake-fcm.js";
import { startFakeJpush, type FakeJpush } from "../support/fakes/fake-jpush.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { JPUSH_APP_KEY, JPUSH_MASTER_SECRET, testConfig } from "../support/test-config.js";

// The JPush and FCM adapters against their loopback fakes, over real HTTP.

let jpush: FakeJpush;
let fcm: FakeFcm;
const providers: PushProvider[] = [];
const logs = recordingLogger();

beforeAll(async () => {
  [jpush, fcm] = await Promise.all([startFakeJpush({ appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET }), startFakeFcm()]);
});
afterEach(async () => {
  for (const p of providers.splice(0)) await p.close();
  jpush.reset();
  fcm.reset();
});
afterAll(async () => {
  await Promise.all([jpush?.stop(), fcm?.stop()]);
});

const REGID = "1a0018970a8a2b0c3d4";
const FCM_TOKEN = "fcm-token-eXaMpLe:APA91bHun4MxP5egoKMwt2KZFBaFUH";

let n = 0;
function attempt(provider: "jpush" | "fcm", over: Partial<PushAttempt> = {}): PushAttempt {
  n += 1;
  return {
    pushId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    node: "node-1",
    attempt: 1,
    address: { provider, token: provider === "jpush" ? REGID : FCM_TOKEN, environment: "sandbox", updatedAtMs: Date.now() },
    notification: { priority: "high", call: false, messageCount: 1, lastMessageBody: "New Message!" },
    content: { title: "New message", body: "New message", includeMessageContent: false },
    data: { account: "f00d" },
    expiresAt: new Date(Date.now() + 600_000),
    signal: AbortSignal.timeout(5000),
    ...over,
  };
}

function jpushConfig(over: Partial<JpushConfig> = {}): JpushConfig {
  const c = testConfig({ apps: [{ id: "chat", jpush: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, baseUrl: jpush.url } }] });
  return { ...c.apps[0]!.jpush!, ...over };
}

function jpushProvider(over: Partial<JpushConfig> = {}): PushProvider {
  const p = createJpushProvider({ app: "chat", config: jpushConfig(over), log: logs.log });
  providers.push(p);
  return p;
}

function fcmConfig(serviceAccount = fcm.serviceAccountJson()): FcmConfig {
  const c = testConfig({ apps: [{ id: "chat", fcm: { serviceAccount, baseUrl: fcm.url } }] });
  return c.apps[0]!.fcm!;
}

function fcmProvider(config = fcmConfig()): PushProvider {
  const p = createFcmProvider({ app: "chat", config, log: logs.log });
  providers.push(p);
  return p;
}

// The shapes the adapters send, for reading back what a fake recorded.
interface SentJpush {
  readonly audience: unknown;
  readonly options: { readonly apns_production: boolean };
  readonly cid: string;
}
interface SentFcm {
  readonly message: {
    readonly token: string;
    readonly data: Record<string, string>;
    readonly android: Record<string, unknown>;
    readonly notification?: unknown;
  };
}
const jpushPushes = () => jpush.requests.filter((r) => r.path === "/v3/push");
const sentJpush = (i: number) => jpushPushes()[i]?.body as SentJpush;
const sentFcm = (i: number) => fcm.requests[i]?.body as SentFcm;

describe("JPush adapter", () => {
  it("delivers with Basic auth, one registration id, explicit apns_production, and msg_id kept exactly", async () => {
    const msgId = "18103083292408631";
    // Precondition of the test: as a JSON number this id does not survive JSON.parse.
    expect(String(JSON.parse(msgId))).not.toBe(msgId);
    jpush.setDefault({ httpStatus: 200, msgId });
    const outcome = await jpushProvider().send(attempt("jpush"));
    expect(outcome).toEqual({ class: "delivered", status: 200, messageId: msgId });
    expect(jpushPushes()[0]).toMatchObject({
      method: "POST",
      path: "/v3/push",
      auth: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET },
    });
    // The cid came from JPush's own pool, as its docs require.
    expect(jpush.requests[0]).toMatchObject({ method: "GET", path: "/v3/push/cid?count=100&type=push" });
    expect(sentJpush(0).audience).toEqual({ registration_id: [REGID] });
    expect(sentJpush(0).options.apns_production).toBe(false);
    expect(sentJpush(0).cid).toMatch(new RegExp(`^${JPUSH_APP_KEY}-`));
    expect(jpush.delivered()).toHaveLength(1);
  });

  it("says apns_production true for a production registration", async () => {
    await jpushProvider().send(
      attempt("jpush", { address: { provider: "jpush", token: REGID, environment: "production", updatedAtMs: Date.now() } }),
    );
    expect(sentJpush(0).options.apns_production).toBe(true);
  });

  it("reports 1011 as a dead token", async () => {
    jpush.setDefault({ httpStatus: 400, code: 1011 });
    expect(await jpushProvider().send(attempt("jpush"))).toEqual({
      class: "token_dead",
      status: 1011,
      reason: "1011 cannot find user by this audience",
    });
  });

  it("retries 503 / 1030", async () => {
    jpush.setDefault({ httpStatus: 503, code: 1030 });
    expect(await jpushProvider().send(attempt("jpush"))).toMatchObject({ class: "retry", status: 1030 });
  });

  it("waits for the rate-limit window on 429 / 2002", async () => {
    jpush.setDefault({ httpStatus: 429, code: 2002, rateLimitReset: 30 });
    expect(await jpushProvider().send(attempt("jpush"))).toEqual({
      class: "retry",
      status: 2002,
      reason: "2002 rate limit exceeded",
      retryAfterMs: 30_000,
    });
  });

  it("reports a wrong master secret as a config error", async () => {
    const outcome = await jpushProvider({ masterSecret: "wrongSecret0123456789abc" }).send(attempt("jpush"));
    expect(outcome).toMatchObject({ class: "config_error", status: 1004 });
    expect(jpush.delivered()).toHaveLength(0);
  });

  it("answers retry, maybe delivered, when JPush is slower than the attempt's deadline; the retry reuses the cid and JPush does not push twice", async () => {
    const p = jpushProvider();
    expect((await p.send(attempt("jpush"))).class).toBe("delivered"); // fills the cid pool
    jpush.reset();
    const first = attempt("jpush", { signal: AbortSignal.timeout(150) });
    jpush.setDelayMs(1000);
    const started = Date.now();
    expect(await p.send(first)).toMatchObject({ class: "retry", maybeDelivered: true });
    // Aborted at the signal, not at the provider's timeout or the fake's answer (which would deliver).
    expect(Date.now() - started).toBeLessThan(1000);
    jpush.setDelayMs(0);
    const second = await p.send({ ...first, attempt: 2, signal: AbortSignal.timeout(5000) });
    expect(second.class).toBe("delivered");
    expect(jpushPushes()).toHaveLength(2);
    expect(sentJpush(1).cid).toBe(sentJpush(0).cid);
    expect(jpush.delivered()).toHaveLength(1);
  });

  it("answers retry without sending when JPush cannot be reached", async () => {
    const p = jpushProvider({ baseUrl: "http://127.0.0.1:1" });
    expect(await p.send(attempt("jpush"))).toEqual({ class: "retry", reason: "network error ECONNREFUSED" });
  });
});

describe("FCM adapter", () => {
  it("exchanges a service-account JWT for an access token and sends a data-only high-priority message", async () => {
    const outcome = await fcmProvider().send(attempt("fcm"));
    expect(outcome).toMatchObject({
      class: "delivered",
      status: 200,
      messageId: expect.stringMatching(/^projects\/xmpp-push-test\/messages\//),
    });
    expect(fcm.tokenRequests).toBe(1);
    expect(fcm.requests[0]?.projectId).toBe("xmpp-push-test");
    const { message } = sentFcm(0);
    expect(message).toMatchObject({
      token: FCM_TOKEN,
      data: { account: "f00d", priority: "high" },
      android: { priority: "HIGH", ttl: expect.stringMatching(/^\d+s$/) },
    });
    expect(message.notification).toBeUndefined();
    expect(Object.values(message.data).every((v) => typeof v === "string")).toBe(true);
    expect(fcm.delivered()).toHaveLength(1);
  });

  it("reuses the access token across sends, and concurrent sends share one exchange", async () => {
    const p = fcmProvider();
    await Promise.all([p.send(attempt("fcm")), p.send(attempt("fcm")), p.send(attempt("fcm"))]);
    await p.send(attempt("fcm"));
    expect(fcm.tokenRequests).toBe(1);
    expect(fcm.delivered()).toHaveLength(4);
  });

  it("sends NORMAL priority for a chat state", async () => {
    await fcmProvider().send(attempt("fcm", { notification: { priority: "low", call: false } }));
    expect(sentFcm(0).message).toMatchObject({ data: { priority: "low" }, android: { priority: "NORMAL" } });
  });

  it("reports 404 UNREGISTERED as a dead token", async () => {
    fcm.setDefault({ httpStatus: 404, errorCode: "UNREGISTERED" });
    expect(await fcmProvider().send(attempt("fcm"))).toMatchObject({ class: "token_dead", status: 404, reason: "UNREGISTERED" });
  });

  it("believes 'not a valid registration token' only once this app's messages have been delivered", async () => {
    const DEAD = `${FCM_TOKEN.slice(0, -4)}dead`;
    fcm.script((req) =>
      JSON.stringify(req.body).includes(DEAD)
        ? { httpStatus: 400, errorCode: "INVALID_ARGUMENT", message: "The registration token is not a valid FCM registration token" }
        : undefined,
    );
    const p = fcmProvider();
    const toDead = () => attempt("fcm", { address: { provider: "fcm", token: DEAD, environment: "sandbox", updatedAtMs: Date.now() } });
    // Before any success the same answer may be a message we build wrong: nobody's registration ends.
    expect(await p.send(toDead())).toMatchObject({
      class: "payload_error",
      reason: expect.stringContaining("no FCM push has succeeded yet"),
    });
    expect((await p.send(attempt("fcm"))).class).toBe("delivered");
    expect(await p.send(toDead())).toMatchObject({ class: "token_dead", status: 400 });
  });

  it("refreshes an expired access token once and delivers", async () => {
    const p = fcmProvider();
    expect((await p.send(attempt("fcm"))).class).toBe("delivered");
    fcm.expireTokens();
    expect((await p.send(attempt("fcm"))).class).toBe("delivered");
    expect(fcm.tokenRequests).toBe(2);
    expect(fcm.requests).toHaveLength(3);
    expect(fcm.delivered()).toHaveLength(2);
  });

  it("gives up after one refresh when FCM keeps refusing the access token", async () => {
    fcm.setDefault({ httpStatus: 401 });
    expect(await fcmProvider().send(attempt("fcm"))).toMatchObject({ class: "config_error", status: 401 });
    expect(fcm.tokenRequests).toBe(2);
    expect(fcm.requests).toHaveLength(2);
  });

  it("retries 503 and honours Retry-After", async () => {
    fcm.setDefault({ httpStatus: 503, errorCode: "UNAVAILABLE", retryAfter: 7 });
    expect(await fcmProvider().send(attempt("fcm"))).toEqual({ class: "retry", status: 503, reason: "UNAVAILABLE", retryAfterMs: 7000 });
  });

  it("reports a service account whose key Google rejects as a config error, without sending", async () => {
    const sa = JSON.parse(fcm.serviceAccountJson()) as Record<string, unknown>;
    sa.private_key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const outcome = await fcmProvider(fcmConfig(JSON.stringify(sa))).send(attempt("fcm"));
    expect(outcome).toMatchObject({ class: "config_error", status: 400, reason: expect.stringContaining("invalid_grant") });
    expect(fcm.requests).toHaveLength(0);
  });

  it("answers retry, maybe delivered, when FCM is slower than the attempt's deadline", async () => {
    fcm.setDelayMs(1000);
    expect(await fcmProvider().send(attempt("fcm", { signal: AbortSignal.timeout(300) }))).toMatchObject({
      class: "retry",
      maybeDelivered: true,
    });
  });
});

describe("HTTP provider factories", () => {
  it("build a provider only for an app that configures it", async () => {
    const c = testConfig({
      apps: [
        {
          id: "both",
          jpush: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, baseUrl: jpush.url },
          fcm: { serviceAccount: fcm.serviceAccountJson(), baseUrl: fcm.url },
        },
        { id: "none" },
      ],
    });
    const [both, none] = c.apps;
    const built = { ...jpushFactory(both!, logs.log), ...fcmFactory(both!, logs.log) };
    providers.push(...Object.values(built));
    expect(built.jpush).toMatchObject({ kind: "jpush", name: "jpush:both" });
    expect(built.fcm).toMatchObject({ kind: "fcm", name: "fcm:both" });
    expect({ ...jpushFactory(none!, logs.log), ...fcmFactory(none!, logs.log) }).toEqual({});
  });
});

describe("secrets", () => {
  it("never logs the master secret, the service-account key, an access token or a device token", async () => {
    // Runs last: by now every failure path above has logged what it logs.
    const outcomes: DeliveryOutcome[] = [];
    // Providers that echo the device token in their error text must not get it into logs or the audit.
    jpush.setDefault({ httpStatus: 400, code: 4001, message: `unknown trouble with ${REGID}` });
    outcomes.push(await jpushProvider().send(attempt("jpush")));
    fcm.setDefault({ httpStatus: 400, errorCode: "INVALID_ARGUMENT", message: `Invalid value at 'message.data' near ${FCM_TOKEN}` });
    outcomes.push(await fcmProvider().send(attempt("fcm")));
    expect(outcomes.map((o) => o.class)).toEqual(["payload_error", "payload_error"]);
    expect(outcomes[0]?.reason).toMatch(/^4001 unknown trouble with \[token [0-9a-f]{12}\]$/);
    const text = logs.text() + JSON.stringify(outcomes);
    expect(text).toContain("JPush refused the push");
    expect(text).toContain("FCM refused the push");
    for (const secret of [
      JPUSH_MASTER_SECRET,
      Buffer.from(`${JPUSH_APP_KEY}:${JPUSH_MASTER_SECRET}`).toString("base64"),
      REGID,
      FCM_TOKEN,
      "ya29.",
      "PRIVATE KEY",
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});
