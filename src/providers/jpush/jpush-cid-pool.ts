import { waitAtMost } from "../../shared/wait-at-most.js";

// JPush idempotency keys (docs/provider-internals.md "JPush"): a push sent again with the same `cid` is answered with
// the first result instead of being delivered twice, which makes a retry after a response timeout
// safe. JPush's docs require cids to come from its pool (GET /v3/push/cid), valid for one day. We
// fetch them in batches, hand one to each push, and give a push the same cid on every attempt made
// by this process. Without a cid (pool unreachable) a push still goes out, only without that guard.

export interface CidPool {
  /** The push's cid, or undefined when none can be had right now. */
  cidFor(pushId: string): Promise<string | undefined>;
}

export interface CidPoolOptions {
  /** Fetches `count` fresh cids from JPush; rejects on failure. */
  readonly fetch: (count: number) => Promise<string[]>;
  readonly batch?: number;
  /** How long a push waits for a refill before it goes out without a cid. */
  readonly maxWaitMs?: number;
  readonly now: () => number;
}

const CID_LIFETIME_MS = 23 * 3600 * 1000; // JPush: valid for one day; keep a margin
const REMEMBERED_PUSHES = 20_000;
const FETCH_BACKOFF_MS = 60_000;

export function createCidPool({ fetch, batch = 100, maxWaitMs = 1000, now }: CidPoolOptions): CidPool {
  let pool: Array<{ cid: string; fetchedAt: number }> = [];
  const assigned = new Map<string, { cid: string; fetchedAt: number }>();
  let refilling: Promise<void> | undefined;
  let failedAt = -Infinity;

  const refill = () =>
    (refilling ??= fetch(batch)
      .then((cids) => {
        const t = now();
        pool.push(...cids.map((cid) => ({ cid, fetchedAt: t })));
      })
      .catch(() => {
        failedAt = now();
      })
      .finally(() => {
        refilling = undefined;
      }));

  return {
    async cidFor(pushId) {
      const t = now();
      const known = assigned.get(pushId);
      if (known && t - known.fetchedAt < CID_LIFETIME_MS) return known.cid;
      pool = pool.filter((c) => t - c.fetchedAt < CID_LIFETIME_MS);
      if (pool.length === 0 && t - failedAt >= FETCH_BACKOFF_MS) await waitAtMost(refill(), maxWaitMs);
      const next = pool.shift();
      if (!next) return undefined;
      if (assigned.size >= REMEMBERED_PUSHES) assigned.delete(assigned.keys().next().value!);
      assigned.set(pushId, next);
      // Top up early, so pushes rarely wait for a fetch.
      if (pool.length < batch / 4 && t - failedAt >= FETCH_BACKOFF_MS) void refill();
      return next.cid;
    },
  };
}
