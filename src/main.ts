import type { Config } from "./config/config-schema.js";
import { createDeliveryCore } from "./delivery-core.js";
import type { DeliveryWorker } from "./delivery/delivery-worker.js";
import type { PublishService } from "./delivery/publish-service.js";
import type { WriteBuffer } from "./delivery/write-buffer.js";
import type { RegistrationService } from "./registration/registration-service.js";
import type { Logger } from "./observability/logger.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import { systemClock, type Clock } from "./ports/clock.js";
import type { RegistrationStore } from "./ports/registration-store.js";
import { providerFactories } from "./providers/provider-factories.js";
import { createProviderRegistry, type ProviderFactory, type ProviderRegistry } from "./providers/provider-registry.js";
import { openDatabase, type Database } from "./store/database.js";
import { createPgDeliveryQueue } from "./store/delivery-queue-pg.js";
import { passMigrationGate } from "./store/migrate.js";
import { createPgRegistrationStore, NodeTakenError } from "./store/registration-store-pg.js";
import { tokenCipherFor } from "./store/token-cipher.js";
import { passTokenKeyGate } from "./store/token-key-check.js";
import { createPgWriteBatchStore } from "./store/write-batch-pg.js";
import { waitAtMost, waitAtMostOrFail } from "./shared/wait-at-most.js";
import { createHttpServer, type HttpServer, type NotReadyReason } from "./http/http-server.js";
import { registrationScopes } from "./http/registration-scopes.js";
import { periodicValue } from "./observability/periodic-value.js";
import { logStartup } from "./observability/startup-log.js";
import { createAuditPartitions } from "./store/audit-partitions.js";
import { createAuditRetention } from "./store/audit-retention.js";
import { createPgDeliveryAudit } from "./store/delivery-audit-pg.js";
import { createPgReceiptStore } from "./store/receipt-store-pg.js";
import { createJpushReceipts, type JpushReceipts } from "./providers/jpush/jpush-receipts.js";
import { createComponentLease, type ComponentLease } from "./store/component-lease.js";
import { createComponentConnection, type ComponentConnection } from "./xmpp/component.js";
import { attachXmppService } from "./xmpp/xmpp-service.js";

// The composition root: the only place that knows every concrete module and wires them together.

