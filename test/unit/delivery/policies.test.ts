import { describe, expect, it } from "vitest";
import { createCircuitBreakers, type BreakerChange } from "../../../src/delivery/circuit-breaker.js";
import { planTargets } from "../../../src/delivery/provider-strategy.js";
import { createPushRateLimiter } from "../../../src/delivery/push-rate-limiter.js";
import { createRetryPolicy } from "../../../src/delivery/retry-policy.js";
import type { Registration } from "../../../src/domain/registration.js";

const at = new Date("2026-11-26T12:00:00Z");
const later = (d: Date) => d.getTime() - at.getTime();

describe("retry policy", () => {
  it("backs off exponentially with jitter, capped", () => {
    const mid = createRetryPolicy({ baseMs: 1000, maxMs: 60_000, random: () => 0.5 });
    expect([1, 2, 3, 4].map((n) => later(mid.nextAttemptAt(n, {}, at)))).toEqual([1000, 2000, 4000, 8000]);
    expect(later(mid.nextAttemptAt(20, {}, at))).toBe(45_000);
    const low = createRetryPolicy({ baseMs: 1000, maxMs: 60_000, random: () => 0 });
    const high = createRetryPolicy({ baseMs: 1000, maxMs: 60_000, random: () => 0.999 });
    expect(later(low.nextAttemptAt(3, {}, at))).toBe(2000);
    expect(later(high.nextAttemptAt(3, {}, at))).toBe(5996);
  });

  it("never waits longer than retryMaxMs, whatever the jitter, unless the provider asked", () => {
    for (const r of [0, 0.25, 0.5, 0.75, 0.9999]) {
      const p = createRetryPolicy({ baseMs: 1000, maxMs: 60_000, random: () => r });
      for (let attempt = 1; attempt <= 40; attempt++) expect(later(p.nextAttemptAt(attempt, {}, at))).toBeLessThanOrEqual(60_000);
    }
    // At the cap the delays still spread (half to all of retryMaxMs), so replicas do not retry in lockstep.
    expect(later(createRetryPolicy({ baseMs: 1000, maxMs: 60_000, random: () => 0 }).nextAttemptAt(30, {}, at))).toBe(30_000);
    expect(later(createRetryPolicy({ baseMs: 1000, maxMs: 60_000, random: () => 0.9999 }).nextAttemptAt(7, {}, at))).toBe(59_997);
  });

  it("never retries sooner than the provider asked", () => {
    const p = createRetryPolicy({ baseMs: 1000, maxMs: 60_000, random: () => 0.5 });
    expect(later(p.nextAttemptAt(1, { retryAfterMs: 30_000 }, at))).toBe(30_000);
  });
});

