// mod_push_appserver's push_appserver_rate_limit, done better: at most one push per node per window;
// a push inside the window is not dropped but kept as the node's pending push and sent when the
// window ends (only the newest survives, the queue coalesces by node). In-process: each replica
// limits the publishes it receives.

export interface PushRateLimiter {
  /** delayMs 0: send now. Otherwise: hold the push this long. */
  admit(node: string, nowMs: number): { delayMs: number };
}

const MAX_TRACKED_NODES = 200_000;

export function createPushRateLimiter(intervalMs: number): PushRateLimiter {
  if (intervalMs <= 0) return { admit: () => ({ delayMs: 0 }) };
  // Per node: when the current window ends, and whether a push is held for that moment.
  const windows = new Map<string, { end: number; held: boolean }>();
  return {
    admit(node, nowMs) {
      const w = windows.get(node);
      if (w && nowMs < w.end) {
        // Inside the window: hold it for the window's end (a newer push replaces it in the queue).
        w.held = true;
        return { delayMs: w.end - nowMs };
      }
      if (w && w.held && nowMs < w.end + intervalMs) {
        // The held push went out at w.end and owns the window that started then.
        windows.set(node, { end: w.end + intervalMs, held: true });
        return { delayMs: w.end + intervalMs - nowMs };
      }
      if (windows.size >= MAX_TRACKED_NODES) {
        for (const [k, v] of windows) if (v.end + intervalMs <= nowMs) windows.delete(k);
        if (windows.size >= MAX_TRACKED_NODES) windows.clear();
      }
      windows.set(node, { end: nowMs + intervalMs, held: false });
      return { delayMs: 0 };
    },
  };
}
