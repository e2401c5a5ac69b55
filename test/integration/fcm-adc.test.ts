import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { PushAttempt, PushProvider } from "../../src/ports/push-provider.js";
import { fcmFactory } from "../../src/providers/provider-factories.js";
import { startConnectProxy, type ConnectProxy } from "../support/connect-proxy.js";
import { startFakeFcm, type FakeFcm } from "../support/fakes/fake-fcm.js";
import { startFakeGceMetadata, type FakeGceMetadata } from "../support/fakes/fake-gce-metadata.js";
import { startFakeGoogleSts, type FakeGoogleSts } from "../support/fakes/fake-google-sts.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { testConfig } from "../support/test-config.js";

// FCM with Application Default Credentials (fcm.credentials: application-default): the real
// google-auth-library finds the (fake) GCE/GKE metadata server through GCE_METADATA_HOST, takes the
// default service account's token from it, and the send to the fake FCM carries that token.

const FIREBASE_PROJECT = "chat-firebase";
const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";

let fcm: FakeFcm;
let metadata: FakeGceMetadata;
let proxy: ConnectProxy;
let sts: FakeGoogleSts;
const WORKLOAD_TOKEN = "eyJ.workload-identity-token.of-this-pod";
const providers: PushProvider[] = [];
const logs = recordingLogger();

beforeAll(async () => {
  fcm = await startFakeFcm();
  [metadata, proxy, sts] = await Promise.all([
    startFakeGceMetadata({ mintToken: () => fcm.issueAccessToken() }),
    startConnectProxy(),
    startFakeGoogleSts({ mintToken: () => fcm.issueAccessToken(), subjectToken: WORKLOAD_TOKEN }),
  ]);
});
let metadataRequestsBefore = 0;
beforeEach(() => {
  metadataRequestsBefore = metadata.requests.length;
  // Only the metadata server may answer: no key file named, none in a gcloud config directory.
  vi.stubEnv("GCE_METADATA_HOST", metadata.host);
  vi.stubEnv("HOME", mkdtempSync(join(tmpdir(), "xp-adc-home-")));
  for (const name of [
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_CONFIG",
    "GCE_METADATA_IP",
    "METADATA_SERVER_DETECTION",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
  ]) {
    vi.stubEnv(name, undefined);
  }
});
afterEach(async () => {
  for (const p of providers.splice(0)) await p.close();
  vi.unstubAllEnvs();
  fcm.reset();
  proxy.reset();
});
afterAll(async () => {
  await Promise.all([fcm?.stop(), metadata?.stop(), proxy?.stop(), sts?.stop()]);
});

function provider(fcmSettings: Record<string, unknown>, httpsProxy?: string): PushProvider {
  const config = testConfig({
    ...(httpsProxy !== undefined ? { httpsProxy } : {}),
    apps: [{ id: "chat", fcm: { baseUrl: fcm.url, ...fcmSettings } }],
  });
  const p = fcmFactory(config.apps[0]!, logs.log, { httpsProxy: config.httpsProxy }).fcm!;
  providers.push(p);
  return p;
}
const adc = { credentials: "application-default", projectId: FIREBASE_PROJECT };

let n = 0;
function attempt(): PushAttempt {
  n += 1;
  return {
    pushId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    node: "node-1",
    attempt: 1,
    address: {
      provider: "fcm",
      token: `fcm-token-${n}:APA91bHun4MxP5egoKMwt2KZFBaFUH`,
      environment: "production",
      updatedAtMs: Date.now(),
    },
    notification: { priority: "high", call: false, messageCount: 1 },
    content: { title: "New message", body: "New message", includeMessageContent: false },
    data: {},
    expiresAt: new Date(Date.now() + 600_000),
    signal: AbortSignal.timeout(10_000),
  };
}

/** GOOGLE_APPLICATION_CREDENTIALS → an external_account file (workload identity federation) whose token_url is the fake STS. */
function useExternalAccountFile(): void {
  const dir = mkdtempSync(join(tmpdir(), "xp-adc-file-"));
  writeFileSync(join(dir, "workload-token"), WORKLOAD_TOKEN);
  writeFileSync(
    join(dir, "credentials.json"),
    JSON.stringify({
      type: "external_account",
      audience: "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/cluster",
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      token_url: sts.tokenUrl,
      credential_source: { file: join(dir, "workload-token") },
    }),
  );
  vi.stubEnv("GOOGLE_APPLICATION_CREDENTIALS", join(dir, "credentials.json"));
}

const googleAuthLoaded = () =>
  Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes(`${"node_modules"}/google-auth-library/`));

