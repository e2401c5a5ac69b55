import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { outcomeClasses, publishOutcomes } from "../domain/delivery-outcome.js";
import { buildInfo } from "./build-info.js";

// Every instrument in one typed object on a registry of our own (no prom-client global), created by
// the composition root and handed to the modules that count.

export interface Metrics {
  readonly registry: Registry;
  readonly publishes: Counter<"result">;
  readonly publishReplySeconds: Histogram<"result">;
  readonly pushes: Counter<"app" | "provider" | "outcome">;
  readonly providerLatencySeconds: Histogram<"app" | "provider">;
  readonly registrationsDisabled: Counter<"app" | "provider">;
  readonly registrationCommands: Counter<"dialect" | "action" | "result">;
  readonly jobsExpired: Counter<"app">;
  readonly auditDropped: Counter;
  readonly writeFlushSeconds: Histogram;
  readonly componentConnected: Gauge;
  readonly componentReconnects: Counter;
  readonly componentStandby: Gauge;
  readonly circuitOpen: Gauge<"app" | "provider">;
  readonly circuitTrips: Counter<"app" | "provider" | "cause">;
  readonly apnsCertificateExpiry: Gauge<"app">;
  readonly httpRequests: Counter<"route" | "status">;
  readonly jpushReceipts: Counter<"app" | "result">;
  readonly confirmFallbacks: Counter<"app" | "result">;
}

/**
 * Values read when Prometheus scrapes, not counted as they happen. The database-backed ones come from
 * a cache refreshed on a timer (periodic-value.ts), never from a query per scrape; undefined: not known yet.
 */
export interface MetricSources {
  queueStats(): Promise<{ depth: number; oldestAgeMs: number } | undefined>;
  registrationCounts(): Promise<ReadonlyArray<{ app: string; provider: string; count: number }> | undefined>;
  apnsCertificates(): ReadonlyArray<{ app: string; expiresAt: Date }>;
}

/** The apps and the providers each may use: their label sets are exported at 0 from the start. */
export interface KnownLabels {
  readonly apps: ReadonlyArray<{ readonly id: string; readonly providers: readonly string[] }>;
}

// Every answer a publish can get, as the publish handler labels it (a malformed one is a bad-request).
const PUBLISH_RESULTS = [...publishOutcomes, "bad-request"];
const BREAKER_CAUSES = ["config_error", "outage"] as const;

