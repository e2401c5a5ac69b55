import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/observability/logger.js";
import { loadConfig } from "../../../src/config/load-config.js";
import type { Registration } from "../../../src/domain/registration.js";

function capture(pretty = false) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger({ level: "trace", destination, pretty }), text: () => lines.join("") };
}

const registration: Registration = {
  node: "n0de",
  app: "chat",
  ownerJid: "alice@example.org",
  deviceId: "phone",
  channel: "",
  dialect: "p2",
  secretHash: "hash-of-the-secret",
  addresses: [
    { provider: "apns", token: "APNS-DEVICE-TOKEN-123", voipToken: "VOIP-TOKEN-456", environment: "sandbox", updatedAtMs: Date.now() },
    { provider: "jpush", token: "JPUSH-REGID-789", updatedAtMs: Date.now() },
  ],
  createdAtMs: Date.now(),
  updatedAtMs: Date.now(),
};

describe("logger", () => {
  it("never prints a device token or secret hash when a registration is logged", () => {
    const { log, text } = capture();
    log.info({ registration }, "registered");
    log.debug({ reg: { nested: { deeper: registration } } }, "nested");
    const out = text();
    for (const s of ["APNS-DEVICE-TOKEN-123", "VOIP-TOKEN-456", "JPUSH-REGID-789", "hash-of-the-secret"]) expect(out).not.toContain(s);
    expect(out).toContain("n0de");
    expect(out).toContain("[redacted]");
  });

  it("never prints credentials when the config is logged", () => {
    const { log, text } = capture();
    const config = loadConfig({
      env: { XMPP_PUSH_COMPONENT_SECRET: "component-secret-xyz", XMPP_PUSH_ADMIN_TOKEN: "admin-token-0123456789" },
    });
    log.info({ config }, "config");
    expect(text()).not.toContain("component-secret-xyz");
    expect(text()).not.toContain("admin-token-0123456789");
    expect(text()).toContain("push.localhost");
  });

  it("redacts credentials inside logged errors (e.g. an HTTP client error carrying its request headers)", () => {
    const { log, text } = capture();
    const err = Object.assign(new Error("Request failed with status code 401"), {
      config: { headers: { Authorization: "Basic c2VjcmV0OnNlY3JldA==" }, auth: { username: "appkey", password: "master-secret-abc" } },
    });
    log.warn({ err }, "provider call failed");
    expect(text()).not.toContain("c2VjcmV0OnNlY3JldA==");
    expect(text()).not.toContain("master-secret-abc");
    expect(text()).toContain("Request failed with status code 401");
  });
});

describe("logs for a person at a terminal", () => {
  it("prints time, level and message on one line, fields below, and still redacts secrets", () => {
    const { log, text } = capture(true);
    log.warn({ app: "chat", provider: "apns", token: "APNS-DEVICE-TOKEN-123" }, "apns is failing for app chat");
    expect(text()).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] WARN: apns is failing for app chat\n/);
    expect(text()).toMatch(/\n\s+app: "chat"\n/);
    expect(text()).toContain('token: "[redacted]"');
    expect(text()).not.toContain("APNS-DEVICE-TOKEN-123");
    expect(text()).not.toMatch(/^\{/m);
  });

  it("stays JSON when not asked (containers, pipes, files: stdout is no terminal here)", () => {
    const { log, text } = capture();
    log.info({ app: "chat" }, "started");
    expect(JSON.parse(text().trim())).toMatchObject({ level: "info", app: "chat", msg: "started" });
  });
});
