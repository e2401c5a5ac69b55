// The one vocabulary of how a push went, from a single provider answer to the reply a publish gets.
// Its spellings are the ones users see: audit rows and the `outcome` label of xmpp_push_pushes_total
// use the attempt classes (`token_dead`), the `result` label of xmpp_push_publishes_total uses the
// publish outcomes (`token-dead`). Provider outcome tables (docs/provider-internals.md) produce a
// DeliveryOutcome; the dispatcher sums the attempts of one push into a PushResult; the publish service
// turns that into a PublishOutcome; xmpp/stanza-errors.ts maps each PublishOutcome to its XMPP reply.

export const outcomeClasses = ["delivered", "token_dead", "retry", "config_error", "payload_error"] as const;
export type OutcomeClass = (typeof outcomeClasses)[number];

/** What every provider answer may carry: its status (HTTP status, or JPush's own code) and its words. */
interface Answer {
  readonly status?: number;
  readonly reason?: string;
}

/** The provider accepted the push. */
export interface Delivered extends Answer {
  readonly class: "delivered";
  /** The provider's message id (JPush msg_id, apns-id, FCM name). */
  readonly messageId?: string;
}

/** Something may work later: the provider's trouble, a rate limit, a timeout. */
export interface Retry extends Answer {
  readonly class: "retry";
  /** The provider asked us to wait this long (Retry-After, X-Rate-Limit-Reset). */
  readonly retryAfterMs?: number;
  /** A timeout after the request left: it may have arrived; retry only with an idempotency key. */
  readonly maybeDelivered?: boolean;
  /** The answer concerns this one device (a per-token rate limit), not the provider as a whole. */
  readonly perDevice?: boolean;
}

/** The device address is gone (uninstalled, expired, not of this app). */
export interface TokenDead extends Answer {
  readonly class: "token_dead";
  /** APNs 410 timestamp: the token is dead only if not re-registered after this instant. */
  readonly invalidatedAt?: Date;
}

/** Our own request was refused: retrying the same payload is pointless; the token is fine. */
export interface PayloadError extends Answer {
  readonly class: "payload_error";
}

/** Our credentials or setup are wrong: transient for the push, alarming for the operator. */
export interface ConfigError extends Answer {
  readonly class: "config_error";
}

/** What one provider said about one device address, one variant per class. */
export type DeliveryOutcome = Delivered | Retry | TokenDead | PayloadError | ConfigError;

/** Everything an outcome table may know about an answer before its class is decided. */
export type AnswerDetail = Answer & Partial<Omit<Delivered, "class"> & Omit<Retry, "class"> & Omit<TokenDead, "class">>;

/**
 * The outcome of class `cls` for an answer: keeps only what that class carries (a retry hint on a
 * token_dead row, say, is dropped), so tables whose class comes from a row need no per-class code.
 */
export function outcomeOf(cls: OutcomeClass, detail: AnswerDetail = {}): DeliveryOutcome {
  const { status, reason, messageId, retryAfterMs, maybeDelivered, perDevice, invalidatedAt } = detail;
  const answer: Answer = { ...(status !== undefined ? { status } : {}), ...(reason !== undefined ? { reason } : {}) };
  switch (cls) {
    case "delivered":
      return { class: cls, ...answer, ...(messageId !== undefined ? { messageId } : {}) };
    case "retry":
      return {
        class: cls,
        ...answer,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        ...(maybeDelivered !== undefined ? { maybeDelivered } : {}),
        ...(perDevice !== undefined ? { perDevice } : {}),
      };
    case "token_dead":
      return { class: cls, ...answer, ...(invalidatedAt !== undefined ? { invalidatedAt } : {}) };
    case "payload_error":
    case "config_error":
      return { class: cls, ...answer };
  }
}

/**
 * One delivery attempt of a push, over all addresses of its device: delivered if any provider accepted
 * it; retry if something may work later (a config_error counts here); payload_error if only our request
 * was refused; token_dead if every address is dead (the registration is then disabled).
 */
export type PushResult =
  | { readonly class: "delivered" }
  | { readonly class: "retry"; readonly reason: string; readonly retryAfterMs?: number }
  | { readonly class: "payload_error"; readonly reason: string }
  | { readonly class: "token_dead"; readonly reason: string };

/** Every answer a publish can get; the XMPP reply for each is in xmpp/stanza-errors.ts (publishReplies). */
export const publishOutcomes = [
  "delivered", // delivered now
  "queued", // a durable job, delivered later
  "coalesced", // merged into a pending push for the same node (rate limit)
  "forbidden", // not a server we serve
  "unknown-node", // no such registration (or not this server's)
  "token-dead", // the provider says the device is gone
  "not-authorized", // wrong or missing publish secret
  "payload-error", // our own request was refused: our bug, not the user's fault
  "unavailable", // database down, or not even queued in time
  "overloaded", // too many publishes in progress
] as const;
export type PublishOutcome = (typeof publishOutcomes)[number];

/** What a publish answers once its first attempt has settled (undefined: not settled, or retry: see the queue). */
export function publishOutcomeOf(result: PushResult): PublishOutcome | undefined {
  switch (result.class) {
    case "delivered":
      return "delivered";
    case "token_dead":
      return "token-dead";
    case "payload_error":
      return "payload-error";
    case "retry":
      return undefined;
  }
}