describe("circuit breaker", () => {
  const setup = () => {
    let now = 0;
    const changes: BreakerChange[] = [];
    const b = createCircuitBreakers({
      threshold: 3,
      cooldownMs: 1000,
      clock: { now: () => new Date(now) },
      onChange: (c) => changes.push(c),
    });
    return { b, changes, tick: (ms: number) => (now += ms) };
  };

  it("opens at once on a configuration error and lets one probe through after the cooldown", () => {
    const { b, changes, tick } = setup();
    b.record("app", "apns", { class: "config_error", reason: "InvalidProviderToken" });
    expect(b.allow("app", "apns")).toBe(false);
    expect(changes).toEqual([{ app: "app", provider: "apns", state: "open", cause: "config_error", reason: "InvalidProviderToken" }]);
    tick(1000);
    expect(b.allow("app", "apns")).toBe(true);
    expect(b.allow("app", "apns")).toBe(false); // one probe at a time
    b.record("app", "apns", { class: "delivered" });
    expect(b.state("app", "apns")).toBe("closed");
    expect(changes.map((c) => c.state)).toEqual(["open", "half-open", "closed"]);
  });

  it("opens after repeated provider-wide failures, not for device-scoped ones, and reopens on a failed probe", () => {
    const { b, tick } = setup();
    for (let i = 0; i < 10; i++) b.record("app", "jpush", { class: "retry", reason: "TooManyRequests", perDevice: true });
    b.record("app", "jpush", { class: "token_dead" });
    expect(b.state("app", "jpush")).toBe("closed");
    for (let i = 0; i < 3; i++) b.record("app", "jpush", { class: "retry", status: 503 });
    expect(b.state("app", "jpush")).toBe("open");
    expect(b.state("other-app", "jpush")).toBe("closed");
    tick(1000);
    expect(b.allow("app", "jpush")).toBe(true);
    b.record("app", "jpush", { class: "retry", status: 503 });
    expect(b.state("app", "jpush")).toBe("open");
  });

  it("tells a failed probe apart from a new incident (one alarm per incident)", () => {
    const { b, changes, tick } = setup();
    b.record("app", "fcm", { class: "config_error", reason: "THIRD_PARTY_AUTH_ERROR" });
    tick(1000);
    b.allow("app", "fcm");
    b.record("app", "fcm", { class: "config_error", reason: "THIRD_PARTY_AUTH_ERROR" });
    expect(changes.map((c) => [c.state, c.reopened ?? false])).toEqual([
      ["open", false],
      ["half-open", false],
      ["open", true],
    ]);
  });
});

describe("provider strategy", () => {
  const reg = (addresses: Registration["addresses"]): Registration => ({
    node: "n",
    app: "a",
    ownerJid: "u@d",
    deviceId: "d",
    channel: "",
    dialect: "p2",
    addresses,
    createdAtMs: at.getTime(),
    updatedAtMs: at.getTime(),
  });
  const apns = { provider: "apns" as const, token: "aa", environment: "production" as const, updatedAtMs: at.getTime() };
  const jpush = { provider: "jpush" as const, token: "jj", updatedAtMs: at.getTime() };

  it("follows the app's order over the device's live addresses", () => {
    expect(planTargets(reg([jpush, apns]), { providers: ["apns", "jpush"], mode: "fallback" }).map((t) => t.provider)).toEqual([
      "apns",
      "jpush",
    ]);
    expect(planTargets(reg([apns]), { providers: ["jpush", "apns", "fcm"], mode: "fallback" }).map((t) => t.provider)).toEqual(["apns"]);
    expect(
      planTargets(reg([{ ...apns, disabledAtMs: at.getTime() }, jpush]), { providers: ["apns", "jpush"], mode: "fallback" }).map(
        (t) => t.provider,
      ),
    ).toEqual(["jpush"]);
  });

  it("lets the dry-run provider stand in for any address", () => {
    expect(planTargets(reg([jpush]), { providers: ["log"], mode: "fallback" })).toEqual([{ provider: "log", address: jpush }]);
    expect(planTargets(reg([]), { providers: ["log"], mode: "fallback" })).toEqual([]);
  });
});

describe("per-node push rate limit", () => {
  it("sends the first push at once and holds the ones inside the window until it ends", () => {
    const l = createPushRateLimiter(5000);
    expect(l.admit("n", 0)).toEqual({ delayMs: 0 });
    expect(l.admit("n", 1000)).toEqual({ delayMs: 4000 });
    expect(l.admit("n", 2000)).toEqual({ delayMs: 3000 }); // coalesced into the same held push
    expect(l.admit("other", 1000)).toEqual({ delayMs: 0 });
    // The held push went out at 5000 and owns the window until 10000.
    expect(l.admit("n", 6000)).toEqual({ delayMs: 4000 });
    expect(l.admit("n", 20_000)).toEqual({ delayMs: 0 });
  });

  it("is off when the interval is 0", () => {
    const l = createPushRateLimiter(0);
    expect(l.admit("n", 0)).toEqual({ delayMs: 0 });
    expect(l.admit("n", 0)).toEqual({ delayMs: 0 });
  });
});
