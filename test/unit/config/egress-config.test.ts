import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config/load-config.js";
import { testCerts } from "../../support/fakes/test-certs.js";

// The outbound proxy setting and the FCM credential choice, as an operator writes them.

const dir = mkdtempSync(join(tmpdir(), "xp-egress-config-"));
const configFile = (content: unknown) => {
  const p = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify(content));
  return p;
};
const problemsOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a ConfigError");
};
const serviceAccount = () =>
  JSON.stringify({
    type: "service_account",
    project_id: "from-key",
    client_email: "sa@from-key.iam.gserviceaccount.com",
    private_key: testCerts().fcmKey,
  });

describe("httpsProxy", () => {
  it("takes XMPP_PUSH_HTTPS_PROXY as host and port", () => {
    expect(loadConfig({ env: { XMPP_PUSH_HTTPS_PROXY: "http://proxy.internal:3128" } }).httpsProxy).toEqual({
      host: "proxy.internal",
      port: 3128,
    });
    expect(loadConfig({ env: { XMPP_PUSH_HTTPS_PROXY: "http://[fd00::1]:8080/" } }).httpsProxy).toEqual({ host: "fd00::1", port: 8080 });
  });

  it("is unset by default, whatever HTTPS_PROXY says", () => {
    expect(loadConfig({ env: { HTTPS_PROXY: "http://proxy.internal:3128" } }).httpsProxy).toBeUndefined();
  });

  it("refuses a proxy URL with credentials, and never repeats them", () => {
    const message = problemsOf(() => loadConfig({ env: { XMPP_PUSH_HTTPS_PROXY: "http://push:hunter2-secret@proxy.internal:3128" } }));
    expect(message).toContain("httpsProxy (XMPP_PUSH_HTTPS_PROXY): must not carry a user name or password");
    expect(message).not.toContain("hunter2-secret");
    expect(message).not.toContain("push:");
  });

  it.each([
    ["https://proxy.internal:3128", "must start with http://"],
    ["socks5://proxy.internal:1080", "must start with http://"],
    ["http://proxy.internal", "must name the port"],
    ["http://proxy.internal:3128/path", "must be just http://host:port"],
    ["proxy.internal:3128", "must start with http://"],
    ["not a url", "must be a URL such as http://proxy.internal:3128"],
  ])("refuses %s", (value, expected) => {
    expect(problemsOf(() => loadConfig({ file: configFile({ httpsProxy: value }) }))).toContain(`httpsProxy: ${expected}`);
  });

  it("takes apns.ca with a proxy: APNs's TLS runs inside the tunnel, with that CA", () => {
    const apns = {
      bundleId: "org.example.chat",
      teamId: "TEAM123456",
      keyId: "KEY1234567",
      key: testCerts().apnsKey,
      ca: testCerts().tlsCert,
    };
    const config = loadConfig({ file: configFile({ httpsProxy: "http://proxy.internal:3128", apps: [{ id: "chat", apns }] }) });
    expect(config.apps[0]!.apns!.ca).toBe(testCerts().tlsCert);
  });
});

describe("fcm.credentials", () => {
  const fcmApp = (fcm: Record<string, unknown>) => configFile({ apps: [{ id: "chat", fcm }] });

  it("keeps the service-account key path as before", () => {
    const fcm = loadConfig({ file: fcmApp({ serviceAccount: serviceAccount() }) }).apps[0]!.fcm!;
    expect(fcm).toMatchObject({
      projectId: "from-key",
      auth: {
        kind: "service-account",
        clientEmail: "sa@from-key.iam.gserviceaccount.com",
        tokenUrl: "https://oauth2.googleapis.com/token",
      },
    });
  });

  it("takes application-default credentials with an explicit Firebase project", () => {
    const fcm = loadConfig({ file: fcmApp({ credentials: "application-default", projectId: "chat-firebase" }) }).apps[0]!.fcm!;
    expect(fcm).toEqual({
      projectId: "chat-firebase",
      auth: { kind: "application-default" },
      baseUrl: "https://fcm.googleapis.com",
      timeoutMs: 10_000,
    });
  });

  it("needs the project named with application-default credentials", () => {
    expect(problemsOf(() => loadConfig({ file: fcmApp({ credentials: "application-default" }) }))).toContain(
      "apps[0].fcm.projectId: is required with credentials: application-default",
    );
  });

  it("refuses a key file together with application-default credentials", () => {
    const message = problemsOf(() =>
      loadConfig({ file: fcmApp({ credentials: "application-default", projectId: "p", serviceAccount: serviceAccount() }) }),
    );
    expect(message).toContain("apps[0].fcm.serviceAccount: give either serviceAccount or credentials: application-default, not both");
    expect(message).not.toContain("PRIVATE KEY");
  });

  it("refuses tokenUrl with application-default credentials", () => {
    expect(
      problemsOf(() =>
        loadConfig({ file: fcmApp({ credentials: "application-default", projectId: "p", tokenUrl: "https://example.org/token" }) }),
      ),
    ).toContain("apps[0].fcm.tokenUrl: applies to serviceAccount only");
  });

  it("refuses an unknown credentials kind and a missing key", () => {
    expect(problemsOf(() => loadConfig({ file: fcmApp({ credentials: "metadata", projectId: "p" }) }))).toMatch(
      /apps\[0\]\.fcm\.credentials: .*"service-account".*"application-default"/,
    );
    expect(problemsOf(() => loadConfig({ file: fcmApp({ projectId: "p" }) }))).toContain(
      "apps[0].fcm.serviceAccount: is required (the service-account JSON key), unless credentials: application-default",
    );
  });
});
