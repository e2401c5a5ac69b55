import { outcomeOf, type DeliveryOutcome, type OutcomeClass } from "../../domain/delivery-outcome.js";

// FCM HTTP v1 answers → our outcome classes (docs/provider-internals.md "FCM"): FCM's own code is in
// `error.details[].errorCode` (google.firebase.fcm.v1.FcmError, "ErrorCode" reference); Google's
// generic `error.status` (google.rpc code) and the HTTP status are the fallbacks, in that order.

export interface FcmRow {
  readonly class: OutcomeClass;
  /** Wait at least this long when no Retry-After came (QUOTA_EXCEEDED: "minimum initial delay 1 min"). */
  readonly minRetryAfterMs?: number;
}

const ONE_MINUTE_MS = 60_000;

export const FCM_ERROR_CODES: ReadonlyMap<string, FcmRow> = new Map<string, FcmRow>([
  // 404 — the app was uninstalled, or the token expired (Android: 270 days inactive, FCM token management).
  ["UNREGISTERED", { class: "token_dead" }],
  // 400 — our message is malformed. classifyFcm turns "not a valid FCM registration token" into token_dead.
  ["INVALID_ARGUMENT", { class: "payload_error" }],
  // 403 — the token belongs to another Firebase project: it can never work for this one.
  ["SENDER_ID_MISMATCH", { class: "token_dead" }],
  // 401 — the APNs / web-push credentials uploaded to Firebase are wrong: the Firebase project's setup.
  ["THIRD_PARTY_AUTH_ERROR", { class: "config_error" }],
  // 429 — project, device or topic quota: back off, at least one minute ("minimum initial delay", FCM error codes).
  ["QUOTA_EXCEEDED", { class: "retry", minRetryAfterMs: ONE_MINUTE_MS }],
  // 503 — FCM overloaded: retry, honouring Retry-After.
  ["UNAVAILABLE", { class: "retry" }],
  // 500 — FCM's own error: retry with backoff.
  ["INTERNAL", { class: "retry" }],
  // No information given (FCM ErrorCode UNSPECIFIED_ERROR): never kill a token over it; try again later.
  ["UNSPECIFIED_ERROR", { class: "retry" }],
]);

/** google.rpc status names for answers without an FCM errorCode (e.g. from Google's front end). */
export const FCM_STATUSES: ReadonlyMap<string, FcmRow> = new Map<string, FcmRow>([
  // 401 without errorCode: a bad or expired OAuth token. The provider refreshes it and tries once more;
  // if that fails too, our service account is the problem (docs/provider-internals.md "FCM").
  ["UNAUTHENTICATED", { class: "config_error" }],
  // 403 — the service account lacks the FCM permission, or the FCM API is disabled for the project.
  ["PERMISSION_DENIED", { class: "config_error" }],
  // 404 without UNREGISTERED: the project id in the URL does not exist. Our config, not the device.
  ["NOT_FOUND", { class: "config_error" }],
  ["INVALID_ARGUMENT", { class: "payload_error" }],
  ["RESOURCE_EXHAUSTED", { class: "retry", minRetryAfterMs: ONE_MINUTE_MS }],
  ["UNAVAILABLE", { class: "retry" }],
  ["INTERNAL", { class: "retry" }],
  ["DEADLINE_EXCEEDED", { class: "retry" }],
]);

/** Last resort: the HTTP status alone (a proxy's answer, an unreadable body). */
export const FCM_HTTP_STATUSES: ReadonlyMap<number, FcmRow> = new Map<number, FcmRow>([
  [400, { class: "payload_error" }],
  [401, { class: "config_error" }],
  [403, { class: "config_error" }],
  [404, { class: "config_error" }],
  [429, { class: "retry", minRetryAfterMs: ONE_MINUTE_MS }],
  [500, { class: "retry" }],
  [502, { class: "retry" }],
  [503, { class: "retry" }],
  [504, { class: "retry" }],
]);

export interface FcmAnswer {
  readonly httpStatus: number;
  /** `error.details[].errorCode`. */
  readonly errorCode?: string;
  /** `error.status`, the google.rpc code name. */
  readonly status?: string;
  readonly message?: string;
  /** From a Retry-After header (seconds, or an HTTP date already turned into seconds). */
  readonly retryAfterSeconds?: number;
}

