import { describe, expect, it } from "vitest";
import type { Notification } from "../../../src/domain/notification.js";
import type { PushAttempt } from "../../../src/ports/push-provider.js";
import { buildFcmMessage, MAX_MESSAGE_BYTES, MAX_TTL_S } from "../../../src/providers/fcm/fcm-payload.js";

const NOW = Date.UTC(2026, 10, 29);
const attempt = (n: Partial<Notification> = {}, over: Partial<PushAttempt> = {}): PushAttempt => ({
  pushId: "0b8f1c5e-2f35-4e1b-9d7a-3c1e2b4a5d6f",
  node: "node-1",
  attempt: 1,
  address: { provider: "fcm", token: "fcm-token-1", updatedAtMs: new Date(NOW).getTime() },
  notification: { priority: "high", call: false, lastMessageSender: "bob@example.org/phone", lastMessageBody: "secret plans", ...n },
  content: { title: "New message", body: "New message", includeMessageContent: false },
  data: { account: "f00d" },
  expiresAt: new Date(NOW + 600_000),
  signal: new AbortController().signal,
  ...over,
});
const size = (m: unknown) => Buffer.byteLength(JSON.stringify({ message: m }), "utf8");

describe("FCM message", () => {
  it("is data-only, without sender or body unless the admin opted in, one pending wake-up per node", () => {
    const m = buildFcmMessage(attempt(), NOW);
    expect(m).toEqual({
      token: "fcm-token-1",
      data: { account: "f00d", priority: "high" },
      android: { priority: "HIGH", ttl: "600s", collapse_key: expect.stringMatching(/^[0-9a-f]{16}$/) },
    });
  });

  it("carries the bare sender and the body when the admin opted in, and does not collapse", () => {
    const m = buildFcmMessage(attempt({}, { content: { title: "t", body: "b", includeMessageContent: true } }), NOW);
    expect(m.data).toMatchObject({ sender: "bob@example.org", body: "secret plans" });
    expect(m.android.collapse_key).toBeUndefined();
  });

  it("wakes a chat-state push at NORMAL priority without message content", () => {
    const m = buildFcmMessage(attempt({ priority: "low" }, { content: { title: "t", body: "b", includeMessageContent: true } }), NOW);
    expect(m.android.priority).toBe("NORMAL");
    expect(m.data.body).toBeUndefined();
  });

  it("caps the time to live at four weeks and never goes negative", () => {
    expect(buildFcmMessage(attempt({}, { expiresAt: new Date(NOW + 365 * 86_400_000) }), NOW).android.ttl).toBe(`${MAX_TTL_S}s`);
    expect(buildFcmMessage(attempt({}, { expiresAt: new Date(NOW - 1000) }), NOW).android.ttl).toBe("0s");
  });

  it("trims an oversized body instead of letting FCM reject the message", () => {
    const m = buildFcmMessage(
      attempt({ lastMessageBody: "ü".repeat(5000) }, { content: { title: "t", body: "b", includeMessageContent: true } }),
      NOW,
    );
    expect(size(m)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(size(m)).toBeGreaterThan(MAX_MESSAGE_BYTES - 100);
    expect(m.data.body).toMatch(/^ü+…$/);
  });
});
