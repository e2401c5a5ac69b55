import { waitAtMost } from "../../shared/wait-at-most.js";

// JPush idempotency keys (docs/provider-internals.md "JPush"): a push sent again with the same `cid` is answered with
// the first result instead of being delivered twice, which makes a retry after a response timeout
// safe. JPush's docs require cids to come from its pool (GET /v3/push/cid), valid for one day. We
// fetch them in batches, hand one to each push, and give a push the same cid on every attempt made
// by this process. Without a cid (pool unreachable) a push still goes out, only without that guard.
// A pool used up within seconds fetches twice as many next time, up to JPush's 1000 (about 64 KB of
// JSON), and is topped up at half: with a fixed 100 and a top-up at 25, a few thousand pushes a second
// drained it before the refill came back, and half of them waited for it, then went without a cid.

export interface CidPool {
  /** The push's cid, or undefined when none can be had right now. */
  cidFor(pushId: string): Promise<string | undefined>;
  /** JPush gave the push its final answer: no later attempt needs its cid. */
  release(pushId: string): void;
}

export interface CidPoolOptions {
  /** Fetches `count` fresh cids from JPush; rejects on failure. */
  readonly fetch: (count: number) => Promise<string[]>;
  /** The first fetch's size; a pool in demand fetches more (see above). */
  readonly batch?: number;
  /** How long a push waits for a refill before it goes out without a cid. */
  readonly maxWaitMs?: number;
  readonly now: () => number;
}

const CID_LIFETIME_MS = 23 * 3600 * 1000; // JPush: valid for one day; keep a margin
// The cids of the last 10,000 to 20,000 pushes not yet released, in two generations: evicting the
// oldest of one Map (keys().next() past the deleted entries) cost microseconds per push. Released is
// nearly every push, at once: a cid kept for every push made the garbage collector copy each one
// twice, which cost more than the rest of a JPush send.
const GENERATION = 10_000;
const FETCH_BACKOFF_MS = 60_000;
/** JPush hands out 1..1000 cids per call. */
export const MAX_CID_BATCH = 1000;
const GROW_WITHIN_MS = 10_000;

interface Batch {
  readonly cids: readonly string[];
  readonly fetchedAt: number;
  /** The next one to hand out. */
  next: number;
}

export function createCidPool({ fetch, batch = 100, maxWaitMs = 1000, now }: CidPoolOptions): CidPool {
  // Fetched batches in the order they came, each handed out from its front: the expired ones are first.
  const batches: Batch[] = [];
  let available = 0;
  let assigned = new Map<string, { cid: string; fetchedAt: number }>();
  let previous = new Map<string, { cid: string; fetchedAt: number }>();
  let refilling: Promise<void> | undefined;
  let failedAt = -Infinity;
  let size = batch;
  let lastFetchAt = -Infinity;

  const refill = () => {
    if (refilling !== undefined) return refilling;
    const t = now();
    if (t - lastFetchAt < GROW_WITHIN_MS) size = Math.max(size, Math.min(MAX_CID_BATCH, size * 2));
    lastFetchAt = t;
    return (refilling = fetch(size)
      .then((cids) => {
        batches.push({ cids, fetchedAt: now(), next: 0 });
        available += cids.length;
      })
      .catch(() => {
        failedAt = now();
      })
      .finally(() => {
        refilling = undefined;
      }));
  };

  const take = (t: number): { cid: string; fetchedAt: number } | undefined => {
    for (let b = batches[0]; b !== undefined; b = batches[0]) {
      if (b.next < b.cids.length && t - b.fetchedAt < CID_LIFETIME_MS) {
        available -= 1;
        return { cid: b.cids[b.next++]!, fetchedAt: b.fetchedAt };
      }
      available -= b.cids.length - b.next;
      batches.shift();
    }
    return undefined;
  };

  return {
    async cidFor(pushId) {
      const t = now();
      const known = assigned.get(pushId) ?? previous.get(pushId);
      if (known && t - known.fetchedAt < CID_LIFETIME_MS) return known.cid;
      let next = take(t);
      if (next === undefined && t - failedAt >= FETCH_BACKOFF_MS) {
        await waitAtMost(refill(), maxWaitMs);
        next = take(now());
      }
      if (next === undefined) return undefined;
      if (assigned.size >= GENERATION) {
        previous = assigned;
        assigned = new Map();
      }
      assigned.set(pushId, next);
      // Top up early, so pushes rarely wait for a fetch.
      if (available < size / 2 && t - failedAt >= FETCH_BACKOFF_MS) void refill();
      return next.cid;
    },
    release(pushId) {
      assigned.delete(pushId);
      previous.delete(pushId);
    },
  };
}
