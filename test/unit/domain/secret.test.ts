import { describe, expect, it } from "vitest";
import { generateNode, generateSecret, hashSecret, secretMatches, tokenFingerprint, tokensEqual } from "../../../src/domain/secret.js";
import { createTokenCipher } from "../../../src/store/token-cipher.js";
import { withCharChanged } from "../../support/tamper.js";

describe("secrets", () => {
  it("makes random, URL-safe nodes and secrets", () => {
    const nodes = new Set(Array.from({ length: 200 }, generateNode));
    expect(nodes.size).toBe(200);
    for (const n of nodes) expect(n).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(generateSecret()).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it("checks a secret against its stored hash only", () => {
    const secret = generateSecret();
    const stored = hashSecret(secret);
    expect(stored).not.toContain(secret);
    expect(secretMatches(secret, stored)).toBe(true);
    expect(secretMatches(`${secret}x`, stored)).toBe(false);
    expect(secretMatches("", stored)).toBe(false);
    expect(secretMatches(secret, "not-hex")).toBe(false);
  });

  it("fingerprints tokens without revealing them", () => {
    expect(tokenFingerprint("abcdef0123456789")).toMatch(/^[0-9a-f]{12}$/);
    expect(tokenFingerprint("abcdef0123456789")).not.toContain("abcdef0123");
    expect(tokensEqual("same-token-value", "same-token-value")).toBe(true);
    expect(tokensEqual("same-token-value", "other")).toBe(false);
  });

  it("seals tokens with AES-GCM and reads old plaintext rows", () => {
    const cipher = createTokenCipher(Buffer.alloc(32, 1).toString("base64"));
    const sealed = cipher.seal("device-token");
    expect(sealed).not.toContain("device-token");
    expect(cipher.seal("device-token")).not.toBe(sealed);
    expect(cipher.open(sealed)).toBe("device-token");
    expect(cipher.open("legacy-plain-token")).toBe("legacy-plain-token");
    const tampered = withCharChanged(sealed);
    expect(() => cipher.open(tampered)).toThrow();
  });
});
