import { describe, expect, it } from "vitest";
import type { DeliveryOutcome } from "../../../src/domain/delivery-outcome.js";
import type { Clock } from "../../../src/ports/clock.js";
import { createProvenSetup, PROVEN_FOR_MS, type ProvenSetupRule } from "../../../src/providers/proven-setup.js";

function drivenClock(start = Date.UTC(2026, 10, 29)): Clock & { advance(ms: number): void } {
  let t = start;
  return { now: () => new Date(t), advance: (ms) => void (t += ms) };
}

const rule: ProvenSetupRule<string> = {
  doubtful: (o) => o.reason === "BadDeviceToken",
  blame: "config_error",
  hint: (env) => `no push to ${env} has succeeded yet`,
};
const badToken: DeliveryOutcome = { class: "token_dead", status: 400, reason: "BadDeviceToken" };
const delivered: DeliveryOutcome = { class: "delivered", status: 200, messageId: "m1" };

describe("proven setup", () => {
  it("does not believe a doubtful token verdict before the setup has delivered", () => {
    const setup = createProvenSetup({ clock: drivenClock(), rule });
    expect(setup.judge("production", badToken)).toEqual({
      class: "config_error",
      status: 400,
      reason: "BadDeviceToken (no push to production has succeeded yet)",
    });
  });

  it("believes it once the same setup has delivered, for an hour", () => {
    const clock = drivenClock();
    const setup = createProvenSetup({ clock, rule });
    expect(setup.judge("production", delivered)).toEqual(delivered);
    clock.advance(PROVEN_FOR_MS - 1);
    expect(setup.judge("production", badToken)).toEqual(badToken);
    clock.advance(1);
    expect(setup.judge("production", badToken).class).toBe("config_error");
  });

  it("proves each setup on its own", () => {
    const setup = createProvenSetup({ clock: drivenClock(), rule });
    setup.judge("sandbox", delivered);
    expect(setup.judge("sandbox", badToken).class).toBe("token_dead");
    expect(setup.judge("production", badToken).class).toBe("config_error");
  });

  it("blames the mistake the provider's answer points at", () => {
    const setup = createProvenSetup({ clock: drivenClock(), rule: { ...rule, blame: "payload_error" } });
    expect(setup.judge("p", badToken).class).toBe("payload_error");
  });

  it("passes every other answer unchanged, proven or not", () => {
    const setup = createProvenSetup({ clock: drivenClock(), rule });
    const others: DeliveryOutcome[] = [
      { class: "token_dead", status: 410, reason: "Unregistered" },
      { class: "retry", status: 503, reason: "ServiceUnavailable" },
      { class: "config_error", status: 403, reason: "InvalidProviderToken" },
      { class: "payload_error", status: 413, reason: "PayloadTooLarge" },
    ];
    for (const o of others) expect(setup.judge("production", o)).toEqual(o);
  });
});