export function createMetrics(sources?: MetricSources, known: KnownLabels = { apps: [] }): Metrics {
  const registry = new Registry();
  // Standard names (process_*, nodejs_*), as stock Node.js dashboards expect them.
  collectDefaultMetrics({ register: registry });
  const r = [registry];
  new Gauge({
    name: "xmpp_push_build_info",
    help: "Always 1; the labels say which version runs on which Node.js",
    labelNames: ["version", "node"],
    registers: r,
  }).set(buildInfo(), 1);
  const metrics: Metrics = {
    registry,
    publishes: new Counter({
      name: "xmpp_push_publishes_total",
      help: "Publish IQs answered, by result",
      labelNames: ["result"],
      registers: r,
    }),
    publishReplySeconds: new Histogram({
      name: "xmpp_push_publish_reply_seconds",
      help: "Time from receiving a publish to sending its reply",
      labelNames: ["result"],
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
      registers: r,
    }),
    pushes: new Counter({
      name: "xmpp_push_pushes_total",
      help: "Provider attempts, by app, provider and outcome",
      labelNames: ["app", "provider", "outcome"],
      registers: r,
    }),
    providerLatencySeconds: new Histogram({
      name: "xmpp_push_provider_latency_seconds",
      help: "Provider request latency",
      labelNames: ["app", "provider"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    }),
    registrationsDisabled: new Counter({
      name: "xmpp_push_addresses_disabled_total",
      help: "Device addresses disabled because the provider reported the token dead",
      labelNames: ["app", "provider"],
      registers: r,
    }),
    registrationCommands: new Counter({
      name: "xmpp_push_registration_requests_total",
      help: "Registration requests, by dialect, action and result",
      labelNames: ["dialect", "action", "result"],
      registers: r,
    }),
    jobsExpired: new Counter({
      name: "xmpp_push_jobs_expired_total",
      help: "Queued pushes dropped undelivered at their expiry",
      labelNames: ["app"],
      registers: r,
    }),
    auditDropped: new Counter({
      name: "xmpp_push_audit_rows_dropped_total",
      help: "Audit rows dropped because the database was unavailable for too long",
      registers: r,
    }),
    writeFlushSeconds: new Histogram({
      name: "xmpp_push_write_flush_seconds",
      help: "Duration of one group commit of queue and audit writes",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: r,
    }),
    componentConnected: new Gauge({
      name: "xmpp_push_component_connected",
      help: "1 while the XEP-0114 component connection is online",
      registers: r,
    }),
    componentReconnects: new Counter({
      name: "xmpp_push_component_reconnects_total",
      help: "Component connections established after a loss",
      registers: r,
    }),
    componentStandby: new Gauge({
      name: "xmpp_push_component_standby",
      help: "1 while this replica stands by because another one serves the component",
      registers: r,
    }),
    circuitOpen: new Gauge({
      name: "xmpp_push_circuit_open",
      help: "1 while a provider's circuit breaker is open",
      labelNames: ["app", "provider"],
      registers: r,
    }),
    circuitTrips: new Counter({
      name: "xmpp_push_circuit_trips_total",
      help: "Circuit breaker trips, by cause",
      labelNames: ["app", "provider", "cause"],
      registers: r,
    }),
    apnsCertificateExpiry: new Gauge({
      name: "xmpp_push_apns_certificate_expiry_timestamp_seconds",
      help: "When the APNs client certificate expires, in seconds since the Unix epoch",
      labelNames: ["app"],
      registers: r,
      collect() {
        for (const c of sources?.apnsCertificates() ?? []) this.set({ app: c.app }, c.expiresAt.getTime() / 1000);
      },
    }),
    jpushReceipts: new Counter({
      name: "xmpp_push_jpush_receipts_total",
      help: "JPush deliveries settled by the receipt poller: received (JPush confirmed it reached the phone), not_received (JPush says it did not), unconfirmed (JPush could not say)",
      labelNames: ["app", "result"],
      registers: r,
    }),
    confirmFallbacks: new Counter({
      name: "xmpp_push_confirm_fallbacks_total",
      help: "strategy.confirmWithinSeconds checks: confirmed (JPush confirmed in time) or fallback (sent through the next provider)",
      labelNames: ["app", "result"],
      registers: r,
    }),
    httpRequests: new Counter({
      name: "xmpp_push_http_requests_total",
      help: "HTTP API requests, by route and status",
      labelNames: ["route", "status"],
      registers: r,
    }),
  };
  zeroKnownLabelSets(metrics, known);
  if (sources) {
    // A scrape while the database is down must still answer: the gauges then keep their last value.
    new Gauge({
      name: "xmpp_push_queue_depth",
      help: "Pushes waiting in the durable queue",
      registers: r,
      async collect() {
        const s = await sources.queueStats().catch(() => undefined);
        if (s) this.set(s.depth);
      },
    });
    new Gauge({
      name: "xmpp_push_queue_oldest_job_age_seconds",
      help: "Age of the oldest push waiting in the queue",
      registers: r,
      async collect() {
        const s = await sources.queueStats().catch(() => undefined);
        if (s) this.set(s.oldestAgeMs / 1000);
      },
    });
    new Gauge({
      name: "xmpp_push_registrations",
      help: "Live device addresses, by app and provider",
      labelNames: ["app", "provider"],
      registers: r,
      async collect() {
        const rows = await sources.registrationCounts().catch(() => undefined);
        if (!rows) return;
        this.reset();
        for (const row of rows) this.set({ app: row.app, provider: row.provider }, row.count);
      },
    });
  }
  return metrics;
}

/**
 * A counter appears in the exposition only once it has a label set; an alert on `increase(...)` never
 * fires on the first event when the series did not exist before it. So every label set known from the
 * configuration starts at 0 (per-request labels such as HTTP status or XMPP error conditions stay lazy).
 */
function zeroKnownLabelSets(m: Metrics, known: KnownLabels): void {
  for (const result of PUBLISH_RESULTS) m.publishes.inc({ result }, 0);
  for (const { id: app, providers } of known.apps) {
    m.jobsExpired.inc({ app }, 0);
    for (const provider of providers) {
      for (const outcome of outcomeClasses) m.pushes.inc({ app, provider, outcome }, 0);
      for (const cause of BREAKER_CAUSES) m.circuitTrips.inc({ app, provider, cause }, 0);
      m.registrationsDisabled.inc({ app, provider }, 0);
      m.circuitOpen.set({ app, provider }, 0);
    }
  }
}
