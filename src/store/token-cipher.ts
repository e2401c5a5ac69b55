import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/**
 * Encrypts device tokens at rest when a key is configured; a no-op otherwise.
 *
 * Stored forms: `enc2:<key id>:<iv|tag|ciphertext, base64url>` (sealed now), `enc1:<iv|tag|ciphertext>`
 * (sealed before key ids existed: still read, with whichever configured key opens it), or the plain
 * token (written while no key was configured). The key id is a short hash of the key: it names which
 * key a row needs without revealing anything about the key.
 */
export interface TokenCipher {
  seal(token: string): string;
  /** The token; throws UnreadableTokenError when no configured key opens it. */
  open(stored: string): string;
  /** Whether the stored value is in the form seal() writes now (rows rotate-key still has to rewrite are not). */
  isCurrent(stored: string): boolean;
  /** Id of the key seal() uses; undefined when tokens are stored as given. */
  readonly keyId: string | undefined;
}

/** A stored token no configured key can open. The message names key ids only, never data. */
export class UnreadableTokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnreadableTokenError";
  }
}

const LEGACY_PREFIX = "enc1:";
const PREFIX = "enc2:";

export function tokenKeyId(base64Key: string): string {
  return createHash("sha256").update("xmpp-push token key id\u0000").update(Buffer.from(base64Key, "base64")).digest("hex").slice(0, 8);
}

/**
 * `key` seals and opens; each of `previousKeys` only opens (a rotation: old rows stay readable until
 * `xmpp-push rotate-key` has rewritten them with the new key).
 */
export function createTokenCipher(key: string | undefined, previousKeys: readonly string[] = []): TokenCipher {
  const keys = new Map<string, Buffer>();
  for (const k of [key, ...previousKeys]) if (k !== undefined) keys.set(tokenKeyId(k), Buffer.from(k, "base64"));
  const currentId = key === undefined ? undefined : tokenKeyId(key);

  const decrypt = (raw: Buffer, k: Buffer) => {
    const decipher = createDecipheriv("aes-256-gcm", k, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
  };

  const openCurrentForm = (stored: string) => {
    const sep = stored.indexOf(":", PREFIX.length);
    const id = stored.slice(PREFIX.length, sep);
    const k = sep > 0 ? keys.get(id) : undefined;
    if (k === undefined) throw new UnreadableTokenError(`sealed with token key ${id || "?"}, which is not configured${describeKeys()}`);
    try {
      return decrypt(Buffer.from(stored.slice(sep + 1), "base64url"), k);
    } catch {
      throw new UnreadableTokenError(`sealed with token key ${id} but does not decrypt: the row is damaged`);
    }
  };

  const openLegacyForm = (stored: string) => {
    const raw = Buffer.from(stored.slice(LEGACY_PREFIX.length), "base64url");
    // No key id in this form: the GCM tag tells whether a key is the right one.
    for (const k of keys.values()) {
      try {
        return decrypt(raw, k);
      } catch {
        // not this key
      }
    }
    throw new UnreadableTokenError(`sealed before key ids existed, and none of the configured token keys opens it${describeKeys()}`);
  };

  const describeKeys = () => (keys.size === 0 ? " (no tokenEncryptionKey is configured)" : ` (configured: ${[...keys.keys()].join(", ")})`);

  return {
    keyId: currentId,
    seal(token) {
      if (currentId === undefined) return token;
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", keys.get(currentId)!, iv);
      const body = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
      return `${PREFIX}${currentId}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url")}`;
    },
    open(stored) {
      if (stored.startsWith(PREFIX)) return openCurrentForm(stored);
      if (stored.startsWith(LEGACY_PREFIX)) return openLegacyForm(stored);
      // Rows written before a key was configured stay readable; rotate-key (or their next update) seals them.
      return stored;
    },
    isCurrent(stored) {
      if (currentId === undefined) return !stored.startsWith(PREFIX) && !stored.startsWith(LEGACY_PREFIX);
      return stored.startsWith(`${PREFIX}${currentId}:`);
    },
  };
}

/** Deterministic lookup key for a token, so tokens can be found without decrypting every row. */
export function tokenLookupHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The cipher the configuration asks for: the current key, and the previous one during a rotation. */
export function tokenCipherFor(config: {
  readonly tokenEncryptionKey?: string | undefined;
  readonly tokenEncryptionPreviousKey?: string | undefined;
}): TokenCipher {
  return createTokenCipher(
    config.tokenEncryptionKey,
    config.tokenEncryptionPreviousKey === undefined ? [] : [config.tokenEncryptionPreviousKey],
  );
}
