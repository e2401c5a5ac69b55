import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createMetrics } from "../../../src/observability/metrics.js";

// What a Prometheus user sees on the first scrape, before anything happened.
const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };

async function firstScrape(apps = [{ id: "chat", providers: ["apns", "jpush"] }]) {
  const expiresAt = new Date("2027-03-01T00:00:00Z");
  const metrics = createMetrics(
    {
      queueStats: async () => ({ depth: 0, oldestAgeMs: 0 }),
      registrationCounts: async () => [],
      apnsCertificates: () => [{ app: "chat", expiresAt }],
    },
    { apps },
  );
  return { text: await metrics.registry.metrics(), expiresAt };
}

describe("metrics on a fresh start", () => {
  it("lists every breaker-trip series at 0, so an 'any increase' alert fires on the first trip (config_error included)", async () => {
    const { text } = await firstScrape();
    for (const provider of ["apns", "jpush"]) {
      for (const cause of ["config_error", "outage"]) {
        expect(text).toContain(`xmpp_push_circuit_trips_total{app="chat",provider="${provider}",cause="${cause}"} 0`);
      }
      expect(text).toContain(`xmpp_push_circuit_open{app="chat",provider="${provider}"} 0`);
      expect(text).toContain(`xmpp_push_addresses_disabled_total{app="chat",provider="${provider}"} 0`);
    }
    // A provider the app does not use gets no series.
    expect(text).not.toMatch(/provider="fcm"/);
  });

  it("lists every delivery outcome per app and provider, every publish result, and expired jobs per app at 0", async () => {
    const { text } = await firstScrape();
    for (const outcome of ["delivered", "token_dead", "retry", "config_error", "payload_error"]) {
      expect(text).toContain(`xmpp_push_pushes_total{app="chat",provider="apns",outcome="${outcome}"} 0`);
    }
    for (const result of ["delivered", "queued", "unavailable", "overloaded", "bad-request", "token-dead"]) {
      expect(text).toContain(`xmpp_push_publishes_total{result="${result}"} 0`);
    }
    expect(text).toContain(`xmpp_push_jobs_expired_total{app="chat"} 0`);
  });

  it("says which version runs on which Node.js", async () => {
    const { text } = await firstScrape();
    expect(text).toContain(`xmpp_push_build_info{version="${pkg.version}",node="${process.version}"} 1`);
  });

  it("gives the APNs certificate expiry as a Unix timestamp, not days", async () => {
    const { text, expiresAt } = await firstScrape();
    expect(text).toContain(`xmpp_push_apns_certificate_expiry_timestamp_seconds{app="chat"} ${expiresAt.getTime() / 1000}`);
    expect(text).not.toMatch(/expiry_days/);
  });

  it("exports the default process and Node.js metrics under their standard names", async () => {
    const { text } = await firstScrape();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    expect(text).not.toMatch(/xmpp_push_(process|nodejs)_/);
  });
});
