// The one vocabulary every provider answer is translated into (docs/provider-internals.md).

export const outcomeClasses = ["delivered", "token_dead", "retry", "config_error", "payload_error"] as const;
export type OutcomeClass = (typeof outcomeClasses)[number];

export interface DeliveryOutcome {
  readonly class: OutcomeClass;
  /** Provider status: HTTP status, or the provider's own error code (JPush). */
  readonly status?: number;
  readonly reason?: string;
  readonly messageId?: string;
  /** The provider asked us to wait this long (Retry-After, X-Rate-Limit-Reset). */
  readonly retryAfterMs?: number;
  /** A timeout after the request left: it may have arrived; retry only with an idempotency key. */
  readonly maybeDelivered?: boolean;
  /** The answer concerns this one device (a per-token rate limit), not the provider as a whole. */
  readonly perDevice?: boolean;
  /** APNs 410 timestamp: the token is dead only if not re-registered after this instant. */
  readonly invalidatedAt?: Date;
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}
