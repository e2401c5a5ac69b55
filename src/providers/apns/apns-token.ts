import { createPrivateKey, sign, type KeyObject } from "node:crypto";
import type { Clock } from "../../ports/clock.js";

// The provider authentication token APNs takes instead of a client certificate: a JWT signed with the
// team's .p8 key (ES256), sent as `authorization: bearer <jwt>` (docs/provider-internals.md "APNs").
// Apple refuses a token older than an hour (403 ExpiredProviderToken) and one renewed more often than
// every 20 minutes (429 TooManyProviderTokenUpdates), so one token serves every request for 50 minutes.

export interface ProviderToken {
  /** The header value, `bearer <jwt>`, and which token it is. */
  current(): { readonly header: string; readonly generation: number };
  /** APNs called that token expired: the next current() mints a new one (once, however many said so). */
  expired(generation: number): void;
}

const LIFETIME_MS = 50 * 60_000;

export function createProviderToken({
  key,
  keyId,
  teamId,
  clock,
}: {
  key: string;
  keyId: string;
  teamId: string;
  clock: Clock;
}): ProviderToken {
  // Parsed once: a KeyObject signs without re-reading the PEM.
  const privateKey: KeyObject = createPrivateKey(key);
  const header = base64url({ alg: "ES256", kid: keyId });
  let token: { header: string; generation: number; mintedAt: number } | undefined;
  let generation = 0;

  const mint = (now: number) => {
    const input = `${header}.${base64url({ iss: teamId, iat: Math.floor(now / 1000) })}`;
    // JWS wants the raw r||s signature (IEEE P1363), not node's default DER.
    const signature = sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url");
    generation += 1;
    token = { header: `bearer ${input}.${signature}`, generation, mintedAt: now };
    return token;
  };

  return {
    current() {
      const now = clock.now().getTime();
      return token !== undefined && now - token.mintedAt < LIFETIME_MS ? token : mint(now);
    },
    expired(which) {
      if (token?.generation === which) token = undefined;
    },
  };
}

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
