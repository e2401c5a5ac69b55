import { describe, expect, it } from "vitest";
import { isWellFormedToken, normalizeToken } from "../../../src/domain/device-token.js";
import { bareJid, domainOf } from "../../../src/domain/jid.js";

describe("device token rules", () => {
  it("takes APNs tokens of 32 to 100 bytes in hex, either case, and nothing shorter", () => {
    expect(isWellFormedToken("apns", "ab".repeat(32))).toBe(true);
    expect(isWellFormedToken("apns", "AB".repeat(100))).toBe(true);
    // A client-chosen node of 32 hex digits stays a node: fpush would otherwise take it for a token.
    expect(isWellFormedToken("apns", "ab".repeat(16))).toBe(false);
    expect(isWellFormedToken("apns", "ab".repeat(101))).toBe(false);
    expect(isWellFormedToken("apns", "not hex!".padEnd(64, "0"))).toBe(false);
  });

  it("takes JPush ids with '_' and '-' up to 128 characters", () => {
    expect(isWellFormedToken("jpush", "1a0018970a8a2b0c3d4")).toBe(true);
    expect(isWellFormedToken("jpush", "jpush-regid_1")).toBe(true);
    expect(isWellFormedToken("jpush", "x".repeat(129))).toBe(false);
    expect(isWellFormedToken("jpush", "not a regid!")).toBe(false);
    expect(isWellFormedToken("jpush", "")).toBe(false);
  });

  it("takes FCM tokens of 16 to 4,096 characters", () => {
    expect(isWellFormedToken("fcm", `fcm-token:${"x".repeat(40)}`)).toBe(true);
    expect(isWellFormedToken("fcm", "short")).toBe(false);
  });

  it("stores APNs tokens in lower case and the others as sent", () => {
    expect(normalizeToken("apns", "ABCD")).toBe("abcd");
    expect(normalizeToken("jpush", "AbC")).toBe("AbC");
  });
});

describe("JID rules", () => {
  it("compares bare JIDs in lower case", () => {
    expect(bareJid("Alice@Example.COM/Phone")).toBe("alice@example.com");
    expect(bareJid("example.com")).toBe("example.com");
  });

  it("knows no JID without a domain", () => {
    expect(bareJid("")).toBeUndefined();
    expect(bareJid("/resource")).toBeUndefined();
    expect(bareJid("alice@/resource")).toBeUndefined();
  });

  it("finds the domain of accounts and of servers", () => {
    expect(domainOf("alice@Example.com/phone")).toBe("example.com");
    expect(domainOf("example.com")).toBe("example.com");
    expect(domainOf("")).toBe("");
  });
});
