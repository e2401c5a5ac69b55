import { createPrivateKey, sign, type KeyObject } from "node:crypto";
import { z } from "zod";
import type { DeliveryOutcome } from "../../domain/delivery-outcome.js";
import { raceAbort } from "../../shared/race-abort.js";
import { classifyTokenError } from "./fcm-outcomes.js";
import { parseJsonBody, transportOutcome, type HttpClient } from "../http-transport.js";

// OAuth 2.0 access tokens for FCM from a service account (docs/provider-internals.md "FCM"; Google, "Using OAuth 2.0 for
// Server to Server Applications"): an RS256 JWT assertion, signed with node:crypto (no jose or
// google-auth-library: docs/provider-internals.md "Clients"), exchanged at the token endpoint, cached until shortly before it expires.

export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
// Google accepts assertions valid for at most one hour.
const ASSERTION_LIFETIME_S = 3600;
// Refresh this long before expiry (Google's tokens live 3599 s), so no send starts with a dying token.
const REFRESH_MARGIN_S = 300;

export type AccessTokenResult =
  { readonly ok: true; readonly accessToken: string } | { readonly ok: false; readonly outcome: DeliveryOutcome };

export interface FcmAuth {
  /** A valid access token, or the outcome a push must report. Never rejects. */
  accessToken(signal: AbortSignal): Promise<AccessTokenResult>;
  /** FCM refused this token (401): forget it, unless a newer one has replaced it already. */
  invalidate(accessToken: string): void;
}

export interface FcmAuthOptions {
  readonly clientEmail: string;
  /** PEM (PKCS#8) RSA private key from the service-account JSON. */
  readonly privateKey: string;
  readonly tokenUrl: string;
  /** Its own timeout bounds the exchange. */
  readonly http: HttpClient;
  readonly now: () => number;
}

const tokenSchema = z.object({ access_token: z.string().min(1), expires_in: z.coerce.number().positive() });
const errorSchema = z.object({ error: z.string().optional(), error_description: z.string().optional() });

interface Cached {
  readonly token: string;
  /** Past this instant a refresh is due. */
  readonly refreshAt: number;
  /** Past this instant the token is useless. */
  readonly expiresAt: number;
}

export function createFcmAuth({ clientEmail, privateKey, tokenUrl, http, now }: FcmAuthOptions): FcmAuth {
  const key = readRsaKey(privateKey);
  let cached: Cached | undefined;
  // Concurrent sends share one exchange: a burst after expiry must not mint a token per push.
  let inflight: Promise<AccessTokenResult> | undefined;

  const exchange = async (): Promise<AccessTokenResult> => {
    const assertion = signServiceAccountJwt({ clientEmail, key, tokenUrl, nowSeconds: Math.floor(now() / 1000) });
    const form = new URLSearchParams({ grant_type: JWT_BEARER, assertion }).toString();
    let res;
    try {
      // Deliberately not bound to one caller's signal: other callers may be waiting on the same exchange.
      res = await http.request({
        method: "POST",
        url: tokenUrl,
        body: form,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    } catch (err) {
      // Nothing was pushed yet, so never maybeDelivered.
      return { ok: false, outcome: { class: "retry", reason: `token endpoint ${transportOutcome(err).reason ?? "network error"}` } };
    }
    const body = parseJsonBody(res.body);
    if (res.status === 200) {
      const t = tokenSchema.safeParse(body);
      if (!t.success)
        return { ok: false, outcome: { class: "retry", status: 200, reason: "token endpoint answered without an access_token" } };
      const obtained = now();
      const lifetimeS = t.data.expires_in;
      const margin = Math.min(REFRESH_MARGIN_S, lifetimeS / 2);
      cached = { token: t.data.access_token, refreshAt: obtained + (lifetimeS - margin) * 1000, expiresAt: obtained + lifetimeS * 1000 };
      return { ok: true, accessToken: t.data.access_token };
    }
    const e = errorSchema.safeParse(body);
    const error = e.success ? e.data : {};
    return {
      ok: false,
      outcome: classifyTokenError({
        httpStatus: res.status,
        ...(error.error !== undefined ? { error: error.error } : {}),
        ...(error.error_description !== undefined ? { description: error.error_description } : {}),
      }),
    };
  };

  return {
    async accessToken(signal) {
      const t = now();
      if (cached && t < cached.refreshAt) return { ok: true, accessToken: cached.token };
      inflight ??= exchange().finally(() => {
        inflight = undefined;
      });
      const result = await raceAbort(signal, inflight);
      if (result === "aborted") return { ok: false, outcome: { class: "retry", reason: "timeout waiting for an access token" } };
      // A failed refresh while the old token still lives: keep using it, the next send refreshes again.
      if (!result.ok && cached && now() < cached.expiresAt) return { ok: true, accessToken: cached.token };
      return result;
    },
    invalidate(accessToken) {
      if (cached?.token === accessToken) cached = undefined;
    },
  };
}

/** The service-account assertion: header {alg: RS256}, claims {iss, scope, aud, iat, exp}. */
export function signServiceAccountJwt({
  clientEmail,
  key,
  tokenUrl,
  nowSeconds,
}: {
  clientEmail: string;
  key: KeyObject;
  tokenUrl: string;
  nowSeconds: number;
}): string {
  const header = b64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  const claims = b64url(
    JSON.stringify({ iss: clientEmail, scope: FCM_SCOPE, aud: tokenUrl, iat: nowSeconds, exp: nowSeconds + ASSERTION_LIFETIME_S }),
  );
  const signingInput = `${header}.${claims}`;
  // RS256 = RSASSA-PKCS1-v1_5 with SHA-256, node's default padding for an RSA key.
  const signature = sign("sha256", Buffer.from(signingInput, "utf8"), key).toString("base64url");
  return `${signingInput}.${signature}`;
}

/** Fails at start-up, not at the first push, when the key cannot sign RS256 (Sygnal's PushkinSetupException). */
function readRsaKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (cause) {
    throw new Error("FCM service account private_key is not a readable PEM private key", { cause });
  }
  if (key.asymmetricKeyType !== "rsa")
    throw new Error(`FCM service account private_key must be an RSA key (RS256), not ${key.asymmetricKeyType ?? "unknown"}`);
  return key;
}

function b64url(s: string): string {
  return Buffer.from(s, "utf8").toString("base64url");
}
