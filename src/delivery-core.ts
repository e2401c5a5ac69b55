import type { Config } from "./config/config-schema.js";
import { createCircuitBreakers, type BreakerChange, type CircuitBreakers } from "./delivery/circuit-breaker.js";
import type { ConfirmFallback } from "./delivery/confirm-fallback.js";
import { createDeliveryWorker, type DeliveryWorker } from "./delivery/delivery-worker.js";
import { createDispatcher, type Dispatcher, type ProviderLookup } from "./delivery/dispatcher.js";
import { createPublishService, type PublishService } from "./delivery/publish-service.js";
import { createPushRateLimiter } from "./delivery/push-rate-limiter.js";
import { createRetryPolicy } from "./delivery/retry-policy.js";
import { createSettler, type Settler } from "./delivery/settle.js";
import { createWriteBuffer, type WriteBuffer } from "./delivery/write-buffer.js";
import { createFpushResolver } from "./dialects/fpush/fpush-resolver.js";
import { breakerAlarms } from "./observability/breaker-alarms.js";
import type { Logger } from "./observability/logger.js";
import type { Metrics } from "./observability/metrics.js";
import type { Clock } from "./ports/clock.js";
import type { DeliveryQueue } from "./ports/delivery-queue.js";
import type { RegistrationStore } from "./ports/registration-store.js";
import type { WriteBatchStore } from "./ports/write-batch.js";
import { createRegistrationCache, type RegistrationCache } from "./registration/registration-cache.js";
import { createRegistrationService, type RegistrationService } from "./registration/registration-service.js";

// The delivery core (registration cache and service, breakers, write buffer, dispatcher, settle step,
// publish service, worker) wired over its ports. Part of the wiring, like main.ts: main.ts builds it on
// Postgres and the real providers, the unit tests on in-memory stores and a driven clock, so the tests
// run exactly the wiring production runs.

/** While the database is away, audit rows wait in memory up to this many; older ones are dropped. */
export const MAX_PENDING_AUDITS = 100_000;
/** A node's last-push time is written at most this often: a busy device costs one UPDATE a minute, not one a push. */
const TOUCH_INTERVAL_MS = 60_000;
const CACHE_TTL_MS = 60_000;
const CACHE_NEGATIVE_TTL_MS = 5000;

export interface DeliveryCoreDeps {
  readonly config: Config;
  readonly store: RegistrationStore;
  readonly queue: DeliveryQueue;
  /** Where the write buffer's group commits go (jobs, audit rows, last-push times). */
  readonly writeStore: WriteBatchStore;
  readonly providers: ProviderLookup;
  /** Tells the store's "node registered for another device" failure from any other. */
  readonly isNodeTaken: (err: unknown) => boolean;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** strategy.confirmWithinSeconds: the checks that send an unconfirmed JPush push on down the chain. */
  readonly confirmations?: ConfirmFallback;
  /** The retry jitter's source (Math.random); a test fixes it to know when a retry comes. */
  readonly random?: () => number;
  /** Told of every breaker change, after the operator's alarms (gauge, trip counter, log line). */
  readonly onBreakerChange?: (change: BreakerChange) => void;
}

export interface DeliveryCore {
  readonly cache: RegistrationCache;
  readonly registrations: RegistrationService;
  readonly breakers: CircuitBreakers;
  readonly writes: WriteBuffer;
  readonly dispatcher: Dispatcher;
  readonly settler: Settler;
  readonly publish: PublishService;
  readonly worker: DeliveryWorker;
}

export function createDeliveryCore(deps: DeliveryCoreDeps): DeliveryCore {
  const { config, store, queue, writeStore, providers, isNodeTaken, clock, metrics, log, confirmations, random, onBreakerChange } = deps;
  const d = config.delivery;
  const cache = createRegistrationCache({
    store,
    maxEntries: d.registrationCacheSize,
    ttlMs: CACHE_TTL_MS,
    negativeTtlMs: CACHE_NEGATIVE_TTL_MS,
    clock,
  });
  const registrations = createRegistrationService({ store, cache, config, clock, isNodeTaken });
  const alarms = breakerAlarms({ metrics, log });
  const breakers = createCircuitBreakers({
    threshold: d.breakerFailureThreshold,
    cooldownMs: d.breakerCooldownMs,
    clock,
    onChange: (change) => {
      alarms(change);
      onBreakerChange?.(change);
    },
  });
  const writes = createWriteBuffer({
    store: writeStore,
    flushMs: d.auditFlushMs,
    maxBatch: d.auditBatchSize,
    maxPendingAudits: MAX_PENDING_AUDITS,
    touchIntervalMs: TOUCH_INTERVAL_MS,
    clock,
    log: log.child({ module: "writes" }),
    onFlush: (seconds) => metrics.writeFlushSeconds.observe(seconds),
    onAuditDropped: (n) => metrics.auditDropped.inc(n),
  });
  const dispatcher = createDispatcher({
    providers,
    breakers,
    writes,
    store,
    cache,
    clock,
    metrics,
    log: log.child({ module: "dispatch" }),
    providerTimeoutMs: d.providerTimeoutMs,
    confirmations,
  });
  const settler = createSettler({
    writes,
    retry: createRetryPolicy({ baseMs: d.retryBaseMs, maxMs: d.retryMaxMs, random }),
    clock,
    metrics,
    log: log.child({ module: "settle" }),
  });
  const publish = createPublishService({
    config,
    cache,
    fpush: createFpushResolver({ config, registrations, cache }),
    dispatcher,
    writes,
    settler,
    rateLimiter: createPushRateLimiter(config.limits.pushIntervalSeconds * 1000),
    clock,
    log: log.child({ module: "publish" }),
  });
  const worker = createDeliveryWorker({
    queue,
    cache,
    dispatcher,
    settler,
    apps: new Map(config.apps.map((a) => [a.id, a])),
    clock,
    log: log.child({ module: "worker" }),
    concurrency: d.workerConcurrency,
    pollMs: d.workerPollMs,
    // Outlasts a claimed job's delivery (provider calls bounded by providerTimeoutMs), so only a dead
    // process's jobs are taken over.
    leaseMs: d.providerTimeoutMs * 2 + 5000,
  });
  return { cache, registrations, breakers, writes, dispatcher, settler, publish, worker };
}
