import type { Config } from "../../../src/config/config-schema.js";
import { createCircuitBreakers, type BreakerChange } from "../../../src/delivery/circuit-breaker.js";
import { createDeliveryWorker } from "../../../src/delivery/delivery-worker.js";
import { createDispatcher } from "../../../src/delivery/dispatcher.js";
import { createFpushResolver } from "../../../src/dialects/fpush/fpush-resolver.js";
import { createRegistrationService } from "../../../src/registration/registration-service.js";
import { NodeTakenError } from "../../../src/store/registration-store-pg.js";
import { createPublishService } from "../../../src/delivery/publish-service.js";
import { createPushRateLimiter } from "../../../src/delivery/push-rate-limiter.js";
import { createRetryPolicy } from "../../../src/delivery/retry-policy.js";
import { createSettler } from "../../../src/delivery/settle.js";
import { createWriteBuffer } from "../../../src/delivery/write-buffer.js";
import type { DeliveryOutcome } from "../../../src/domain/delivery-outcome.js";
import type { Notification } from "../../../src/domain/notification.js";
import { generateSecret, hashSecret } from "../../../src/domain/secret.js";
import { createMetrics } from "../../../src/observability/metrics.js";
import type { PushAttempt, PushProvider } from "../../../src/ports/push-provider.js";
import { createRegistrationCache } from "../../../src/registration/registration-cache.js";
import { chatApp, testConfig } from "../test-config.js";
import { drivenClock } from "./driven-clock.js";
import { memoryDeliveryAudit } from "./memory-delivery-audit.js";
import { memoryDeliveryQueue } from "./memory-delivery-queue.js";
import { memoryRegistrationStore } from "./memory-registration-store.js";
import { memoryWriteBatchStore } from "./memory-write-batch-store.js";
import { recordingLogger } from "./recording-logger.js";

/** What the fake providers answer, per provider kind; the default delivers. */
export type Answer = (attempt: PushAttempt) => DeliveryOutcome | Promise<DeliveryOutcome>;

export const message: Notification = { priority: "high", call: false, messageCount: 1, lastMessageBody: "hi" };

/**
 * The delivery core (dispatcher, publish service, settle step, write buffer, worker, breakers, cache)
 * wired as main.ts wires it, on the in-memory stores and a driven clock: unit tests of the real modules,
 * with only the database and the providers replaced.
 */
export function deliveryCore(over: { delivery?: Record<string, unknown>; strategy?: Record<string, unknown> } = {}) {
  const clock = drivenClock();
  const registrations = memoryRegistrationStore();
  const queue = memoryDeliveryQueue();
  const audit = memoryDeliveryAudit();
  const database = memoryWriteBatchStore({ queue, audit, registrations });
  const { log, lines } = recordingLogger();
  const metrics = createMetrics();
  const config: Config = testConfig({
    apps: [chatApp({ strategy: { providers: ["apns", "jpush"], mode: "fallback", ...over.strategy } })],
    delivery: { syncDeadlineMs: 500, providerTimeoutMs: 300, jobTtlSeconds: 600, retryBaseMs: 1000, retryMaxMs: 60_000, ...over.delivery },
  });
  const d = config.delivery;
  const answers = new Map<string, Answer>();
  const sent: Array<{ kind: string; attempt: PushAttempt }> = [];
  const provider = (kind: "apns" | "jpush"): PushProvider => ({
    kind,
    name: `${kind}:chat`,
    async send(attempt) {
      sent.push({ kind, attempt });
      return (answers.get(kind) ?? (() => ({ class: "delivered", status: 200, messageId: `m-${sent.length}` })))(attempt);
    },
    async close() {},
  });
  const providers = { apns: provider("apns"), jpush: provider("jpush") };
  const breakerChanges: BreakerChange[] = [];
  const breakers = createCircuitBreakers({
    threshold: d.breakerFailureThreshold,
    cooldownMs: d.breakerCooldownMs,
    clock,
    onChange: (c) => breakerChanges.push(c),
  });
  const cache = createRegistrationCache({ store: registrations, maxEntries: 100, ttlMs: 60_000, negativeTtlMs: 5000, clock });
  const writes = createWriteBuffer({
    store: database,
    flushMs: 5,
    maxBatch: 1000,
    maxPendingAudits: 1000,
    touchIntervalMs: 60_000,
    log,
    clock,
  });
  const dispatcher = createDispatcher({
    providers: (app, kind) => (app === "chat" && (kind === "apns" || kind === "jpush") ? providers[kind] : undefined),
    breakers,
    writes,
    store: registrations,
    cache,
    clock,
    metrics,
    log,
    providerTimeoutMs: d.providerTimeoutMs,
  });
  // Jitter fixed at the middle: the n-th retry comes retryBaseMs × 2^(n-1) after a failure.
  const settler = createSettler({
    writes,
    retry: createRetryPolicy({ baseMs: d.retryBaseMs, maxMs: d.retryMaxMs, random: () => 0.5 }),
    clock,
    metrics,
    log,
  });
  const publish = createPublishService({
    config,
    cache,
    fpush: createFpushResolver({
      config,
      registrations: createRegistrationService({
        store: registrations,
        cache,
        config,
        clock,
        isNodeTaken: (err) => err instanceof NodeTakenError,
      }),
      cache,
    }),
    dispatcher,
    writes,
    settler,
    rateLimiter: createPushRateLimiter(0),
    clock,
    log,
  });
  const worker = createDeliveryWorker({
    queue,
    cache,
    dispatcher,
    settler,
    apps: new Map(config.apps.map((a) => [a.id, a])),
    clock,
    log,
    concurrency: 4,
    pollMs: 50,
    leaseMs: 10_000,
  });

  let seq = 0;
  /** A p2-style registration with a publish secret; addresses per provider. */
  const register = async (addresses: { apns?: string; jpush?: string }) => {
    seq += 1;
    const node = `node-${seq}`;
    const secret = generateSecret();
    for (const [provider, token] of Object.entries(addresses)) {
      await registrations.register(
        {
          node,
          app: "chat",
          ownerJid: `user${seq}@localhost`,
          deviceId: `d${seq}`,
          channel: "",
          dialect: "p2",
          secretHash: hashSecret(secret),
          address: { provider: provider as "apns" | "jpush", token },
        },
        clock.now(),
      );
    }
    return { node, secret };
  };
  const publishTo = (node: string, secret: string) =>
    publish.publish({ fromDomain: "localhost", node, options: new Map([["secret", secret]]), notification: message });
  const counter = async (name: string, labels: string) => {
    const text = await metrics.registry.getSingleMetricAsString(name);
    const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
    return line === undefined ? 0 : Number(line.split(" ").pop());
  };

  return {
    clock,
    registrations,
    queue,
    audit,
    database,
    log,
    lines,
    metrics,
    config,
    answers,
    sent,
    breakers,
    breakerChanges,
    cache,
    writes,
    dispatcher,
    settler,
    publish,
    worker,
    register,
    publishTo,
    counter,
  };
}
