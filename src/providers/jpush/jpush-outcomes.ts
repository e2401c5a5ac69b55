import { outcomeOf, type DeliveryOutcome, type OutcomeClass } from "../../domain/delivery-outcome.js";
import { isWellFormedToken } from "../../domain/device-token.js";

// JPush REST v3 answers → our outcome classes: docs/provider-internals.md "JPush", one row per documented error code
// (JPush "Push API v3" error table and "HTTP status codes" page). Every request we send
// names exactly ONE registration_id, which is what makes 1011 a per-device answer.

export interface JpushRow {
  readonly class: OutcomeClass;
  /** Short, stable text for the audit row (the remote message can be long, and changes between doc versions). */
  readonly text: string;
  /** The answer concerns this one device, not JPush or our credentials (the circuit breaker ignores it). */
  readonly perDevice?: true;
  /** The rate-limit window is over in X-Rate-Limit-Reset seconds: wait at least that long. */
  readonly waitForReset?: true;
}

export const JPUSH_CODES: ReadonlyMap<number, JpushRow> = new Map<number, JpushRow>([
  // 500 — JPush's own "internal error, retry later".
  [1000, { class: "retry", text: "internal error" }],
  // 405 — only POST is allowed: our bug.
  [1001, { class: "payload_error", text: "only POST is supported" }],
  // 400 — a required field is missing: our bug.
  [1002, { class: "payload_error", text: "missing required parameter" }],
  // 400 — an invalid value. Also what a malformed registration_id gets; classifyJpush turns that case into
  // token_dead (docs/provider-internals.md, "our own heuristic"), every other 1003 is a bug in our body.
  [1003, { class: "payload_error", text: "invalid parameter value" }],
  // 401 — appKey / masterSecret wrong: our credentials.
  [1004, { class: "config_error", text: "authentication failed" }],
  // 400 — body too large (iOS section > 2000 bytes, Android > 4000): jpush-payload trims, so our bug.
  [1005, { class: "payload_error", text: "message too long" }],
  // 400 — the app_key is not a valid JPush app: our setup.
  [1008, { class: "config_error", text: "invalid app_key" }],
  // 400 — an unsupported key in the body (e.g. content_available for content-available): our bug.
  [1009, { class: "payload_error", text: "unsupported key in payload" }],
  // 400 — no device matched the audience. With a single registration_id that device is gone (uninstalled,
  // or inactive for more than 255 days). With several it would only mean "none matched", so never batch.
  [1011, { class: "token_dead", text: "cannot find user by this audience" }],
  // 400 — the app's throttled-push (定速推送) quota is exceeded: wait and retry.
  [1012, { class: "retry", text: "push rate exceeded" }],
  // 404 — HTTPS only: the configured baseUrl is wrong.
  [1020, { class: "config_error", text: "HTTPS only" }],
  // 503 — internal service timeout: retry.
  [1030, { class: "retry", text: "internal service timeout" }],
  // 429 — the per-AppKey one-minute window is used up; the old rate-limit page calls it 2001.
  [2001, { class: "retry", text: "rate limit exceeded", waitForReset: true }],
  [2002, { class: "retry", text: "rate limit exceeded", waitForReset: true }],
  // 403 — the appKey is blacklisted: an operator must talk to JPush.
  [2003, { class: "config_error", text: "appKey blacklisted" }],
  // 403 — our IP is not in the app's IP whitelist: our setup.
  [2004, { class: "config_error", text: "IP not whitelisted" }],
  // 403 — too many pushes to this one target: back off for this device only.
  [2005, { class: "retry", text: "target send volume too high", perDevice: true }],
  // 403 — a VIP-only API / no permission for it: our setup.
  [2006, { class: "config_error", text: "VIP-only feature" }],
  [2007, { class: "config_error", text: "no permission" }],
]);

