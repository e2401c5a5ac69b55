import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/** Encrypts device tokens at rest when a key is configured; a no-op otherwise. */
export interface TokenCipher {
  seal(token: string): string;
  open(stored: string): string;
}

const PREFIX = "enc1:";

export function createTokenCipher(base64Key: string | undefined): TokenCipher {
  if (base64Key === undefined) {
    return {
      seal: (token) => token,
      open: (stored) => {
        if (stored.startsWith(PREFIX)) {
          throw new Error("device tokens in the database are encrypted but no tokenEncryptionKey is configured");
        }
        return stored;
      },
    };
  }
  const key = Buffer.from(base64Key, "base64");
  return {
    seal(token) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
      return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
    },
    open(stored) {
      // Rows written before the key was configured stay readable; they are sealed on their next update.
      if (!stored.startsWith(PREFIX)) return stored;
      const raw = Buffer.from(stored.slice(PREFIX.length), "base64url");
      const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
    },
  };
}

/** Deterministic lookup key for a token, so tokens can be found without decrypting every row. */
export function tokenLookupHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
