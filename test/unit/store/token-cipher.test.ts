import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createTokenCipher, tokenKeyId, UnreadableTokenError } from "../../../src/store/token-cipher.js";
import { withCharChanged } from "../../support/tamper.js";

const K1 = Buffer.alloc(32, 1).toString("base64");
const K2 = Buffer.alloc(32, 2).toString("base64");
const TOKEN = "ab".repeat(32);

/** The form releases before key ids wrote. */
function legacySeal(key: string, token: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", Buffer.from(key, "base64"), iv);
  const body = Buffer.concat([c.update(token, "utf8"), c.final()]);
  return `enc1:${Buffer.concat([iv, c.getAuthTag(), body]).toString("base64url")}`;
}

describe("token cipher with key ids", () => {
  it("names the key in what it seals, and only the current form counts as current", () => {
    const cipher = createTokenCipher(K2, [K1]);
    const sealed = cipher.seal(TOKEN);
    expect(sealed.startsWith(`enc2:${tokenKeyId(K2)}:`)).toBe(true);
    expect(cipher.keyId).toBe(tokenKeyId(K2));
    expect(cipher.isCurrent(sealed)).toBe(true);
    expect(cipher.isCurrent(createTokenCipher(K1).seal(TOKEN))).toBe(false);
    expect(cipher.isCurrent(legacySeal(K2, TOKEN))).toBe(false);
    expect(cipher.isCurrent(TOKEN)).toBe(false);
  });

  it("opens rows of the previous key and today's enc1 rows with either key", () => {
    const cipher = createTokenCipher(K2, [K1]);
    expect(cipher.open(createTokenCipher(K1).seal(TOKEN))).toBe(TOKEN);
    expect(cipher.open(legacySeal(K1, TOKEN))).toBe(TOKEN);
    expect(cipher.open(legacySeal(K2, TOKEN))).toBe(TOKEN);
    expect(cipher.open(TOKEN)).toBe(TOKEN); // written before any key
  });

  it("fails per value with an error that names key ids, never keys or data", () => {
    const cipher = createTokenCipher(K2);
    const other = createTokenCipher(K1).seal(TOKEN);
    expect(() => cipher.open(other)).toThrow(UnreadableTokenError);
    expect(() => cipher.open(other)).toThrow(
      `sealed with token key ${tokenKeyId(K1)}, which is not configured (configured: ${tokenKeyId(K2)})`,
    );
    expect(() => cipher.open(legacySeal(K1, TOKEN))).toThrow(/none of the configured token keys opens it/);
    const damaged = withCharChanged(cipher.seal(TOKEN));
    expect(() => cipher.open(damaged)).toThrow(/does not decrypt: the row is damaged/);
    try {
      cipher.open(other);
    } catch (err) {
      expect(String(err)).not.toContain(K1);
      expect(String(err)).not.toContain(TOKEN);
    }
  });

  it("without a key stores tokens as given and refuses encrypted ones", () => {
    const plain = createTokenCipher(undefined);
    expect(plain.seal(TOKEN)).toBe(TOKEN);
    expect(plain.keyId).toBeUndefined();
    expect(() => plain.open(createTokenCipher(K1).seal(TOKEN))).toThrow(/no tokenEncryptionKey is configured/);
  });
});
