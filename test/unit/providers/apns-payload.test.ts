import { describe, expect, it } from "vitest";
import type { Notification } from "../../../src/domain/notification.js";
import type { PushAttempt } from "../../../src/ports/push-provider.js";
import { buildApnsRequest, MAX_PAYLOAD_BYTES, MAX_VOIP_PAYLOAD_BYTES } from "../../../src/providers/apns/apns-payload.js";
import { truncateUtf8 } from "../../../src/shared/truncate-utf8.js";

const NOW = 1_800_000_000;
const settings = { bundleId: "org.example.chat", voip: true, alertExpirySeconds: 3600 };
const attempt = (n: Partial<Notification> = {}, over: Partial<PushAttempt> = {}): PushAttempt => ({
  pushId: "0b8f1c5e-2f35-4e1b-9d7a-3c1e2b4a5d6f",
  node: "node-1",
  attempt: 1,
  address: { provider: "apns", token: "ab".repeat(32), environment: "production", updatedAtMs: Date.now() },
  notification: {
    priority: "high",
    call: false,
    messageCount: 1,
    lastMessageSender: "bob@example.org/phone",
    lastMessageBody: "secret plans",
    ...n,
  },
  content: { title: "New message", body: "New message", includeMessageContent: false },
  data: { account: "f00d" },
  expiresAt: new Date(),
  signal: new AbortController().signal,
  ...over,
});

describe("APNs request", () => {
  it("is an alert with mutable-content and a generic text by default (privacy)", () => {
    const r = buildApnsRequest(attempt(), settings, NOW);
    expect(r).toMatchObject({
      pushType: "alert",
      priority: 10,
      topic: "org.example.chat",
      expiry: NOW + 3600,
      id: attempt().pushId,
      token: "ab".repeat(32),
    });
    expect(r.payload).toEqual({
      aps: {
        alert: { title: "New message", body: "New message" },
        sound: "default",
        "mutable-content": 1,
        badge: 1,
        "thread-id": expect.stringMatching(/^[0-9a-f]{32}$/),
      },
      account: "f00d",
    });
    expect(JSON.stringify(r)).not.toContain("bob@example.org");
    expect(JSON.stringify(r)).not.toContain("secret plans");
    // Generic pushes of one device collapse into one notification.
    expect(r.collapseId).toBe(buildApnsRequest(attempt({}, { pushId: "another" }), settings, NOW).collapseId);
  });

  it("shows sender and body when the app opts in, one thread per sender", () => {
    const r = buildApnsRequest(attempt({}, { content: { title: "t", body: "b", includeMessageContent: true } }), settings, NOW);
    expect((r.payload.aps as { alert: unknown }).alert).toEqual({ title: "bob@example.org", body: "secret plans" });
    expect(r.collapseId).toBe(attempt().pushId);
    const other = buildApnsRequest(
      attempt({ lastMessageSender: "carol@example.org" }, { content: { title: "t", body: "b", includeMessageContent: true } }),
      settings,
      NOW,
    );
    expect((other.payload.aps as Record<string, unknown>)["thread-id"]).not.toBe((r.payload.aps as Record<string, unknown>)["thread-id"]);
  });

  it("is a silent background push at priority 5 for a chat state, or for a device that asked for background pushes", () => {
    for (const r of [
      buildApnsRequest(attempt({ priority: "low", lastMessageBody: undefined }), settings, NOW),
      buildApnsRequest(
        attempt({}, { address: { provider: "apns", token: "cd".repeat(32), pushType: "background", updatedAtMs: Date.now() } }),
        settings,
        NOW,
      ),
    ]) {
      expect(r).toMatchObject({ pushType: "background", priority: 5 });
      expect(r.payload).toEqual({ aps: { "content-available": 1 }, account: "f00d" });
    }
  });

  it("sends a VoIP push to the PushKit token only for a call, only when enabled", () => {
    const withVoip = { provider: "apns" as const, token: "ab".repeat(32), voipToken: "ef".repeat(32), updatedAtMs: Date.now() };
    const call = buildApnsRequest(
      attempt({ call: true, encrypted: { payload: "c2VjcmV0", iv: "aXY=" } }, { address: withVoip }),
      settings,
      NOW,
    );
    expect(call).toMatchObject({
      pushType: "voip",
      priority: 10,
      topic: "org.example.chat.voip",
      token: "ef".repeat(32),
      expiry: NOW + 30,
    });
    expect(call.payload).toEqual({ account: "f00d", encrypted: "c2VjcmV0", iv: "aXY=", call: true });
    expect(buildApnsRequest(attempt({ call: false }, { address: withVoip }), settings, NOW).pushType).toBe("alert");
    expect(buildApnsRequest(attempt({ call: true }, { address: withVoip }), { ...settings, voip: false }, NOW).pushType).toBe("alert");
    expect(buildApnsRequest(attempt({ call: true }), settings, NOW).pushType).toBe("alert");
  });

  it("trims an oversized body instead of letting APNs reject the push", () => {
    const long = "ü".repeat(5000);
    const r = buildApnsRequest(
      attempt({ lastMessageBody: long }, { content: { title: "t", body: "b", includeMessageContent: true } }),
      settings,
      NOW,
    );
    const bytes = Buffer.byteLength(JSON.stringify(r.payload));
    expect(bytes).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    expect(bytes).toBeGreaterThan(MAX_PAYLOAD_BYTES - 100);
    expect((r.payload.aps as { alert: { body: string } }).alert.body).toMatch(/^ü+…$/);
    const voip = buildApnsRequest(
      attempt(
        { call: true, encrypted: { payload: "x".repeat(9000), iv: "aXY=" } },
        { address: { provider: "apns", token: "ab".repeat(32), voipToken: "ef".repeat(32), updatedAtMs: Date.now() } },
      ),
      settings,
      NOW,
    );
    expect(Buffer.byteLength(JSON.stringify(voip.payload))).toBeLessThanOrEqual(MAX_VOIP_PAYLOAD_BYTES);
    expect(voip.payload).toMatchObject({ account: "f00d", call: true });
  });

  it("never splits a UTF-8 character", () => {
    expect(truncateUtf8("aé€😀", 1)).toBe("a");
    expect(truncateUtf8("aé€😀", 3)).toBe("aé");
    expect(truncateUtf8("aé€😀", 8)).toBe("aé€");
    expect(truncateUtf8("abc", 10)).toBe("abc");
  });
});
