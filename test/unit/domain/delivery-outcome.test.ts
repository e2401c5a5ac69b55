import { describe, expect, it } from "vitest";
import { outcomeClasses, outcomeOf } from "../../../src/domain/delivery-outcome.js";

describe("outcomeOf", () => {
  const everything = {
    status: 429,
    reason: "TooManyRequests",
    messageId: "m-1",
    retryAfterMs: 5000,
    maybeDelivered: true,
    perDevice: true,
    invalidatedAt: new Date("2026-01-01T00:00:00Z"),
  };

  it("keeps only what each class carries, so a retry hint never rides on a dead token", () => {
    expect(outcomeOf("delivered", everything)).toEqual({ class: "delivered", status: 429, reason: "TooManyRequests", messageId: "m-1" });
    expect(outcomeOf("retry", everything)).toEqual({
      class: "retry",
      status: 429,
      reason: "TooManyRequests",
      retryAfterMs: 5000,
      maybeDelivered: true,
      perDevice: true,
    });
    expect(outcomeOf("token_dead", everything)).toEqual({
      class: "token_dead",
      status: 429,
      reason: "TooManyRequests",
      invalidatedAt: everything.invalidatedAt,
    });
    expect(outcomeOf("payload_error", everything)).toEqual({ class: "payload_error", status: 429, reason: "TooManyRequests" });
    expect(outcomeOf("config_error", everything)).toEqual({ class: "config_error", status: 429, reason: "TooManyRequests" });
  });

  it("sets no field that was not given, for every class", () => {
    for (const cls of outcomeClasses) expect(outcomeOf(cls)).toEqual({ class: cls });
  });
});
