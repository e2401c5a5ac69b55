import { createServer } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { ProviderKind } from "../../src/config/config-schema.js";
import type { PushAttempt } from "../../src/ports/push-provider.js";
import { apnsFactory, fcmFactory, jpushFactory } from "../../src/providers/provider-factories.js";
import { createProviderRegistry, type ProviderRegistry } from "../../src/providers/provider-registry.js";
import { startConnectProxy, type ConnectProxy } from "../support/connect-proxy.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { listenOnLoopback } from "../support/fakes/fake-http.js";
import { startFakeFcm, type FakeFcm } from "../support/fakes/fake-fcm.js";
import { startFakeJpush, type FakeJpush } from "../support/fakes/fake-jpush.js";
import { testCerts } from "../support/fakes/test-certs.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { JPUSH_APP_KEY, JPUSH_MASTER_SECRET, testConfig } from "../support/test-config.js";

// The outbound proxy (httpsProxy / XMPP_PUSH_HTTPS_PROXY): one rule for APNs, JPush and FCM, built
// through the same config → registry → factory path the server uses, against the loopback fakes and a
// recording CONNECT proxy.

let proxy: ConnectProxy;
let apns: FakeApns;
let jpush: FakeJpush;
let fcm: FakeFcm;
let registry: ProviderRegistry | undefined;
const logs = recordingLogger();

beforeAll(async () => {
  [proxy, apns, jpush, fcm] = await Promise.all([
    startConnectProxy(),
    startFakeApns({ verifyJwtWith: testCerts().apnsPublicKey }),
    startFakeJpush({ appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET }),
    startFakeFcm(),
  ]);
});
afterEach(async () => {
  await registry?.close();
  registry = undefined;
  vi.unstubAllEnvs();
  for (const f of [proxy, apns, jpush, fcm]) f.reset();
});
afterAll(async () => {
  await Promise.all([proxy?.stop(), apns?.stop(), jpush?.stop(), fcm?.stop()]);
});

function providers(httpsProxy?: string): ProviderRegistry {
  const config = testConfig({
    ...(httpsProxy !== undefined ? { httpsProxy } : {}),
    apps: [
      {
        id: "chat",
        apns: {
          bundleId: "org.example.chat",
          teamId: "TEAM123456",
          keyId: "KEY1234567",
          key: testCerts().apnsKey,
          address: "localhost",
          port: apns.port,
          // Verified inside the tunnel: the proxy only relays the TLS bytes.
          ca: apns.ca,
        },
        jpush: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, baseUrl: jpush.url },
        fcm: { serviceAccount: fcm.serviceAccountJson(), baseUrl: fcm.url },
      },
    ],
  });
  registry = createProviderRegistry({ config, log: logs.log, factories: [apnsFactory, jpushFactory, fcmFactory] });
  return registry;
}

const TOKENS: Record<Exclude<ProviderKind, "log">, string> = {
  apns: "ab".repeat(32),
  jpush: "1a0018970a8a2b0c3d4",
  fcm: "fcm-token-eXaMpLe:APA91bHun4MxP5egoKMwt2KZFBaFUH",
};

let n = 0;
function attempt(provider: Exclude<ProviderKind, "log">): PushAttempt {
  n += 1;
  return {
    pushId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    node: "node-1",
    attempt: 1,
    address: { provider, token: TOKENS[provider], environment: "production", updatedAtMs: Date.now() },
    notification: { priority: "high", call: false, messageCount: 1 },
    content: { title: "New message", body: "New message", includeMessageContent: false },
    data: {},
    expiresAt: new Date(Date.now() + 600_000),
    signal: AbortSignal.timeout(10_000),
  };
}

async function sendOneOfEach(registry: ProviderRegistry): Promise<Record<string, string>> {
  const classes: Record<string, string> = {};
  for (const kind of ["apns", "jpush", "fcm"] as const) {
    classes[kind] = (await registry.lookup("chat", kind)!.send(attempt(kind))).class;
  }
  return classes;
}

