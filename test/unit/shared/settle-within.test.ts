import { describe, expect, it } from "vitest";
import { settleWithin, waitAtMost, waitAtMostOrFail } from "../../../src/shared/wait-at-most.js";

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

  it("gives shutdown and start-up their bounded waits", async () => {
    const never = new Promise<string>(() => undefined);
    await expect(waitAtMost(never, 10)).resolves.toBeUndefined();
    await expect(waitAtMostOrFail(never, 10)).rejects.toThrow("no answer within 10 ms");
    await expect(waitAtMostOrFail(Promise.resolve(1), 1000)).resolves.toBe(1);
  });
});
