// The one vocabulary of how a push went, from a single provider answer to the reply a publish gets.
// Its spellings are the ones users see: audit rows and the `outcome` label of xmpp_push_pushes_total
// use the attempt classes (`token_dead`), the `result` label of xmpp_push_publishes_total uses the
// publish outcomes (`token-dead`). Provider outcome tables (docs/provider-internals.md) produce a
// DeliveryOutcome; the dispatcher sums the attempts of one push into a PushResult; the publish service
// turns that into a PublishOutcome; xmpp/stanza-errors.ts maps each PublishOutcome to its XMPP reply.

export const outcomeClasses = ["delivered", "token_dead", "retry", "config_error", "payload_error"] as const;
export type OutcomeClass = (typeof outcomeClasses)[number];

/** What a provider answer may carry besides its class; each field is set only by the classes named. */
interface AnswerDetail {
  /** Provider status: HTTP status, or the provider's own error code (JPush). */
  readonly status?: number;
  readonly reason?: string;
  /** delivered: the provider's message id (JPush msg_id, apns-id, FCM name). */
  readonly messageId?: string;
  /** token_dead, APNs 410 timestamp: the token is dead only if not re-registered after this instant. */
  readonly invalidatedAt?: Date;
  /** retry: the provider asked us to wait this long (Retry-After, X-Rate-Limit-Reset). */
  readonly retryAfterMs?: number;
  /** retry: a timeout after the request left: it may have arrived; retry only with an idempotency key. */
  readonly maybeDelivered?: boolean;
  /** retry: the answer concerns this one device (a per-token rate limit), not the provider as a whole. */
  readonly perDevice?: boolean;
}

/**
 * What one provider said about one device address. config_error (our credentials or setup are wrong)
 * is transient for the push and alarming for the operator; payload_error means only our own request
 * was refused, so retrying the same payload is pointless.
 */
export type DeliveryOutcome = AnswerDetail & { readonly class: OutcomeClass };

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
