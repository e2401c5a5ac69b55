import { systemClock, type Clock } from "../ports/clock.js";
import type { DeliveryRecord } from "../ports/delivery-audit.js";
import type { JobRef, QueuedJob } from "../ports/delivery-queue.js";
import type { WriteBatchStore } from "../ports/write-batch.js";
import type { Logger } from "../observability/logger.js";

// Group commit for the delivery pipeline. Queue writes, audit rows and last-push times collect here
// and go to the database together, every `flushMs` or as soon as `maxBatch` operations wait; one
// transaction per batch instead of several per push.
//
// Three shortcuts keep the database out of the common case: a job whose push is completed before its
// batch is written is never written at all; a job put with `writeAfterMs` (the write-ahead job of a
// push whose first attempt is under way) joins a batch only once it has waited that long, so a push the
// provider answers within it never touches the queue table; and a reschedule of a pending job just
// replaces it. Without the wait, a push still in flight when the next batch went out (every 100 ms, or
// sooner at full load) cost an INSERT and a DELETE: at 4,000 pushes/s with 75 ms in flight, most of
// them, about a sixth of the process's CPU.

export interface WriteBuffer {
  /**
   * Resolves true once the job is durable (or its push is already done), false if the write failed.
   * `writeAfterMs`: write it only if its push is still not done after this long (a job for a node that
   * already has one waiting to be written goes with that one, at once).
   */
  putJob(job: QueuedJob, opts?: { writeAfterMs?: number }): Promise<boolean>;
  /** `persisted`: the job is known to be in the database (claimed from the queue), not just put here. */
  completeJob(ref: JobRef, opts?: { persisted?: boolean }): void;
  recordAttempt(row: DeliveryRecord): void;
  touch(node: string): void;
  /** Writes everything waiting, deferred jobs included (tests, admin commands). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface WriteBufferOptions {
  readonly store: WriteBatchStore;
  readonly flushMs: number;
  readonly maxBatch: number;
  /** While the database is away, audit rows wait in memory up to this many; older ones are dropped. */
  readonly maxPendingAudits: number;
  /** A node's last-push time is written at most this often. */
  readonly touchIntervalMs: number;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly onFlush?: (seconds: number, ok: boolean) => void;
  readonly onAuditDropped?: (count: number) => void;
}

const RETRY_AFTER_FAILURE_MS = 250;
// Jobs this process wrote and has not completed yet; past this many we stop tracking and always delete.
const MAX_TRACKED_WRITES = 100_000;

interface PendingPut {
  job: QueuedJob;
  waiters: Array<(durable: boolean) => void>;
}

