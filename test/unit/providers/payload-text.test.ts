import { describe, expect, it } from "vitest";
import type { Notification } from "../../../src/domain/notification.js";
import type { PushContent } from "../../../src/ports/push-provider.js";
import { alertText, bareSender, ELLIPSIS, revealedContent, shortHash, trimToFit } from "../../../src/providers/payload-text.js";

const generic: PushContent = { title: "New message", body: "You have a new message", includeMessageContent: false };
const optedIn: PushContent = { ...generic, includeMessageContent: true };
const push = (content: PushContent, n: Partial<Notification> = {}) => ({
  content,
  notification: {
    priority: "high" as const,
    call: false,
    lastMessageSender: "bob@example.org/phone",
    lastMessageBody: "secret plans",
    ...n,
  },
});
const bytes = (s: string) => Buffer.byteLength(s, "utf8");

describe("shown text (privacy)", () => {
  it("keeps sender and body from the provider unless the admin opted in", () => {
    expect(revealedContent(push(generic))).toEqual({});
    expect(alertText(push(generic))).toEqual({ title: "New message", body: "You have a new message" });
  });

  it("shows the sender's bare JID as title and the message as body when the admin opted in", () => {
    expect(revealedContent(push(optedIn))).toEqual({ sender: "bob@example.org", body: "secret plans" });
    expect(alertText(push(optedIn))).toEqual({ title: "bob@example.org", body: "secret plans" });
  });

  it("falls back to the generic text for whatever the summary lacks", () => {
    expect(alertText(push(optedIn, { lastMessageSender: undefined, lastMessageBody: "" }))).toEqual({
      title: "New message",
      body: "You have a new message",
    });
    expect(alertText(push(optedIn, { lastMessageSender: "/res" }))).toEqual({ title: "New message", body: "secret plans" });
  });

  it("groups by contact, not by the contact's device", () => {
    expect(bareSender(push(generic))).toBe("bob@example.org");
    expect(bareSender(push(generic, { lastMessageSender: "alice@example.org" }))).toBe("alice@example.org");
    expect(bareSender(push(generic, { lastMessageSender: undefined }))).toBeUndefined();
  });
});

describe("trimToFit", () => {
  it("returns text that fits unchanged", () => {
    expect(trimToFit("hello", 0)).toBe("hello");
    expect(trimToFit("hello", -10)).toBe("hello");
  });

  it("makes up the overflow, ellipsis included, without splitting a character", () => {
    const text = "ü".repeat(100); // 200 bytes
    for (const overflow of [1, 2, 3, 50, 151]) {
      const out = trimToFit(text, overflow);
      expect(out.endsWith(ELLIPSIS)).toBe(true);
      expect(bytes(out)).toBeLessThanOrEqual(bytes(text) - overflow);
      expect(out.slice(0, -1)).toMatch(/^ü*$/);
    }
  });

  it("never cuts below the floor, and cuts to nothing when nothing of it can stay", () => {
    const text = "x".repeat(200);
    expect(trimToFit(text, 190, 64)).toBe("x".repeat(64) + ELLIPSIS);
    expect(trimToFit("short", 100, 64)).toBe("short");
    expect(trimToFit(text, 500)).toBe("");
  });
});

describe("shortHash", () => {
  it("is a stable hex prefix of SHA-256 that does not reveal its input", () => {
    const h = shortHash("node:abc");
    expect(h).toMatch(/^[0-9a-f]{32}$/);
    expect(shortHash("node:abc")).toBe(h);
    expect(shortHash("node:abd")).not.toBe(h);
    expect(shortHash("node:abc", 16)).toBe(h.slice(0, 16));
    expect(h).not.toContain("abc");
  });
});
