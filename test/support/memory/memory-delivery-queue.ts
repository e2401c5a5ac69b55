import type { DeliveryQueue, QueuedJob } from "../../../src/ports/delivery-queue.js";

interface Stored {
  job: QueuedJob;
  lockedUntil?: Date;
}

/** The delivery queue in memory, with the Postgres queue's semantics (see the contract suite). */
export function memoryDeliveryQueue(): DeliveryQueue & { readonly jobs: () => readonly QueuedJob[] } {
  const byNode = new Map<string, Stored>();
  const free = (s: Stored, now: Date) => s.lockedUntil === undefined || s.lockedUntil < now;
  return {
    jobs: () => [...byNode.values()].map((s) => s.job),

    async put(jobs) {
      for (const j of jobs) {
        const stored = byNode.get(j.node);
        // A retry of an old push never overwrites a newer one; a put releases any lease.
        if (stored && stored.job.receivedAt > j.receivedAt) continue;
        byNode.set(j.node, { job: j });
      }
    },

    async claim(_workerId, max, now, leaseUntil) {
      const due = [...byNode.values()]
        .filter((s) => s.job.nextAttemptAt <= now && s.job.expiresAt > now && free(s, now))
        .sort((a, b) => a.job.nextAttemptAt.getTime() - b.job.nextAttemptAt.getTime())
        .slice(0, max);
      for (const s of due) {
        s.job = { ...s.job, attempts: s.job.attempts + 1 };
        s.lockedUntil = leaseUntil;
      }
      return due.map((s) => s.job);
    },

    async complete(refs) {
      for (const r of refs) if (byNode.get(r.node)?.job.pushId === r.pushId) byNode.delete(r.node);
    },

    async takeExpired(now, max) {
      const expired = [...byNode.values()]
        .filter((s) => s.job.expiresAt <= now && free(s, now))
        .sort((a, b) => a.job.expiresAt.getTime() - b.job.expiresAt.getTime())
        .slice(0, max);
      for (const s of expired) byNode.delete(s.job.node);
      return expired.map((s) => s.job);
    },

    async stats(now) {
      const ages = [...byNode.values()].map((s) => now.getTime() - s.job.receivedAt.getTime());
      return { depth: byNode.size, oldestAgeMs: Math.max(0, ...ages) };
    },
  };
}
