import { hash, randomBytes, timingSafeEqual } from "node:crypto";

// Generated nodes and publish secrets are random (CSPRNG), URL-safe and high-entropy; a dialect may
// bring its own node (mod_push_appserver, fpush), never its own secret. A secret is handed out once, at
// registration, and stored only as a sha256 hash: a 192-bit random secret needs no slow KDF, and the hash
// is checked on every publish. Hashing is the one-shot crypto.hash(): createHash() builds a stream-backed
// Hash object per call, which showed up in the publish path's CPU profile (~13 µs a publish at 200/s,
// where the whole path is cold between publishes).

export function generateNode(): string {
  return randomBytes(15).toString("base64url"); // 20 characters
}

export function generateSecret(): string {
  return randomBytes(24).toString("base64url"); // 32 characters
}

export function hashSecret(secret: string): string {
  return hash("sha256", secret, "hex");
}

/** Constant-time comparison on hashes, so neither length nor content of the stored secret leaks. */
export function secretMatches(candidate: string, storedHash: string): boolean {
  const a = hash("sha256", candidate, "buffer");
  const b = Buffer.from(storedHash, "hex");
  return b.length === a.length && timingSafeEqual(a, b);
}

/** A short, stable stand-in for a device token in logs and admin views: never the token itself. */
export function tokenFingerprint(token: string): string {
  return hash("sha256", token, "hex").slice(0, 12);
}

/** Constant-time equality for bearer tokens. */
export function tokensEqual(a: string, b: string): boolean {
  const ha = hash("sha256", a, "buffer");
  const hb = hash("sha256", b, "buffer");
  return timingSafeEqual(ha, hb);
}
