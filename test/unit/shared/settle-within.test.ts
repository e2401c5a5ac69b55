import { describe, expect, it } from "vitest";
import { settleWithin } from "../../../src/shared/wait-at-most.js";

// The deadline of every push's reply and provider attempt.
describe("settleWithin", () => {
  it("gives the promise's value when it settles in time, and never calls onTimeout", async () => {
    let timedOut = 0;
    expect(await settleWithin(Promise.resolve("answer"), 1000, () => timedOut++)).toBe("answer");
    await new Promise((r) => setTimeout(r, 0));
    expect(timedOut).toBe(0);
  });

  it("gives onTimeout's value when the promise is late, and ignores the promise's later rejection", async () => {
    let fail: (err: Error) => void = () => undefined;
    const late = new Promise<string>((_, reject) => (fail = reject));
    let aborted = false;
    const result = await settleWithin(late, 10, () => {
      aborted = true;
      return "timed out";
    });
    expect(result).toBe("timed out");
    expect(aborted).toBe(true);
    // Rejecting afterwards must not surface as an unhandled rejection (vitest fails the run on one).
    fail(new Error("too late"));
    await new Promise((r) => setTimeout(r, 0));
  });

  it("rejects with the promise's own error when it fails in time", async () => {
    await expect(settleWithin(Promise.reject(new Error("adapter bug")), 1000, () => "timed out")).rejects.toThrow("adapter bug");
  });
});
