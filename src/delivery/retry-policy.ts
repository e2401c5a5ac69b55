// The only place that decides when a failed push is tried again: exponential backoff with jitter,
// never later than maxMs unless the provider asked for longer (Retry-After, JPush X-Rate-Limit-Reset),
// never sooner than the provider asked.

export interface RetryPolicy {
  /** When to try again after attempt number `attempt` (1-based) failed; `retryAfterMs`: what the provider asked. */
  nextAttemptAt(attempt: number, asked: { readonly retryAfterMs?: number }, now: Date): Date;
}

export function createRetryPolicy({
  baseMs,
  maxMs,
  random = Math.random,
}: {
  baseMs: number;
  maxMs: number;
  random?: () => number;
}): RetryPolicy {
  return {
    nextAttemptAt(attempt, asked, now) {
      const step = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
      // Jitter over 0.5x to 1.5x of the step, so replicas and devices do not retry in lockstep; near the
      // cap the range ends at maxMs, so maxMs is a promise (and at the cap it still spreads over half of it).
      const low = step * 0.5;
      const high = Math.min(maxMs, step * 1.5);
      const jittered = low + (high - low) * random();
      const delay = Math.max(jittered, asked.retryAfterMs ?? 0);
      return new Date(now.getTime() + Math.round(delay));
    },
  };
}
