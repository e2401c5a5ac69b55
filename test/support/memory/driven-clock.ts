import type { Clock } from "../../../src/ports/clock.js";

/** A clock the test moves by hand. */
export function drivenClock(start = new Date("2026-11-26T12:00:00Z")): Clock & { advance(ms: number): void; set(at: Date): void } {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(ms) {
      now += ms;
    },
    set(at) {
      now = at.getTime();
    },
  };
}
