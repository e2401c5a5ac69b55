import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, redactedConfig } from "../../../src/config/load-config.js";

const dir = mkdtempSync(join(tmpdir(), "xp-config-"));
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};
const problemsOf = (fn: () => unknown): readonly string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
};
const P8 = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----";

describe("loadConfig", () => {
  it("works with no configuration at all: local component, embedded database, a dry-run app", () => {
    const c = loadConfig({ env: {} });
    expect(c.component).toEqual({
      service: "xmpp://127.0.0.1:5347",
      domain: "push.localhost",
      reconnectMaxDelayMs: 1000,
      mode: "exclusive",
      maxStanzaBytes: 262_144,
    });
    expect(c.domains).toEqual(["localhost"]);
    expect(c.database).toEqual({ dataDir: "./data", migrateOnStart: true, poolMax: 10, preparedStatements: true });
    expect(c.http).toMatchObject({ host: "127.0.0.1", port: 8080 });
    expect(c.apps.map((a) => [a.id, a.strategy])).toEqual([["default", { providers: ["log"], mode: "fallback" }]]);
    expect(c.defaultApp).toBe("default");
    expect(Object.isFrozen(c.component)).toBe(true);
  });

  it("takes the fixed environment variables", () => {
    const c = loadConfig({
      env: {
        XMPP_PUSH_COMPONENT_SERVICE: "xmpp://xmpp.internal:5347",
        XMPP_PUSH_COMPONENT_DOMAIN: "push.example.org",
        XMPP_PUSH_COMPONENT_SECRET: "s3cret",
        XMPP_PUSH_HTTP_PORT: "9090",
        XMPP_PUSH_LOG_LEVEL: "debug",
        XMPP_PUSH_DOMAINS: "example.org, example.net",
        DATABASE_URL: "postgres://u@db:5432/push",
      },
    });
    expect(c.component).toMatchObject({ service: "xmpp://xmpp.internal:5347", domain: "push.example.org", secret: "s3cret" });
    expect(c.http.port).toBe(9090);
    expect(c.log.level).toBe("debug");
    expect(c.domains).toEqual(["example.org", "example.net"]);
    expect(c.database.url).toBe("postgres://u@db:5432/push");
  });

  it("derives the publishing server's domain from the component domain", () => {
    expect(loadConfig({ env: { XMPP_PUSH_COMPONENT_DOMAIN: "push.example.org" } }).domains).toEqual(["example.org"]);
  });

  it("reads secrets from files (_FILE variables and *File keys), for Kubernetes secrets", () => {
    const secretFile = file("component-secret", "from-a-file\n");
    const keyFile = file("AuthKey.p8", P8);
    const cfg = file(
      "apps.yaml",
      `apps:\n  - id: chat\n    apns:\n      bundleId: org.example.chat\n      teamId: ABCDE12345\n      keyId: KEY1234567\n      keyFile: ${keyFile}\n`,
    );
    const c = loadConfig({ env: { XMPP_PUSH_COMPONENT_SECRET_FILE: secretFile }, file: cfg });
    expect(c.component.secret).toBe("from-a-file");
    expect(c.apps[0]?.apns?.key).toBe(P8);
    expect(c.apps[0]?.strategy).toEqual({ providers: ["apns"], mode: "fallback" });
  });

  it("reads JSON config files too", () => {
    const c = loadConfig({ env: {}, file: file("c.json", JSON.stringify({ http: { port: 8181 } })) });
    expect(c.http.port).toBe(8181);
  });

  it("lists every problem at once, each with its path and reason", () => {
    const cfg = file(
      "three.yaml",
      [
        "component:",
        "  domian: push.example.org", // typo
        "apps:",
        "  - id: chat",
        "    strategy: { providers: [apns, jpush] }", // jpush not configured
        "    apns: { bundleId: org.example.chat, teamId: short, keyId: KEY1234567, key: not-a-pem }",
      ].join("\n"),
    );
    const problems = problemsOf(() => loadConfig({ env: { XMPP_PUSH_HTTP_PORT: "eighty" }, file: cfg }));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^component: unknown setting "domian"/),
        expect.stringMatching(/^http\.port \(XMPP_PUSH_HTTP_PORT\): /),
        expect.stringMatching(/^apps\[0\]\.apns\.teamId: must be the 10-character Apple Team ID/),
        expect.stringMatching(/^apps\[0\]\.apns\.key: must be a PEM private key/),
        expect.stringMatching(/^apps\[0\]\.strategy\.providers\[1\]: lists jpush but the app has no jpush section/),
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it("rejects unknown XMPP_PUSH_ variables (typos) and both a value and its _FILE", () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: { XMPP_PUSH_COMPONENT_SECERT: "x", XMPP_PUSH_COMPONENT_SECRET: "a", XMPP_PUSH_COMPONENT_SECRET_FILE: "/nonexistent" },
      }),
    );
    expect(problems).toEqual([
      "XMPP_PUSH_COMPONENT_SECRET and XMPP_PUSH_COMPONENT_SECRET_FILE: give one, not both",
      expect.stringMatching(/^XMPP_PUSH_COMPONENT_SECERT: unknown variable/),
    ]);
  });

  it("ignores the service-link variables Kubernetes injects for a Service named xmpp-push, and only those", () => {
    const injected = {
      XMPP_PUSH_SERVICE_HOST: "10.96.12.7",
      XMPP_PUSH_SERVICE_PORT: "8080",
      XMPP_PUSH_SERVICE_PORT_HTTP: "8080",
      XMPP_PUSH_PORT: "tcp://10.96.12.7:8080",
      XMPP_PUSH_PORT_8080_TCP: "tcp://10.96.12.7:8080",
      XMPP_PUSH_PORT_8080_TCP_PROTO: "tcp",
      XMPP_PUSH_PORT_8080_TCP_PORT: "8080",
      XMPP_PUSH_PORT_8080_TCP_ADDR: "10.96.12.7",
    };
    expect(loadConfig({ env: { ...injected, XMPP_PUSH_COMPONENT_DOMAIN: "push.example.org" } }).component.domain).toBe("push.example.org");
    // A person's guess at a setting is still refused, even inside the family's names.
    expect(problemsOf(() => loadConfig({ env: { ...injected, XMPP_PUSH_PORT: "9090" } }))).toEqual([
      expect.stringMatching(/^XMPP_PUSH_PORT: unknown variable/),
    ]);
    expect(problemsOf(() => loadConfig({ env: { XMPP_PUSH_SERVICE_PORT: "http" } }))).toEqual([
      expect.stringMatching(/^XMPP_PUSH_SERVICE_PORT: unknown variable/),
    ]);
    expect(problemsOf(() => loadConfig({ env: { XMPP_PUSH_SERVICE_HOSTNAME: "push.local" } }))).toEqual([
      expect.stringMatching(/^XMPP_PUSH_SERVICE_HOSTNAME: unknown variable/),
    ]);
    expect(problemsOf(() => loadConfig({ env: { XMPP_PUSH_PORT_8080_HTTP: "tcp://10.0.0.1:8080" } }))).toEqual([
      expect.stringMatching(/unknown variable/),
    ]);
  });

  it("says which file it could not read or parse", () => {
    expect(problemsOf(() => loadConfig({ env: {}, file: join(dir, "missing.yaml") }))).toEqual([
      expect.stringMatching(/missing\.yaml: cannot be read \(ENOENT\)/),
    ]);
    expect(problemsOf(() => loadConfig({ env: {}, file: file("bad.yaml", "a: [1, 2\n") }))[0]).toMatch(/bad\.yaml: not valid YAML/);
  });

  it("needs complete APNs credentials and unique app ids", () => {
    const cfg = file(
      "apps2.yaml",
      "apps:\n  - id: a\n    apns: { bundleId: org.x, teamId: ABCDE12345 }\n  - id: a\n    jpush: { appKey: abcdefghijklmnopqrstuvwx, masterSecret: abcdefghijklmnopqrstuvwx }\n",
    );
    const problems = problemsOf(() => loadConfig({ env: {}, file: cfg }));
    expect(problems).toEqual(
      expect.arrayContaining([
        "apps[0].apns.keyId: is required for token (.p8) auth",
        "apps[0].apns.key: is required for token (.p8) auth",
        'apps[1].id: duplicate app id "a"',
      ]),
    );
  });

  it("prints a redacted copy for operators", () => {
    const c = loadConfig({ env: { XMPP_PUSH_COMPONENT_SECRET: "hunter2-component", DATABASE_URL: "postgres://u:pw@db/x" } });
    const text = JSON.stringify(redactedConfig(c));
    expect(text).not.toContain("hunter2-component");
    expect(text).not.toContain("pw@db");
    expect(text).toContain("push.localhost");
  });
});