const MAX_REMOTE_TEXT = 80;
// FCM's text when the token itself is malformed (FCM ErrorCode INVALID_ARGUMENT, FCM error codes).
const BAD_TOKEN_MESSAGE = /not a valid FCM registration token|registration token is not valid/i;

const INVALID_TOKEN_REASON = "INVALID_ARGUMENT invalid registration token";

/** A token_dead read from an INVALID_ARGUMENT text, which a message we built wrong could also earn. */
export function isInvalidTokenVerdict(outcome: DeliveryOutcome): boolean {
  return outcome.class === "token_dead" && outcome.reason === INVALID_TOKEN_REASON;
}

/** Classifies an FCM send answer other than 200. */
export function classifyFcm(answer: FcmAnswer): DeliveryOutcome {
  const { httpStatus, errorCode, status } = answer;
  const row =
    (errorCode !== undefined ? FCM_ERROR_CODES.get(errorCode) : undefined) ??
    (status !== undefined ? FCM_STATUSES.get(status) : undefined) ??
    FCM_HTTP_STATUSES.get(httpStatus);
  const name = errorCode ?? status ?? `HTTP ${httpStatus}`;
  const retryAfter =
    answer.retryAfterSeconds !== undefined && answer.retryAfterSeconds > 0 ? Math.round(answer.retryAfterSeconds * 1000) : undefined;
  if (row === undefined) {
    // Undocumented: never kill a token over it.
    return outcomeOf(httpStatus >= 500 ? "retry" : "payload_error", { status: httpStatus, reason: withMessage(name, answer.message) });
  }
  if (row.class === "payload_error" && BAD_TOKEN_MESSAGE.test(answer.message ?? "")) {
    return { class: "token_dead", status: httpStatus, reason: INVALID_TOKEN_REASON };
  }
  const retryAfterMs = retryAfter ?? row.minRetryAfterMs;
  return outcomeOf(row.class, {
    status: httpStatus,
    // Bugs and setup problems need FCM's words to be fixed; the rest are clear from the name.
    reason: row.class === "payload_error" || row.class === "config_error" ? withMessage(name, answer.message) : name,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

/** A 401 that a fresh access token may cure (docs/provider-internals.md "FCM"): UNAUTHENTICATED without an FCM errorCode. */
export function isStaleAccessToken(answer: FcmAnswer): boolean {
  return answer.httpStatus === 401 && answer.errorCode === undefined;
}

// OAuth 2.0 token endpoint errors (RFC 6749 §5.2; Google service accounts, docs/provider-internals.md "FCM"). Every one of them means
// the service account, its key or our clock is wrong, and fails every push alike: config, which opens
// the circuit breaker, never touches a device token.
export const OAUTH_ERRORS: ReadonlyMap<string, FcmRow> = new Map<string, FcmRow>([
  // Signature, issuer, audience or time window rejected: a deleted key, a wrong key, or clock skew.
  ["invalid_grant", { class: "config_error" }],
  // The service account (client) is unknown or disabled.
  ["invalid_client", { class: "config_error" }],
  ["unauthorized_client", { class: "config_error" }],
  // The FCM scope is not grantable to this account.
  ["invalid_scope", { class: "config_error" }],
  ["access_denied", { class: "config_error" }],
  // Our request to the token endpoint is malformed: systematic, so config rather than one payload.
  ["invalid_request", { class: "config_error" }],
  ["unsupported_grant_type", { class: "config_error" }],
]);

export interface TokenEndpointAnswer {
  readonly httpStatus: number;
  readonly error?: string;
  readonly description?: string;
}

/** Classifies a failed access-token exchange: Google's trouble is retried, our credentials are config. */
export function classifyTokenError(answer: TokenEndpointAnswer): DeliveryOutcome {
  const { httpStatus, error } = answer;
  const row = error !== undefined ? OAUTH_ERRORS.get(error) : undefined;
  const cls: OutcomeClass = row?.class ?? (httpStatus === 429 || httpStatus >= 500 ? "retry" : "config_error");
  return outcomeOf(cls, { status: httpStatus, reason: withMessage(`token endpoint ${error ?? `HTTP ${httpStatus}`}`, answer.description) });
}

function withMessage(name: string, message: string | undefined): string {
  if (!message) return name;
  return `${name}: ${message.length <= MAX_REMOTE_TEXT ? message : `${message.slice(0, MAX_REMOTE_TEXT)}…`}`;
}