export function createWriteBuffer(options: WriteBufferOptions): WriteBuffer {
  const { store, flushMs, maxBatch, maxPendingAudits, touchIntervalMs, log, clock = systemClock } = options;
  const now = () => clock.now().getTime();
  let puts = new Map<string, PendingPut>();
  // Jobs not to be written before dueAt (by the clock), in the order they came: with one writeAfterMs
  // for all of them, the first is the next due.
  const deferred = new Map<string, PendingPut & { dueAt: number }>();
  let deferTimer: NodeJS.Timeout | undefined;
  let completes = new Map<string, JobRef>();
  let audits: DeliveryRecord[] = [];
  let touched = new Set<string>();
  const lastTouch = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let closed = false;
  let failingSince: number | undefined;
  // Which of our puts reached the database: completing a job that never did needs no DELETE, and in
  // the common case (delivered before its group commit) the job costs no write at all.
  const written = new Set<string>();
  let trackWrites = true;
  let flushingPuts: ReadonlyMap<string, PendingPut> | undefined;
  const key = (ref: JobRef) => `${ref.node}\u0000${ref.pushId}`;

  const pendingOps = () => puts.size + completes.size + audits.length + touched.size;

  // Into the next batch: every deferred job due by `until` (all of them without it).
  const promote = (until = Infinity) => {
    for (const [node, d] of deferred) {
      if (d.dueAt > until) break;
      deferred.delete(node);
      puts.set(node, { job: d.job, waiters: d.waiters });
    }
    schedule();
  };
  // One timer for all deferred jobs, armed for the first. When it fires, the jobs due by the time it was
  // armed for go (a clock that tests hold still cannot keep them back forever).
  const armDeferTimer = () => {
    if (deferTimer !== undefined || closed) return;
    const first = deferred.values().next().value;
    if (first === undefined) return;
    const until = first.dueAt;
    deferTimer = setTimeout(
      () => {
        deferTimer = undefined;
        promote(until);
        armDeferTimer();
      },
      Math.max(0, until - now()),
    );
  };

  const schedule = (retryAfterFailure = false) => {
    if (closed) return;
    if (retryAfterFailure) {
      // The database just failed: wait before the next try instead of spinning on it.
      timer ??= setTimeout(
        () => {
          timer = undefined;
          void flushNow();
        },
        Math.max(flushMs, RETRY_AFTER_FAILURE_MS),
      );
    } else if (pendingOps() >= maxBatch) {
      void flushNow();
    } else if (timer === undefined && flushing === undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        void flushNow();
      }, flushMs);
    }
  };

  const flushNow = async (): Promise<void> => {
    if (flushing) return flushing;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (pendingOps() === 0) return;
    const batch = { puts, completes, audits, touched };
    puts = new Map();
    completes = new Map();
    audits = [];
    touched = new Set();
    flushingPuts = batch.puts;
    flushing = (async () => {
      const started = now();
      let ok = false;
      try {
        await store.commit({
          puts: [...batch.puts.values()].map((p) => p.job),
          completes: [...batch.completes.values()],
          audits: batch.audits,
          touched: [...batch.touched],
          touchedAt: new Date(started),
        });
        ok = true;
        if (trackWrites) {
          for (const p of batch.puts.values()) written.add(key(p.job));
          if (written.size > MAX_TRACKED_WRITES) {
            trackWrites = false;
            written.clear();
          }
        }
        if (failingSince !== undefined) log.info({ downMs: now() - failingSince }, "database writes work again");
        failingSince = undefined;
      } catch (err) {
        if (failingSince === undefined) {
          failingSince = now();
          log.warn(
            { err: { message: (err as Error).message, code: (err as { code?: string }).code } },
            "database writes failing; pushes answer wait until they work again",
          );
        }
        // Completes are idempotent and audit rows still worth keeping: they go into the next batch.
        for (const [k, v] of batch.completes) if (!completes.has(k)) completes.set(k, v);
        audits = [...batch.audits, ...audits];
        if (audits.length > maxPendingAudits) {
          const dropped = audits.length - maxPendingAudits;
          audits = audits.slice(dropped);
          options.onAuditDropped?.(dropped);
        }
      } finally {
        options.onFlush?.((now() - started) / 1000, ok);
        for (const p of batch.puts.values()) for (const w of p.waiters) w(ok);
        flushing = undefined;
        flushingPuts = undefined;
        if (!ok) schedule(true);
        else if (pendingOps() > 0) schedule();
      }
    })();
    return flushing;
  };

  return {
    putJob(job, { writeAfterMs = 0 } = {}) {
      return new Promise<boolean>((resolve) => {
        const waiting = deferred.get(job.node);
        if (waiting !== undefined) {
          // One pending push per device: the newer job takes the older one's place (and its waiters),
          // deferred still (keeping its place in the order) or into the next batch.
          const newer = waiting.job.receivedAt > job.receivedAt ? waiting.job : job;
          const merged = { job: newer, waiters: [...waiting.waiters, resolve] };
          if (writeAfterMs > 0) return void deferred.set(job.node, { ...merged, dueAt: waiting.dueAt });
          deferred.delete(job.node);
          puts.set(job.node, merged);
          return schedule();
        }
        if (writeAfterMs > 0 && !puts.has(job.node)) {
          deferred.set(job.node, { job, waiters: [resolve], dueAt: now() + writeAfterMs });
          return armDeferTimer();
        }
        const pending = puts.get(job.node);
        if (pending && pending.job.receivedAt > job.receivedAt) {
          // A newer push for this node is already waiting; it supersedes this one (coalescing).
          pending.waiters.push(resolve);
        } else {
          puts.set(job.node, { job, waiters: [...(pending?.waiters ?? []), resolve] });
        }
        schedule();
      });
    },

    completeJob(ref, opts = {}) {
      const waiting = deferred.get(ref.node);
      if (waiting && waiting.job.pushId === ref.pushId) {
        deferred.delete(ref.node);
        for (const w of waiting.waiters) w(true);
      }
      const pending = puts.get(ref.node);
      if (pending && pending.job.pushId === ref.pushId) {
        puts.delete(ref.node);
        for (const w of pending.waiters) w(true);
      }
      const k = key(ref);
      // In the database from an earlier batch (or we cannot tell): delete it there too.
      const beingWritten = flushingPuts?.get(ref.node)?.job.pushId === ref.pushId;
      if (opts.persisted || !trackWrites || written.has(k) || beingWritten) {
        written.delete(k);
        completes.set(k, ref);
        schedule();
      }
    },

    recordAttempt(row) {
      audits.push(row);
      schedule();
    },

    touch(node) {
      const t = now();
      const last = lastTouch.get(node);
      if (last !== undefined && t - last < touchIntervalMs) return;
      if (lastTouch.size > 100_000) lastTouch.clear();
      lastTouch.set(node, t);
      touched.add(node);
      schedule();
    },

    async flush() {
      promote();
      await flushing;
      await flushNow();
    },

    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (deferTimer) clearTimeout(deferTimer);
      deferTimer = undefined;
      // Pushes still under way at shutdown are written, so another replica can finish them.
      promote();
      // Bounded: a database that never answers must not keep shutdown waiting forever.
      for (let i = 0; i < 3 && (flushing !== undefined || pendingOps() > 0); i++) {
        await flushing;
        await flushNow();
      }
      for (const p of puts.values()) for (const w of p.waiters) w(false);
      puts.clear();
    },
  };
}