export interface Server {
  readonly db: Database;
  readonly http: HttpServer;
  /** Where the HTTP server listens once started ("http://127.0.0.1:8080"). */
  httpAddress(): string | undefined;
  readonly metrics: Metrics;
  readonly component: ComponentConnection;
  readonly registrations: RegistrationService;
  readonly registrationStore: RegistrationStore;
  readonly publish: PublishService;
  readonly worker: DeliveryWorker;
  readonly writes: WriteBuffer;
  readonly providers: ProviderRegistry;
  readonly receipts: JpushReceipts;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServerDeps {
  readonly log: Logger;
  /** An already open database (tests); opened from the config otherwise, and then closed on stop. */
  readonly db?: Database;
  readonly clock?: Clock;
  readonly providerFactories?: readonly ProviderFactory[];
}

const DRAIN_WAIT_MS = 5000;
const DB_PING_TIMEOUT_MS = 2000;
const LEASE_POLL_MS = 1000;

/**
 * Ready means: able to do this replica's job. That is connected to the XMPP server and able to use the
 * database, or, for a standby replica, able to use the database (it serves the HTTP API and takes the
 * component over when the active replica goes): so a rolling update can start a standby before the
 * old replica stops.
 */
async function readinessProblems(
  component: ComponentConnection,
  db: Database,
  lease: ComponentLease | undefined,
): Promise<NotReadyReason[]> {
  const problems: NotReadyReason[] = [];
  const state = component.state();
  if (lease?.state() !== "standby" && state !== "online") problems.push({ code: `xmpp_${state}`, detail: `XMPP component ${state}` });
  try {
    await waitAtMostOrFail(db.knex.raw("SELECT 1"), DB_PING_TIMEOUT_MS);
  } catch (err) {
    problems.push({ code: "database_unavailable", detail: (err as Error).message });
  }
  return problems;
}

export async function createServer(config: Config, deps: ServerDeps): Promise<Server> {
  const { log } = deps;
  const clock = deps.clock ?? systemClock;
  const ownsDb = deps.db === undefined;
  const db = deps.db ?? (await openDatabase({ ...config.database, lockWaitMs: 10_000 }));
  try {
    const applied = await passMigrationGate(db, config.database.migrateOnStart);
    if (applied.length > 0) log.info({ applied }, "database migrated");
  } catch (err) {
    if (ownsDb) await db.close();
    throw err;
  }

  const cipher = tokenCipherFor(config);
  try {
    await passTokenKeyGate(db.knex, cipher, log);
  } catch (err) {
    if (ownsDb) await db.close();
    throw err;
  }
  const registrationStore = createPgRegistrationStore({
    knex: db.knex,
    cipher,
    preparedStatements: config.database.preparedStatements,
    onUnreadable: ({ node, provider, reason }) =>
      log.error(
        { node, provider, reason },
        "a device token cannot be decrypted; the device is treated as unknown until it registers again",
      ),
  });
  const queue = createPgDeliveryQueue({ knex: db.knex });
  const providers = createProviderRegistry({
    config,
    log: log.child({ module: "providers" }),
    factories: deps.providerFactories ?? providerFactories,
    clock,
  });
  const refreshMs = config.http.metricsRefreshSeconds * 1000;
  const queueStats = periodicValue(() => queue.stats(clock.now()), refreshMs);
  const registrationCounts = periodicValue(() => registrationStore.countActiveByApp(), refreshMs);
  const metrics = createMetrics(
    {
      queueStats: queueStats.read,
      registrationCounts: registrationCounts.read,
      apnsCertificates: () =>
        providers.all().flatMap((p) => {
          const expiresAt = p.credentialExpiresAt?.();
          return p.kind === "apns" && expiresAt ? [{ app: p.name.slice("apns:".length), expiresAt }] : [];
        }),
    },
    { apps: config.apps.map((a) => ({ id: a.id, providers: a.strategy.providers })) },
  );
  // Rows made over HTTP before tokens had scopes belong to the single token of that time.
  const legacyRegistrar = registrationScopes(config).legacyRegistrar;
  if (legacyRegistrar !== undefined) await registrationStore.adoptRegistrar("http-legacy", legacyRegistrar);
  const receipts = createJpushReceipts({
    config,
    store: createPgReceiptStore({ knex: db.knex }),
    registrations: registrationStore,
    clock,
    metrics,
    log: log.child({ module: "receipts" }),
  });
  const { registrations, publish, worker, writes } = createDeliveryCore({
    config,
    store: registrationStore,
    queue,
    writeStore: createPgWriteBatchStore({ knex: db.knex, cipher }),
    providers: providers.lookup,
    isNodeTaken: (err) => err instanceof NodeTakenError,
    clock,
    metrics,
    log,
    confirmations: receipts.confirmations,
  });
  const component = createComponentConnection({ ...config.component, clock, log: log.child({ module: "component" }) });
  // The embedded database serves one process only, so there is nobody to share the component with.
  const lease =
    config.component.mode === "exclusive" && db.url !== undefined
      ? createComponentLease({ url: db.url, domain: config.component.domain, pollMs: LEASE_POLL_MS, log: log.child({ module: "lease" }) })
      : undefined;
  let everConnected = false;
  component.onStateChange((state) => {
    metrics.componentConnected.set(state === "online" ? 1 : 0);
    if (state === "online") {
      if (everConnected) metrics.componentReconnects.inc();
      everConnected = true;
    }
  });
  attachXmppService({ component, config, publish, registrations, metrics, log: log.child({ module: "xmpp" }) });
  const audit = createPgDeliveryAudit({ knex: db.knex });
  const http = createHttpServer({
    config,
    log: log.child({ module: "http" }),
    metrics,
    readiness: { check: () => readinessProblems(component, db, lease) },
    registrations,
    registrationStore,
    audit,
    clock,
  });
  let httpAddress: string | undefined;
  const retention = createAuditRetention({
    audit,
    partitions: createAuditPartitions({ knex: db.knex }),
    clock,
    log,
    keepDays: config.retention.auditDays,
    intervalMinutes: config.retention.purgeIntervalMinutes,
  });

  return {
    db,
    metrics,
    component,
    registrations,
    registrationStore,
    publish,
    worker,
    writes,
    providers,
    receipts,
    http,
    httpAddress: () => httpAddress,
    async start() {
      httpAddress = await http.listen();
      if (lease) {
        metrics.componentStandby.set(1);
        lease.start((state) => {
          metrics.componentStandby.set(state === "held" ? 0 : 1);
          if (state === "held") component.start();
          else void component.stop();
        });
      } else {
        component.start();
      }
      worker.start();
      queueStats.start();
      registrationCounts.start();
      receipts.start();
      retention.start();
      logStartup(log, config, { database: db.description, http: httpAddress });
    },
    async stop() {
      // Stop taking work, let what was accepted finish (bounded), then persist what is pending.
      retention.stop();
      queueStats.stop();
      registrationCounts.stop();
      await component.stop();
      await lease?.stop();
      await waitAtMost(publish.drain(), DRAIN_WAIT_MS);
      await worker.stop();
      await receipts.stop();
      await writes.close();
      await providers.close();
      await http.close();
      if (ownsDb) await db.close();
    },
  };
}
