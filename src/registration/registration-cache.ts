import type { Registration } from "../domain/registration.js";
import { systemClock, type Clock } from "../ports/clock.js";
import type { RegistrationStore } from "../ports/registration-store.js";
import { createSeenFilter } from "./seen-filter.js";

// Publishes look up their registration on every push; most nodes push again soon (a conversation), so a
// small in-process cache takes the database off the hot path. Misses that arrive together are read in
// one query (a few per tick instead of one per push, and with two reads out, the next batch waits for
// one of them), which keeps the cost per push flat when the devices pushed to are far more than the
// cache holds. Changes made by this process invalidate at once; changes made by another replica show
// within ttlMs (a stale entry can at worst send one push to a token that was just replaced, or answer
// item-not-found for a node registered a moment ago).
//
// Once the cache is full, a registration is kept only from its second read on (a node asked for again
// while the first read's mark is still in the seen filter): with far more devices than the cache holds,
// pushed to at random, keeping every read evicted an entry per push for one that was never asked for
// again, each living long enough to reach the old generation, so the garbage collector's work per push
// doubled. Nodes that push again soon (a conversation) cost one read more and are kept as before. While
// it has room, every read is kept. Unknown nodes are always kept, so a server hammering a dead node still
// does not hammer the database.

export interface RegistrationCache {
  get(node: string): Promise<Registration | undefined>;
  invalidate(node: string): void;
  clear(): void;
  readonly size: number;
}

export interface RegistrationCacheOptions {
  readonly store: RegistrationStore;
  readonly maxEntries: number;
  readonly ttlMs: number;
  /** Unknown nodes are remembered this long, so a server hammering a dead node does not hammer the database. */
  readonly negativeTtlMs: number;
  readonly clock?: Clock;
}

/** Misses of the registration cache waiting for one read: the callers of each node. */
type Batch = Map<string, Array<{ resolve: (r: Registration | undefined) => void; reject: (e: unknown) => void }>>;

// Two reads out at once: one can be on the wire while the next batch fills. More would not make the
// database answer sooner at full load, only take more of its connections and spend its CPU per query.
const MAX_CONCURRENT_READS = 2;

export function createRegistrationCache({
  store,
  maxEntries,
  ttlMs,
  negativeTtlMs,
  clock = systemClock,
}: RegistrationCacheOptions): RegistrationCache {
  const now = () => clock.now().getTime();
  // Remembers about as many recent misses as four caches full: a node asked for again within that
  // many other misses is kept.
  const seen = createSeenFilter(maxEntries * 4);
  const entries = new Map<string, { reg: Registration | undefined; expires: number }>();
  const inFlight = new Map<string, Promise<Registration | undefined>>();
  let generation = 0;

  const loadBatch = async (nodes: Batch) => {
    try {
      const found = await store.findByNodes([...nodes.keys()]);
      for (const [node, waiters] of nodes) for (const w of waiters) w.resolve(found.get(node));
    } catch (err) {
      for (const waiters of nodes.values()) for (const w of waiters) w.reject(err);
    }
  };

  // Misses wait in one pending batch. It goes at the end of the event-loop turn if fewer than
  // MAX_CONCURRENT_READS reads are out, otherwise as soon as one comes back: at everyday rates a miss
  // is read at once, as before; at full load the batches grow instead of the number of queries.
  let pending: Batch | undefined;
  let flushScheduled = false;
  let reading = 0;
  const flush = () => {
    if (!pending || reading >= MAX_CONCURRENT_READS) return;
    const current = pending;
    pending = undefined;
    reading += 1;
    void loadBatch(current).finally(() => {
      reading -= 1;
      flush();
    });
  };

  const load = (node: string) =>
    new Promise<Registration | undefined>((resolve, reject) => {
      pending ??= new Map();
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(() => {
          flushScheduled = false;
          flush();
        });
      }
      const waiters = pending.get(node) ?? [];
      waiters.push({ resolve, reject });
      pending.set(node, waiters);
    });

  const remember = (node: string, reg: Registration | undefined) => {
    entries.delete(node);
    if (entries.size >= maxEntries) {
      // Map iteration is insertion order: the first key is the least recently stored.
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    entries.set(ownString(node, reg), { reg, expires: now() + (reg ? ttlMs : negativeTtlMs) });
  };

  return {
    async get(node) {
      const hit = entries.get(node);
      if (hit) {
        if (hit.expires > now()) return hit.reg;
        // Expired: read again below, and kept again only if admitted.
        entries.delete(node);
      }
      const pending = inFlight.get(node);
      if (pending) return pending;
      const startedAt = generation;
      const askedBefore = seen.markSeen(node);
      const loading = load(node).finally(() => inFlight.delete(node));
      inFlight.set(node, loading);
      const reg = await loading;
      // An invalidation that happened while we were reading makes this result suspect: don't keep it.
      // While the cache has room, every read is kept: as many devices as it holds cost one read each,
      // and a device pushed to once keeps getting pushes while the database is down.
      if (startedAt === generation && (askedBefore || reg === undefined || entries.size < maxEntries)) remember(node, reg);
      return reg;
    },
    invalidate(node) {
      generation += 1;
      entries.delete(node);
      inFlight.delete(node);
    },
    clear() {
      generation += 1;
      entries.clear();
      inFlight.clear();
    },
    get size() {
      return entries.size;
    },
  };
}

/**
 * The node as a key of its own. The node we are asked for was cut from the text of the stanza, and V8
 * keeps a cut-out string as a view on its whole source: kept as a key, it would keep the whole read it
 * came in (up to 64 KiB) alive as long as the entry (measured: 1,000 such keys held 48 MB). The
 * registration's own node, read from the database, has no such source.
 */
function ownString(node: string, reg: Registration | undefined): string {
  if (reg !== undefined && reg.node === node) return reg.node;
  return Buffer.from(node, "utf8").toString("utf8");
}
