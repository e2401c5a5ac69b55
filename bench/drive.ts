import type { XmppLoad } from "./xmpp-load.js";
import { BENCH_SECRET } from "../test/support/seed.js";

// How the load is offered: at a fixed rate (open loop, the send count follows the clock) or as fast as
// replies come back (closed loop, a bounded window of outstanding publishes). Bounded in time.

export type Pace = { readonly mode: "fixed"; readonly rate: number } | { readonly mode: "max"; readonly window: number };

/** Publishes for durationMs, then waits (bounded) for late replies; returns the seconds of offered load. */
export async function drive(load: XmppLoad, pace: Pace, durationMs: number, pick: () => string): Promise<number> {
  const started = performance.now();
  const end = started + durationMs;
  if (pace.mode === "fixed") {
    let sent = 0;
    // Paced in 5 ms steps: the send count follows the clock, never bursts ahead of it.
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - started) / 1000) * pace.rate);
      for (; sent < due; sent++) load.publish(pick(), BENCH_SECRET);
      await new Promise((r) => setTimeout(r, 5));
    }
  } else {
    const low = Math.max(1, Math.floor(pace.window * 0.875));
    while (performance.now() < end) {
      while (load.outstanding() < pace.window) load.publish(pick(), BENCH_SECRET);
      // Bounded by the run's end: replies that stop coming (the app server died) must not hang the bench.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([load.belowOutstanding(low), new Promise((r) => (timer = setTimeout(r, Math.max(0, end - performance.now()))))]);
      clearTimeout(timer);
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  // Late replies still count for latency; bounded wait.
  for (let i = 0; i < 200 && load.outstanding() > 0; i++) await new Promise((r) => setTimeout(r, 25));
  return elapsed;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
