import type { Notification } from "../domain/notification.js";

/** A push not yet delivered. One per node: a newer publish replaces an older pending one (coalescing). */
export interface QueuedJob {
  readonly node: string;
  readonly pushId: string;
  readonly app: string;
  readonly notification: Notification;
  /** When the publish arrived: a newer publish for the node wins over an older one. */
  readonly receivedAt: Date;
  readonly attempts: number;
  readonly nextAttemptAt: Date;
  readonly expiresAt: Date;
  readonly lastError?: string;
}

export interface JobRef {
  readonly node: string;
  readonly pushId: string;
}

export interface DeliveryQueue {
  /**
   * Upserts by node. A job replaces the stored one unless the stored one is from a newer publish:
   * a new publish supersedes a pending one (coalescing), and a retry of an old push never overwrites a new one.
   */
  put(jobs: readonly QueuedJob[]): Promise<void>;
  /** Claims up to `max` due jobs, none to two claimers at once, leased to `workerId` until `leaseUntil`; attempts is incremented. */
  claim(workerId: string, max: number, now: Date, leaseUntil: Date): Promise<readonly QueuedJob[]>;
  /** Deletes jobs, but only the version named by pushId: a newer push for the node stays. */
  complete(jobs: readonly JobRef[]): Promise<void>;
  /** Deletes and returns jobs past their expiry. */
  takeExpired(now: Date, max: number): Promise<readonly QueuedJob[]>;
  stats(now: Date): Promise<{ depth: number; oldestAgeMs: number }>;
}
