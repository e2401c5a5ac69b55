import type { Config } from "../../../src/config/config-schema.js";
import type { BreakerChange } from "../../../src/delivery/circuit-breaker.js";
import { createDeliveryCore } from "../../../src/delivery-core.js";
import { NodeTakenError } from "../../../src/store/registration-store-pg.js";
import type { DeliveryOutcome } from "../../../src/domain/delivery-outcome.js";
import type { Notification } from "../../../src/domain/notification.js";
import { generateSecret, hashSecret } from "../../../src/domain/secret.js";
import { createMetrics } from "../../../src/observability/metrics.js";
import type { PushAttempt, PushProvider } from "../../../src/ports/push-provider.js";
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
 * wired by the same createDeliveryCore that main.ts calls, on the in-memory stores and a driven clock:
 * unit tests of the real modules and their real wiring, with only the database and the providers replaced.
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
    delivery: {
      syncDeadlineMs: 500,
      providerTimeoutMs: 300,
      jobTtlSeconds: 600,
      retryBaseMs: 1000,
      retryMaxMs: 60_000,
      // Small and quick: a test's few pushes, flushed within a few milliseconds, four jobs at a time.
      registrationCacheSize: 100,
      auditFlushMs: 5,
      auditBatchSize: 1000,
      workerConcurrency: 4,
      workerPollMs: 50,
      ...over.delivery,
    },
  });
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
  const { cache, breakers, writes, dispatcher, settler, publish, worker } = createDeliveryCore({
    config,
    store: registrations,
    queue,
    writeStore: database,
    providers: (app, kind) => (app === "chat" && (kind === "apns" || kind === "jpush") ? providers[kind] : undefined),
    isNodeTaken: (err) => err instanceof NodeTakenError,
    clock,
    metrics,
    log,
    // Jitter fixed at the middle: the n-th retry comes retryBaseMs × 2^(n-1) after a failure.
    random: () => 0.5,
    onBreakerChange: (c) => breakerChanges.push(c),
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
