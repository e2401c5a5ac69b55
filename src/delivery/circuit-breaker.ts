import type { DeliveryOutcome } from "../domain/delivery-outcome.js";
import { systemClock, type Clock } from "../ports/clock.js";

// One breaker per app × provider. A configuration error (revoked key, wrong topic, bad certificate)
// opens it at once; an outage opens it after `threshold` provider-wide failures in a row. While open,
// pushes for that provider are queued instead of sent; after `cooldownMs` one probe goes through and
// its answer closes or reopens the breaker. Device-scoped answers (a dead token, one device rate
// limited) say nothing about the provider and never count.

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerChange {
  readonly app: string;
  readonly provider: string;
  readonly state: BreakerState;
  readonly cause?: "config_error" | "outage";
  readonly reason?: string;
  /** A probe after the cooldown failed: the same incident goes on (no new alarm). */
  readonly reopened?: boolean;
}

export interface CircuitBreakers {
  /** Whether a request may go out now. In half-open state only one probe at a time is allowed. */
  allow(app: string, provider: string): boolean;
  record(app: string, provider: string, outcome: DeliveryOutcome): void;
  state(app: string, provider: string): BreakerState;
}

interface Breaker {
  state: BreakerState;
  failures: number;
  openedAt: number;
  probing: boolean;
}

export function createCircuitBreakers({
  threshold,
  cooldownMs,
  clock = systemClock,
  onChange,
}: {
  threshold: number;
  cooldownMs: number;
  clock?: Clock;
  onChange: (change: BreakerChange) => void;
}): CircuitBreakers {
  const now = () => clock.now().getTime();
  const breakers = new Map<string, Breaker>();
  const get = (app: string, provider: string) => {
    const key = `${app}\u0000${provider}`;
    let b = breakers.get(key);
    if (!b) {
      b = { state: "closed", failures: 0, openedAt: 0, probing: false };
      breakers.set(key, b);
    }
    return b;
  };
  const open = (b: Breaker, app: string, provider: string, cause: "config_error" | "outage", reason?: string) => {
    const previous = b.state;
    b.state = "open";
    b.openedAt = now();
    b.probing = false;
    if (previous !== "open")
      onChange({
        app,
        provider,
        state: "open",
        cause,
        ...(reason !== undefined ? { reason } : {}),
        ...(previous === "half-open" ? { reopened: true } : {}),
      });
  };

  return {
    allow(app, provider) {
      const b = get(app, provider);
      if (b.state === "closed") return true;
      if (b.state === "open" && now() - b.openedAt >= cooldownMs) {
        b.state = "half-open";
        onChange({ app, provider, state: "half-open" });
      }
      if (b.state === "half-open" && !b.probing) {
        b.probing = true;
        return true;
      }
      return false;
    },

    record(app, provider, outcome) {
      const b = get(app, provider);
      switch (outcome.class) {
        case "config_error":
          open(b, app, provider, "config_error", outcome.reason);
          return;
        case "retry":
          if (outcome.perDevice) return;
          b.failures += 1;
          if (b.state === "half-open" || b.failures >= threshold) open(b, app, provider, "outage", outcome.reason);
          return;
        case "delivered":
        case "token_dead":
        case "payload_error":
          // The provider answered sensibly: it is up and our credentials work.
          b.failures = 0;
          b.probing = false;
          if (b.state !== "closed") {
            b.state = "closed";
            onChange({ app, provider, state: "closed" });
          }
          return;
      }
    },

    state(app, provider) {
      return get(app, provider).state;
    },
  };
}
