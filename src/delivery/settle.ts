import type { PushResult } from "../domain/delivery-outcome.js";
import type { Clock } from "../ports/clock.js";
import type { QueuedJob } from "../ports/delivery-queue.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { RetryPolicy } from "./retry-policy.js";
import type { WriteBuffer } from "./write-buffer.js";

// The one place that decides what becomes of a push's job after an attempt, for the synchronous
// attempt of a publish and for the worker's attempts alike: complete it (delivered, dead, or refused),
// put it back for a later attempt, or drop it because the next attempt would come after its expiry.
// Every expiry is counted (xmpp_push_jobs_expired_total) and logged here, wherever it happens.

export type Settlement = "completed" | "rescheduled" | "expired";

export interface Settler {
  /**
   * `persisted`: the job was claimed from the queue (it is in the database), not just written ahead by
   * this process; a job that never reached the database costs no delete.
   */
  settle(job: QueuedJob, result: PushResult, opts: { readonly persisted: boolean }): Settlement;
  /** The device went away (unregistered or dead) while its push waited. */
  abandon(job: QueuedJob): void;
  /** Jobs the queue dropped because they passed their expiry while waiting. */
  expiredInQueue(jobs: readonly QueuedJob[]): void;
}

export interface SettlerDeps {
  readonly writes: WriteBuffer;
  readonly retry: RetryPolicy;
  readonly clock: Clock;
  readonly metrics: Pick<Metrics, "jobsExpired">;
  readonly log: Logger;
}

export function createSettler({ writes, retry, clock, metrics, log }: SettlerDeps): Settler {
  return {
    settle(job, result, { persisted }) {
      switch (result.class) {
        case "delivered":
          writes.touch(job.node);
          writes.completeJob(job, { persisted });
          return "completed";
        case "token_dead":
        case "payload_error":
          writes.completeJob(job, { persisted });
          return "completed";
        case "retry": {
          const next = retry.nextAttemptAt(job.attempts, result, clock.now());
          if (next < job.expiresAt) {
            void writes.putJob({ ...job, nextAttemptAt: next, lastError: result.reason });
            return "rescheduled";
          }
          metrics.jobsExpired.inc({ app: job.app });
          log.info({ node: job.node, pushId: job.pushId, attempts: job.attempts, reason: result.reason }, "push expired undelivered");
          writes.completeJob(job, { persisted });
          return "expired";
        }
      }
    },

    abandon(job) {
      writes.completeJob(job, { persisted: true });
    },

    expiredInQueue(jobs) {
      for (const j of jobs) metrics.jobsExpired.inc({ app: j.app });
      if (jobs.length > 0) log.info({ count: jobs.length }, "dropped pushes that expired in the queue");
    },
  };
}
