/** Wall-clock time, for everything that decides by it (expiry, backoff, breakers, caches); tests drive their own. */
export interface Clock {
  now(): Date;
}

/** The clock adapter: the one place that reads the system time. */
export const systemClock: Clock = { now: () => new Date() };
