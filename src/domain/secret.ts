import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

// Generated nodes and publish secrets are random (CSPRNG), URL-safe and high-entropy; a dialect may
// bring its own node (mod_push_appserver, fpush), never its own secret. A secret is handed out once, at
// registration, and stored only as a sha256 hash: a 192-bit random secret needs no slow KDF, and the hash
// is checked on every publish.

export function generateNode(): string {
  return randomBytes(15).toString("base64url"); // 20 characters
}

export function generateSecret(): string {
  return randomBytes(24).toString("base64url"); // 32 characters
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Constant-time comparison on hashes, so neither length nor content of the stored secret leaks. */
export function secretMatches(candidate: string, storedHash: string): boolean {
  const a = createHash("sha256").update(candidate, "utf8").digest();
  const b = Buffer.from(storedHash, "hex");
  return b.length === a.length && timingSafeEqual(a, b);
}

/** A short, stable stand-in for a device token in logs and admin views: never the token itself. */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex").slice(0, 12);
}

/** Constant-time equality for bearer tokens. */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb);
}
