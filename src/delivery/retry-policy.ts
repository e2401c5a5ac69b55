import type { DeliveryOutcome } from "../domain/delivery-outcome.js";

// The only place that decides when a failed push is tried again: exponential backoff with jitter,
// never sooner than the provider asked (Retry-After, JPush X-Rate-Limit-Reset).

export interface RetryPolicy {
  /** When to try again after attempt number `attempt` (1-based) failed with `outcome`. */
  nextAttemptAt(attempt: number, outcome: Pick<DeliveryOutcome, "retryAfterMs">, now: Date): Date;
}

export function createRetryPolicy({ baseMs, maxMs, random = Math.random }: { baseMs: number; maxMs: number; random?: () => number }): RetryPolicy {
  return {
    nextAttemptAt(attempt, outcome, now) {
      const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
      // Full range jitter around the step (0.5x to 1.5x), so replicas and devices do not retry in lockstep.
      const jittered = exponential * (0.5 + random());
      const delay = Math.max(jittered, outcome.retryAfterMs ?? 0);
      return new Date(now.getTime() + Math.round(delay));
    },
  };
}