describe("FCM with application default credentials", () => {
  it("does not load google-auth-library for an app with a service-account key", async () => {
    const outcome = await provider({ serviceAccount: fcm.serviceAccountJson(FIREBASE_PROJECT) }).send(attempt());
    expect(outcome.class).toBe("delivered");
    expect(googleAuthLoaded()).toBe(false);
  });

  it("sends with the metadata server's token for the default service account", async () => {
    const p = provider(adc);
    const first = await p.send(attempt());
    const second = await p.send(attempt());

    expect([first.class, second.class]).toEqual(["delivered", "delivered"]);
    expect(googleAuthLoaded()).toBe(true);
    const sent = fcm.delivered();
    expect(sent.map((r) => r.projectId)).toEqual([FIREBASE_PROJECT, FIREBASE_PROJECT]);
    // One token from the metadata server, asked for with the FCM scope, used for both sends (cached).
    expect(metadata.issuedTokens.length).toBeGreaterThanOrEqual(1);
    expect(sent.map((r) => r.accessToken)).toEqual([metadata.issuedTokens.at(-1), metadata.issuedTokens.at(-1)]);
    expect(metadata.tokenScopes.at(-1)).toEqual([FCM_SCOPE]);
    expect(metadata.requests.every((r) => r.flavor === "Google")).toBe(true);
    // The service-account path was not involved.
    expect(fcm.tokenRequests).toBe(0);
  });

  it("asks the metadata server directly, never through HTTPS_PROXY from the environment", async () => {
    for (const name of ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]) vi.stubEnv(name, proxy.url);
    for (const name of ["NO_PROXY", "no_proxy"]) vi.stubEnv(name, "");
    const before = metadata.issuedTokens.length;

    const outcome = await provider(adc).send(attempt());

    expect(outcome.class).toBe("delivered");
    expect(metadata.issuedTokens.length).toBe(before + 1);
    expect({ connects: proxy.connects, forwarded: proxy.forwarded }).toEqual({ connects: [], forwarded: [] });
  });

  it("sends through the configured proxy and still asks the metadata server directly", async () => {
    const outcome = await provider(adc, proxy.url).send(attempt());

    expect(outcome.class).toBe("delivered");
    expect(proxy.connects).toEqual([new URL(fcm.url).host]);
    expect(proxy.tunnelledRequests).toEqual([`POST /v1/projects/${FIREBASE_PROJECT}/messages:send`]);
  });

  it("reports a config error while no credentials can be found, and sends once the metadata server answers", async () => {
    // A process that has not found a metadata server yet (earlier tests found one, and gcp-metadata remembers).
    (await import("google-auth-library")).gcpMetadata.resetIsAvailableCache();
    vi.stubEnv("GCE_METADATA_HOST", "127.0.0.1:1");
    const p = provider(adc);

    const without = await p.send(attempt());
    expect(without).toMatchObject({ class: "config_error", reason: expect.stringContaining("no application default credentials found") });
    expect(fcm.requests).toEqual([]);

    vi.stubEnv("GCE_METADATA_HOST", metadata.host);
    const withMetadata = await p.send(attempt());
    expect(withMetadata.class).toBe("delivered");
    expect(fcm.delivered()[0]!.accessToken).toBe(metadata.issuedTokens.at(-1));
  });

  it("exchanges the workload's token named by GOOGLE_APPLICATION_CREDENTIALS, through the configured proxy", async () => {
    useExternalAccountFile();

    const outcome = await provider(adc, proxy.url).send(attempt());

    expect(outcome.class).toBe("delivered");
    expect(sts.exchanges.at(-1)).toMatchObject({ subject_token: WORKLOAD_TOKEN, scope: FCM_SCOPE });
    expect(fcm.delivered()[0]!.accessToken).toBe(sts.issuedTokens.at(-1));
    expect(proxy.tunnelledRequests).toEqual(["POST /v1/token", `POST /v1/projects/${FIREBASE_PROJECT}/messages:send`]);
    expect(metadata.requests.length).toBe(metadataRequestsBefore);
  });

  it("exchanges the workload's token directly when no proxy is configured, whatever HTTPS_PROXY says", async () => {
    useExternalAccountFile();
    for (const name of ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]) vi.stubEnv(name, proxy.url);
    for (const name of ["NO_PROXY", "no_proxy"]) vi.stubEnv(name, "");

    const outcome = await provider(adc).send(attempt());

    expect(outcome.class).toBe("delivered");
    expect(fcm.delivered()[0]!.accessToken).toBe(sts.issuedTokens.at(-1));
    expect({ connects: proxy.connects, forwarded: proxy.forwarded }).toEqual({ connects: [], forwarded: [] });
  });
});
