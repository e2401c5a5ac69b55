import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { AppConfig } from "../config/config-schema.js";
import { isActive } from "../domain/registration.js";
import type { Clock } from "../ports/clock.js";
import type { DeliveryQueue, QueuedJob } from "../ports/delivery-queue.js";
import type { Logger } from "../observability/logger.js";
import type { RegistrationCache } from "../registration/registration-cache.js";
import { waitAtMost } from "../shared/wait-at-most.js";
import type { Dispatcher } from "./dispatcher.js";
import type { Settler } from "./settle.js";

// Delivers what the synchronous attempt could not: claims due jobs (FOR UPDATE SKIP LOCKED, so any
// number of processes can share the queue), dispatches them, and settles them (settle.ts).
// A claimed job is leased; if this process dies, another takes it over when the lease runs out.

export interface DeliveryWorker {
  start(): void;
  /** Stops claiming, waits (bounded) for running deliveries. */
  stop(): Promise<void>;
  /** One claim-and-deliver round; returns how many jobs it took. For tests and the CLI. */
  runOnce(): Promise<number>;
}

export interface DeliveryWorkerDeps {
  readonly queue: DeliveryQueue;
  readonly cache: RegistrationCache;
  readonly dispatcher: Dispatcher;
  readonly settler: Settler;
  readonly apps: ReadonlyMap<string, AppConfig>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly concurrency: number;
  readonly pollMs: number;
  readonly leaseMs: number;
}

const EXPIRY_SWEEP_MS = 10_000;
const STOP_WAIT_MS = 5000;

export function createDeliveryWorker(deps: DeliveryWorkerDeps): DeliveryWorker {
  const { queue, cache, dispatcher, settler, apps, clock, log, concurrency, pollMs, leaseMs } = deps;
  const workerId = `worker-${randomUUID()}`;
  const running = new Set<Promise<void>>();
  let stopping = false;
  let loop: Promise<void> | undefined;
  let wake: AbortController | undefined;
  let lastSweep = 0;
  let failingSince: number | undefined;

  const deliver = async (job: QueuedJob): Promise<void> => {
    const app = apps.get(job.app);
    const reg = await cache.get(job.node);
    if (!app || !reg || !isActive(reg)) {
      settler.abandon(job);
      return;
    }
    const result = await dispatcher.dispatch(
      reg,
      app,
      { pushId: job.pushId, node: job.node, app: job.app, notification: job.notification, receivedAt: job.receivedAt },
      job.attempts,
      job.expiresAt,
    );
    settler.settle(job, result, { persisted: true });
  };

  const sweepExpired = async () => {
    const now = clock.now();
    if (now.getTime() - lastSweep < EXPIRY_SWEEP_MS) return;
    lastSweep = now.getTime();
    settler.expiredInQueue(await queue.takeExpired(now, 1000));
  };

  const runOnce = async (): Promise<number> => {
    const free = concurrency - running.size;
    if (free <= 0) return 0;
    const now = clock.now();
    const jobs = await queue.claim(workerId, free, now, new Date(now.getTime() + leaseMs));
    for (const job of jobs) {
      const p = deliver(job)
        .catch((err: unknown) =>
          log.error({ err, node: job.node }, "delivery of a queued push failed; its lease will expire and it will be retried"),
        )
        .finally(() => running.delete(p));
      running.add(p);
    }
    await sweepExpired();
    return jobs.length;
  };

  const run = async () => {
    while (!stopping) {
      let claimed = 0;
      try {
        claimed = await runOnce();
        if (failingSince !== undefined) log.info("delivery queue reachable again");
        failingSince = undefined;
      } catch (err) {
        if (failingSince === undefined)
          log.warn({ err: { message: (err as Error).message } }, "cannot read the delivery queue; will keep trying");
        failingSince ??= clock.now().getTime();
      }
      // A full batch means more may be due: go again at once. Otherwise wait for the next poll.
      if (claimed > 0 && running.size < concurrency) continue;
      wake = new AbortController();
      await sleep(pollMs, undefined, { signal: wake.signal }).catch(() => undefined);
      if (running.size >= concurrency) await Promise.race(running);
    }
  };

  return {
    start() {
      stopping = false;
      loop ??= run();
    },
    async stop() {
      stopping = true;
      wake?.abort();
      await loop;
      loop = undefined;
      await waitAtMost(Promise.allSettled([...running]), STOP_WAIT_MS);
    },
    runOnce,
  };
}
