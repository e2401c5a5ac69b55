import { outcomeOf, type DeliveryOutcome, type OutcomeClass } from "../../domain/delivery-outcome.js";

// APNs answers → our outcome classes. Apple, "Handling notification responses from APNs"
// (docs/provider-internals.md "APNs"); one row per documented (status, reason). Reasons are matched case- and space-insensitively:
// the broadcast doc spells "Service Unavailable", the device doc "ServiceUnavailable".

interface Row {
  readonly class: OutcomeClass;
  /** The answer concerns this one device token, not APNs or our credentials. */
  readonly perDevice?: true;
}

export const APNS_REASONS: ReadonlyMap<string, Row> = new Map<string, Row>([
  // 400 — token problems. Can also mean a sandbox token sent to production (or the reverse); the
  // provider guards against mass disabling when the environment or topic is misconfigured.
  ["baddevicetoken", { class: "token_dead" }],
  ["devicetokennotfortopic", { class: "token_dead" }],
  // 400 — bugs in our request: never retried with the same payload, the token is fine.
  ["badcollapseid", { class: "payload_error" }],
  ["badexpirationdate", { class: "payload_error" }],
  ["badmessageid", { class: "payload_error" }],
  ["badpriority", { class: "payload_error" }],
  ["badtopic", { class: "payload_error" }],
  ["duplicateheaders", { class: "payload_error" }],
  ["invalidpushtype", { class: "payload_error" }],
  ["missingdevicetoken", { class: "payload_error" }],
  ["missingtopic", { class: "payload_error" }],
  ["payloadempty", { class: "payload_error" }],
  // 400 — the topic is not allowed for our credentials: our setup.
  ["topicdisallowed", { class: "config_error" }],
  // 400 — the connection sat idle too long: a fresh connection fixes it (mod_push_appserver retries it).
  ["idletimeout", { class: "retry" }],
  // 403 — the JWT is older than an hour; the adapter mints a new one on this answer (apns-token). Retry;
  // if it keeps coming back the clock is skewed, and the breaker opens after a few.
  ["expiredprovidertoken", { class: "retry" }],
  // 403 — our credentials.
  ["invalidprovidertoken", { class: "config_error" }],
  ["missingprovidertoken", { class: "config_error" }],
  ["badcertificate", { class: "config_error" }],
  ["badcertificateenvironment", { class: "config_error" }],
  ["forbidden", { class: "config_error" }],
  ["unrelatedkeyidintoken", { class: "config_error" }],
  // The docs say BadEnvironmentKeyIdInToken; the wire says BadEnvironmentKeyInToken (apns-h2). Match both.
  ["badenvironmentkeyidintoken", { class: "config_error" }],
  ["badenvironmentkeyintoken", { class: "config_error" }],
  // 404 / 405 — a wrong path or method is our bug.
  ["badpath", { class: "payload_error" }],
  ["methodnotallowed", { class: "payload_error" }],
  // 410 — the token is gone: stop pushing unless the device registers again after `timestamp`.
  ["unregistered", { class: "token_dead" }],
  ["expiredtoken", { class: "token_dead" }],
  // 413 — we trim payloads before sending, so this is our bug.
  ["payloadtoolarge", { class: "payload_error" }],
  // 429 — too many pushes to this one device: wait and retry.
  ["toomanyrequests", { class: "retry", perDevice: true }],
  // 429 — too many JWT refreshes on a connection: our setup (several replicas or keys on one team?).
  ["toomanyprovidertokenupdates", { class: "config_error" }],
  // 5xx — Apple's trouble: retry with backoff on a fresh connection.
  ["internalservererror", { class: "retry" }],
  ["serviceunavailable", { class: "retry" }],
  ["shutdown", { class: "retry" }],
]);

const BY_STATUS: ReadonlyMap<number, Row> = new Map<number, Row>([
  [400, { class: "payload_error" }],
  [403, { class: "config_error" }],
  [404, { class: "payload_error" }],
  [405, { class: "payload_error" }],
  [410, { class: "token_dead" }],
  [413, { class: "payload_error" }],
  [429, { class: "retry" }],
  [500, { class: "retry" }],
  [502, { class: "retry" }],
  [503, { class: "retry" }],
  [504, { class: "retry" }],
]);

export interface ApnsAnswer {
  /** HTTP status; undefined when the request failed without one (timeout, reset stream, closed session). */
  readonly status?: number;
  readonly reason?: string;
  /** 410: milliseconds since the epoch when APNs learnt the token was invalid. */
  readonly timestamp?: number;
  /** Seconds, from a Retry-After header. */
  readonly retryAfterSeconds?: number;
}

/** Classifies an APNs failure. Transport failures (no status) are all retryable. */
export function classifyApns(answer: ApnsAnswer): DeliveryOutcome {
  const key = (answer.reason ?? "").replace(/[\s_-]/g, "").toLowerCase();
  const row = APNS_REASONS.get(key) ?? (answer.status !== undefined ? BY_STATUS.get(answer.status) : undefined);
  const base = {
    ...(answer.status !== undefined ? { status: answer.status } : {}),
    ...(answer.reason !== undefined ? { reason: answer.reason } : {}),
    ...(answer.retryAfterSeconds !== undefined ? { retryAfterMs: answer.retryAfterSeconds * 1000 } : {}),
  };
  if (row === undefined) {
    if (answer.status === undefined) return outcomeOf("retry", { ...base, ...transportHints(answer.reason ?? "") });
    // An undocumented status: never kill a token over it.
    return outcomeOf(answer.status >= 500 ? "retry" : "payload_error", base);
  }
  return outcomeOf(row.class, {
    ...base,
    ...(row.perDevice ? { perDevice: true } : {}),
    ...(answer.timestamp !== undefined ? { invalidatedAt: new Date(answer.timestamp) } : {}),
  });
}

// A timeout may have reached Apple (so a retry may duplicate); a refused stream never did (docs/provider-internals.md "APNs").
function transportHints(message: string): { maybeDelivered?: true } {
  return /timeout|aborted/i.test(message) && !/REFUSED_STREAM/.test(message) ? { maybeDelivered: true } : {};
}
