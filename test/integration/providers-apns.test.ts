import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ApnsConfig } from "../../src/config/config-schema.js";
import type { PushAttempt } from "../../src/ports/push-provider.js";
import { createApnsProvider, type ApnsProvider } from "../../src/providers/apns/apns-provider.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { testCerts } from "../support/fakes/test-certs.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { fakeApnsSection, testConfig } from "../support/test-config.js";

// The APNs adapter and its HTTP/2 client against a local HTTP/2 TLS APNs that verifies provider tokens.

let fake: FakeApns;
const providers: ApnsProvider[] = [];
beforeAll(async () => {
  fake = await startFakeApns({ verifyJwtWith: testCerts().apnsPublicKey, maxConcurrentStreams: 50 });
});
afterEach(async () => {
  for (const p of providers.splice(0)) await p.close();
  fake.reset();
});
afterAll(async () => {
  await fake?.stop();
});

function apnsConfig(over: Record<string, unknown> = {}): ApnsConfig {
  const c = testConfig({ apps: [{ id: "chat", apns: fakeApnsSection(fake, over) }] });
  return c.apps[0]!.apns!;
}

function provider(over: Record<string, unknown> = {}) {
  const p = createApnsProvider({ app: "chat", config: apnsConfig(over), log: recordingLogger().log });
  providers.push(p);
  return p;
}

let n = 0;
function attempt(token: string, over: Partial<PushAttempt> = {}): PushAttempt {
  n += 1;
  return {
    pushId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    node: "node-1",
    attempt: 1,
    address: { provider: "apns", token, environment: "production", updatedAtMs: Date.now() },
    notification: { priority: "high", call: false, messageCount: 1, lastMessageBody: "New Message!" },
    content: { title: "New message", body: "New message", includeMessageContent: false },
    data: { account: "f00d" },
    expiresAt: new Date(Date.now() + 600_000),
    signal: AbortSignal.timeout(5000),
    ...over,
  };
}

const token = (i: number) => i.toString(16).padStart(64, "0");