const hostPort = (url: string) => new URL(url).host;

describe("outbound proxy", () => {
  it("tunnels APNs, JPush and FCM (its OAuth token request included) through the configured proxy", async () => {
    const classes = await sendOneOfEach(providers(proxy.url));

    expect(classes).toEqual({ apns: "delivered", jpush: "delivered", fcm: "delivered" });
    expect(apns.delivered()).toHaveLength(1);
    expect(jpush.delivered()).toHaveLength(1);
    expect(fcm.delivered()).toHaveLength(1);
    // Every provider connection was a CONNECT tunnel to that provider, and nothing was forward-proxied.
    expect(new Set(proxy.connects)).toEqual(new Set([`localhost:${apns.port}`, hostPort(jpush.url), hostPort(fcm.url)]));
    expect(proxy.forwarded).toEqual([]);
    // Inside the plain-HTTP tunnels: the JPush cid fetch and push, the FCM token exchange and send.
    expect(proxy.tunnelledRequests).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^GET \/v3\/push\/cid\b/),
        "POST /v3/push",
        "POST /token",
        "POST /v1/projects/xmpp-push-test/messages:send",
      ]),
    );
  });

  it("ignores HTTPS_PROXY and HTTP_PROXY in the environment when no proxy is configured", async () => {
    for (const name of ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]) vi.stubEnv(name, proxy.url);
    for (const name of ["NO_PROXY", "no_proxy"]) vi.stubEnv(name, "");

    const classes = await sendOneOfEach(providers());

    expect(classes).toEqual({ apns: "delivered", jpush: "delivered", fcm: "delivered" });
    expect(fcm.tokenRequests).toBe(1);
    expect({ connects: proxy.connects, forwarded: proxy.forwarded }).toEqual({ connects: [], forwarded: [] });
  });

  it("reports a retry, not a delivery, when the proxy cannot be reached", async () => {
    const closedPort = await closedLoopbackPort();
    const registry = providers(`http://127.0.0.1:${closedPort}`);

    for (const kind of ["apns", "jpush", "fcm"] as const) {
      const outcome = await registry.lookup("chat", kind)!.send(attempt(kind));
      expect({ kind, class: outcome.class }).toEqual({ kind, class: "retry" });
    }
    expect(apns.requests.length + jpush.requests.length + fcm.requests.length + fcm.tokenRequests).toBe(0);
  });

  it("reports a retry with the proxy named, not a provider answer, when the proxy refuses the tunnel", async () => {
    proxy.refuseTunnels(true);
    const registry = providers(proxy.url);

    const outcomes = await Promise.all(
      (["apns", "jpush", "fcm"] as const).map(async (kind) => [kind, await registry.lookup("chat", kind)!.send(attempt(kind))] as const),
    );

    for (const [kind, outcome] of outcomes) expect({ kind, class: outcome.class }).toEqual({ kind, class: "retry" });
    const reasons = Object.fromEntries(outcomes.map(([kind, o]) => [kind, o]));
    for (const kind of ["apns", "jpush"]) {
      expect(reasons[kind]).toMatchObject({ reason: "network error EPROXYREFUSED" });
      expect(reasons[kind]).not.toHaveProperty("maybeDelivered");
    }
    expect(reasons.fcm).toMatchObject({ reason: expect.stringContaining("EPROXYREFUSED") });
    expect(proxy.connects.length).toBeGreaterThanOrEqual(3);
    expect(apns.requests.length + jpush.requests.length + fcm.requests.length + fcm.tokenRequests).toBe(0);
  });

  it("logs where provider traffic goes as host:port", () => {
    providers(proxy.url);
    expect(logs.lines()).toContainEqual(
      expect.objectContaining({ proxy: `127.0.0.1:${proxy.port}`, msg: "provider connections go through the outbound proxy" }),
    );
  });
});

/** A loopback port with nothing listening: bound, then released. */
async function closedLoopbackPort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