/** HTTP statuses without a (known) JPush code: proxies, gateways, upgrades (JPush: 4xx business, 5xx server). */
export const JPUSH_STATUSES: ReadonlyMap<number, JpushRow> = new Map<number, JpushRow>([
  // 400 — a business error we cannot name: our request, never the device (only 1011 kills a token).
  [400, { class: "payload_error", text: "bad request" }],
  // 401 — JPush answers a wrong appKey/masterSecret with 401 even when no code survives a proxy.
  [401, { class: "config_error", text: "unauthorized" }],
  // 403 — the 2003..2007 family is all about our account.
  [403, { class: "config_error", text: "forbidden" }],
  // 404 — a wrong path: the baseUrl is misconfigured.
  [404, { class: "config_error", text: "not found" }],
  // 405 — wrong method: our bug.
  [405, { class: "payload_error", text: "method not allowed" }],
  // 429 — rate limited, code lost: same as 2002.
  [429, { class: "retry", text: "rate limit exceeded", waitForReset: true }],
  // 5xx — JPush or its gateway is down or being upgraded.
  [500, { class: "retry", text: "server error" }],
  [502, { class: "retry", text: "bad gateway" }],
  [503, { class: "retry", text: "service unavailable" }],
  [504, { class: "retry", text: "gateway timeout" }],
]);

export interface JpushAnswer {
  readonly httpStatus: number;
  /** `error.code` from the body, when there was one. */
  readonly code?: number;
  /** `error.message` from the body. */
  readonly message?: string;
  /** X-Rate-Limit-Reset: seconds until the one-minute window resets (docs/provider-internals.md "JPush"). */
  readonly rateLimitResetSeconds?: number;
  /** The registration_id we sent fails our format check (see isMalformedRegistrationId). */
  readonly registrationIdMalformed?: boolean;
}

const MAX_REMOTE_TEXT = 80;

/** Classifies one JPush answer (without messageId; the provider adds msg_id for a delivery). */
export function classifyJpush(answer: JpushAnswer): DeliveryOutcome {
  const { httpStatus, code } = answer;
  // "200 一定是正确" (200 always means success, JPush HTTP status codes page).
  if (httpStatus === 200) return { class: "delivered", status: 200 };
  const codeRow = code !== undefined ? JPUSH_CODES.get(code) : undefined;
  const row = codeRow ?? JPUSH_STATUSES.get(httpStatus);
  // The audit's status is JPush's code when it gave one (DeliveryOutcome.status), else the HTTP status.
  const status = code ?? httpStatus;
  // Our short text for a documented code; JPush's own words (clipped) for anything we do not know.
  const text = codeRow?.text ?? (answer.message ? clip(answer.message) : (row?.text ?? `HTTP ${httpStatus}`));
  if (row === undefined) {
    // Undocumented: never kill a token over it; a server-side status is worth another try.
    return outcomeOf(httpStatus >= 500 ? "retry" : "payload_error", { status, reason: withCode(code, text) });
  }
  if (code === 1003 && answer.registrationIdMalformed && /registration_?id/i.test(answer.message ?? "")) {
    return { class: "token_dead", status, reason: "1003 invalid registration_id" };
  }
  const reset = answer.rateLimitResetSeconds;
  return outcomeOf(row.class, {
    status,
    reason: withCode(code, text),
    ...(row.perDevice ? { perDevice: true } : {}),
    ...(row.waitForReset && reset !== undefined && Number.isFinite(reset) && reset > 0 ? { retryAfterMs: Math.round(reset * 1000) } : {}),
  });
}

/**
 * Only an id that cannot be a JPush registration id by the one token rule (src/domain/device-token.ts:
 * empty, other characters, absurdly long) lets a 1003 about registration_id kill the address.
 */
export function isMalformedRegistrationId(token: string): boolean {
  return !isWellFormedToken("jpush", token);
}

function withCode(code: number | undefined, text: string): string {
  return code === undefined ? text : `${code} ${text}`;
}

function clip(s: string): string {
  return s.length <= MAX_REMOTE_TEXT ? s : `${s.slice(0, MAX_REMOTE_TEXT)}…`;
}