describe("APNs adapter", () => {
  it("delivers an alert push with the headers and token auth APNs expects", async () => {
    const p = provider();
    const a = attempt(token(1));
    const outcome = await p.send(a);
    expect(outcome).toEqual({ class: "delivered", status: 200, messageId: a.pushId });
    const [req] = fake.requests;
    expect(req).toMatchObject({ token: token(1), jwt: { kid: "KEY1234567", iss: "TEAM123456" } });
    expect(req!.headers).toMatchObject({
      "apns-topic": "org.example.chat",
      "apns-push-type": "alert",
      "apns-priority": "10",
      "apns-id": a.pushId,
    });
    expect(Number(req!.headers["apns-expiration"])).toBeGreaterThan(Date.now() / 1000);
    expect(req!.payload).toMatchObject({
      aps: { alert: { title: "New message", body: "New message" }, "mutable-content": 1 },
      account: "f00d",
    });
  });

  it("reports a 410 as a dead token with Apple's timestamp", async () => {
    const p = provider();
    fake.script((r) => (r.token === token(2) ? { status: 410, reason: "Unregistered", timestamp: 1_790_000_000_000 } : undefined));
    expect(await p.send(attempt(token(2)))).toEqual({
      class: "token_dead",
      status: 410,
      reason: "Unregistered",
      invalidatedAt: new Date(1_790_000_000_000),
    });
  });

  it("does not call a token dead on BadDeviceToken until the environment has proven to work", async () => {
    const p = provider();
    fake.script((r) => (r.token === token(3) ? { status: 400, reason: "BadDeviceToken" } : undefined));
    // Nothing has succeeded yet: maybe every token is sandbox and we talk to production.
    expect((await p.send(attempt(token(3)))).class).toBe("config_error");
    expect((await p.send(attempt(token(4)))).class).toBe("delivered");
    expect(await p.send(attempt(token(3)))).toMatchObject({ class: "token_dead", status: 400, reason: "BadDeviceToken" });
  });

  it("stops believing BadDeviceToken when the environment has not delivered for an hour, by the clock it is given", async () => {
    let at = Date.now();
    const clock = { now: () => new Date(at) };
    const p = createApnsProvider({ app: "chat", config: apnsConfig(), log: recordingLogger().log, clock });
    providers.push(p);
    fake.script((r) => (r.token === token(13) ? { status: 400, reason: "BadDeviceToken" } : undefined));
    expect((await p.send(attempt(token(14)))).class).toBe("delivered");
    expect(Number(fake.requests[0]!.headers["apns-expiration"])).toBeGreaterThan(at / 1000);
    at += 59 * 60_000;
    expect((await p.send(attempt(token(13)))).class).toBe("token_dead");
    at += 60_000;
    expect(await p.send(attempt(token(13)))).toMatchObject({
      class: "config_error",
      reason: expect.stringContaining("check bundleId and defaultEnvironment"),
    });
  });

  it("classifies credential, rate-limit and outage answers", async () => {
    const p = provider();
    fake.script((r) => {
      if (r.token === token(5)) return { status: 403, reason: "InvalidProviderToken" };
      if (r.token === token(6)) return { status: 429, reason: "TooManyRequests" };
      if (r.token === token(7)) return { status: 503, reason: "ServiceUnavailable" };
      if (r.token === token(8)) return { status: 500, reason: "InternalServerError" };
      return undefined;
    });
    expect(await p.send(attempt(token(5)))).toMatchObject({ class: "config_error", status: 403, reason: "InvalidProviderToken" });
    expect(await p.send(attempt(token(6)))).toMatchObject({ class: "retry", status: 429, perDevice: true });
    expect((await p.send(attempt(token(7)))).class).toBe("retry");
    expect((await p.send(attempt(token(8)))).class).toBe("retry");
    // One request per push: the client never retries on its own.
    expect(fake.requests.filter((r) => r.token === token(7))).toHaveLength(1);
  });

  it("recovers after APNs sends GOAWAY", async () => {
    const p = provider({ connections: 1 });
    fake.script((r) => (r.token === token(9) ? { status: 200, goaway: true } : undefined));
    expect((await p.send(attempt(token(9)))).class).toBe("delivered");
    expect((await p.send(attempt(token(10)))).class).toBe("delivered");
  });

  it("gives up at the caller's deadline when APNs does not answer", async () => {
    const p = provider();
    fake.script((r) => (r.token === token(11) ? { status: 200, hang: true } : undefined));
    const started = Date.now();
    expect(await p.send(attempt(token(11), { signal: AbortSignal.timeout(300) }))).toEqual({
      class: "retry",
      reason: "timeout",
      maybeDelivered: true,
    });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("takes a burst of pushes on a cold pool without refused streams", async () => {
    const p = provider({ connections: 2, maxInFlightPerConnection: 40 });
    fake.setDelayMs(5);
    const outcomes = await Promise.all(
      Array.from({ length: 400 }, (_, i) => p.send(attempt(token(1000 + i), { signal: AbortSignal.timeout(20_000) }))),
    );
    const failures = outcomes.filter((o) => o.class !== "delivered");
    expect(failures).toEqual([]);
    expect(fake.delivered()).toHaveLength(400);
  });

  it("uses the VoIP topic and PushKit token for calls when enabled", async () => {
    const p = provider({ voip: true });
    const a = attempt(token(12), {
      address: { provider: "apns", token: token(12), voipToken: token(13), environment: "production", updatedAtMs: Date.now() },
      notification: { priority: "high", call: true, encrypted: { payload: "c2VjcmV0", iv: "aXY=" } },
    });
    expect((await p.send(a)).class).toBe("delivered");
    expect(fake.requests[0]).toMatchObject({
      token: token(13),
      headers: { "apns-topic": "org.example.chat.voip", "apns-push-type": "voip" },
    });
  });

  it("authenticates with a client certificate instead of a token, and reads its expiry for the metric", async () => {
    const certFake = await startFakeApns();
    try {
      const { tlsCert, tlsKey } = testCerts();
      const p = createApnsProvider({
        app: "chat",
        config: {
          ...apnsConfig(),
          key: undefined,
          keyId: undefined,
          teamId: undefined,
          cert: tlsCert,
          privateKey: tlsKey,
          port: certFake.port,
          ca: certFake.ca,
        } as ApnsConfig,
        log: recordingLogger().log,
      });
      providers.push(p);
      expect(p.certificateExpiresAt).toBeInstanceOf(Date);
      expect(p.certificateExpiresAt!.getTime()).toBeGreaterThan(Date.now());
      expect((await p.send(attempt(token(14)))).class).toBe("delivered");
      expect(certFake.requests[0]!.jwt).toBeUndefined();
    } finally {
      await certFake.stop();
    }
  });

  it("keeps one provider token for many requests, renews it after 50 minutes and when APNs calls it expired", async () => {
    let at = Date.now();
    const clock = { now: () => new Date(at) };
    const p = createApnsProvider({ app: "chat", config: apnsConfig(), log: recordingLogger().log, clock });
    providers.push(p);
    const auth = () => fake.requests.map((r) => r.headers.authorization);
    for (let i = 0; i < 3; i++) expect((await p.send(attempt(token(20 + i)))).class).toBe("delivered");
    expect(new Set(auth()).size).toBe(1);

    at += 49 * 60_000;
    expect((await p.send(attempt(token(23)))).class).toBe("delivered");
    expect(new Set(auth()).size).toBe(1);
    at += 2 * 60_000;
    expect((await p.send(attempt(token(24)))).class).toBe("delivered");
    expect(new Set(auth()).size).toBe(2);
    expect(fake.requests.at(-1)!.jwt!.iat).toBe(Math.floor(at / 1000));

    fake.script((r) => (r.token === token(25) ? { status: 403, reason: "ExpiredProviderToken" } : undefined));
    expect(await p.send(attempt(token(25)))).toMatchObject({ class: "retry", status: 403, reason: "ExpiredProviderToken" });
    expect((await p.send(attempt(token(26)))).class).toBe("delivered");
    expect((await p.send(attempt(token(27)))).class).toBe("delivered");
    const [expired, renewed, reused] = auth().slice(-3);
    expect(renewed).not.toBe(expired);
    expect(reused).toBe(renewed);
  });

  it("calls a refused stream a safe retry, and passes Retry-After on", async () => {
    const p = provider();
    fake.script((r) => {
      if (r.token === token(30)) return { status: 0 };
      if (r.token === token(31)) return { status: 429, reason: "TooManyRequests", retryAfter: 120 };
      return undefined;
    });
    const refused = await p.send(attempt(token(30)));
    expect(refused).toMatchObject({ class: "retry", reason: "network error REFUSED_STREAM" });
    expect(refused).not.toHaveProperty("maybeDelivered");
    expect(await p.send(attempt(token(31)))).toMatchObject({ class: "retry", status: 429, retryAfterMs: 120_000, perDevice: true });
  });

  it("frees a connection's slot as soon as the caller gives up on a stream", async () => {
    const p = provider({ connections: 1, maxInFlightPerConnection: 1 });
    fake.script((r) => (r.token === token(40) ? { status: 200, hang: true } : undefined));
    expect((await p.send(attempt(token(40), { signal: AbortSignal.timeout(200) }))).reason).toBe("timeout");
    // The only slot is free again at once: the next push does not wait behind the hung stream (which
    // never answers: behind it, this push would time out at 5 s instead of being delivered).
    const started = Date.now();
    expect((await p.send(attempt(token(41), { signal: AbortSignal.timeout(5000) }))).class).toBe("delivered");
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
