import type { BreakerChange } from "../delivery/circuit-breaker.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";

// What an operator sees when a provider's circuit breaker moves: the gauge and trip counter, and one
// log line per change whose text says what happens to pushes and registrations and what to fix.
// A config error (our credentials or setup) is an ERROR: it never heals by itself.

export function breakerAlarms({ metrics, log }: { metrics: Metrics; log: Logger }): (change: BreakerChange) => void {
  return (c) => {
    metrics.circuitOpen.set({ app: c.app, provider: c.provider }, c.state === "closed" ? 0 : 1);
    if (c.state === "open" && c.reopened) {
      log.debug({ app: c.app, provider: c.provider, reason: c.reason }, `${c.provider} still failing for app ${c.app}; breaker open again`);
    } else if (c.state === "open") {
      metrics.circuitTrips.inc({ app: c.app, provider: c.provider, cause: c.cause ?? "outage" });
      if (c.cause === "config_error") {
        log.error(
          { app: c.app, provider: c.provider, reason: c.reason },
          `${c.provider} rejects the credentials or setup of app ${c.app} (${c.reason ?? "config error"}): pushes are queued and every registration is kept; fix the ${c.provider} settings of this app`,
        );
      } else {
        log.warn(
          { app: c.app, provider: c.provider, reason: c.reason },
          `${c.provider} is failing for app ${c.app}; pausing requests and queueing pushes`,
        );
      }
    } else if (c.state === "closed") {
      log.info({ app: c.app, provider: c.provider }, `${c.provider} works again for app ${c.app}`);
    }
  };
}
