import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { breakerAlarms } from "../../../src/observability/breaker-alarms.js";
import { createLogger } from "../../../src/observability/logger.js";
import { createMetrics } from "../../../src/observability/metrics.js";

// What an operator sees when a provider's breaker moves: the gauge, the trip counter and one log line
// that says what happens and what to fix.

function setup() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  const metrics = createMetrics(
    { queueStats: async () => ({ depth: 0, oldestAgeMs: 0 }), registrationCounts: async () => [], apnsCertificates: () => [] },
    { apps: [{ id: "chat", providers: ["apns"] }] },
  );
  const alarm = breakerAlarms({ metrics, log: createLogger({ level: "debug", destination, pretty: false }) });
  const logged = () => lines.map((l) => JSON.parse(l) as { level: string; msg: string });
  return { alarm, logged, scrape: () => metrics.registry.metrics() };
}

describe("breaker alarms", () => {
  it("a config error opens the breaker with an ERROR that names the app and says registrations are kept", async () => {
    const { alarm, logged, scrape } = setup();
    alarm({ app: "chat", provider: "apns", state: "open", cause: "config_error", reason: "InvalidProviderToken" });
    expect(logged()).toEqual([
      expect.objectContaining({
        level: "error",
        msg: expect.stringMatching(
          /apns rejects the credentials or setup of app chat \(InvalidProviderToken\).*every registration is kept/,
        ),
      }),
    ]);
    const text = await scrape();
    expect(text).toContain('xmpp_push_circuit_open{app="chat",provider="apns"} 1');
    expect(text).toContain('xmpp_push_circuit_trips_total{app="chat",provider="apns",cause="config_error"} 1');
  });

  it("an outage warns, a reopening is only debug and counts no new trip, closing says it works again", async () => {
    const { alarm, logged, scrape } = setup();
    alarm({ app: "chat", provider: "apns", state: "open", cause: "outage" });
    alarm({ app: "chat", provider: "apns", state: "half-open" });
    alarm({ app: "chat", provider: "apns", state: "open", cause: "outage", reopened: true });
    alarm({ app: "chat", provider: "apns", state: "closed" });
    expect(logged().map((l) => l.level)).toEqual(["warn", "debug", "info"]);
    expect(logged()[2]!.msg).toBe("apns works again for app chat");
    const text = await scrape();
    expect(text).toContain('xmpp_push_circuit_open{app="chat",provider="apns"} 0');
    expect(text).toContain('xmpp_push_circuit_trips_total{app="chat",provider="apns",cause="outage"} 1');
  });
});
