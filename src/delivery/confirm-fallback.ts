import type { Logger } from "../observability/logger.js";

// strategy.confirmWithinSeconds: a push JPush accepted but did not confirm as received within N seconds
// goes once through the rest of the app's provider chain. One timer per push, at most `maxPending` at a
// time (beyond that a push simply keeps JPush's answer), all cleared on stop. The timers live in this
// process: a restart forgets the pending checks, and those pushes keep JPush's delivery.

export interface ConfirmCheck {
  readonly app: string;
  readonly pushId: string;
  readonly messageId: string;
  readonly afterMs: number;
  /** Sends through the next providers; called at most once, only when JPush did not confirm. */
  readonly fallback: () => Promise<void>;
}

export interface ConfirmFallback {
  schedule(check: ConfirmCheck): boolean;
  stop(): Promise<void>;
}

export interface ConfirmFallbackDeps {
  /** True when the provider confirms the message received. */
  readonly confirm: (app: string, pushId: string, messageId: string) => Promise<boolean>;
  readonly log: Logger;
  readonly maxPending?: number;
  readonly onResult?: (app: string, result: "confirmed" | "fallback") => void;
}

const DEFAULT_MAX_PENDING = 10_000;

export function createConfirmFallback({ confirm, log, maxPending = DEFAULT_MAX_PENDING, onResult }: ConfirmFallbackDeps): ConfirmFallback {
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopped = false;

  const check = async (c: ConfirmCheck) => {
    let confirmed = false;
    try {
      confirmed = await confirm(c.app, c.pushId, c.messageId);
    } catch (err) {
      // Not knowing is not knowing it arrived: fall back, as for an unconfirmed push.
      log.warn({ err: { message: (err as Error).message }, app: c.app, pushId: c.pushId }, "could not ask JPush for a receipt");
    }
    onResult?.(c.app, confirmed ? "confirmed" : "fallback");
    if (confirmed || stopped) return;
    log.debug({ app: c.app, pushId: c.pushId }, "JPush did not confirm the push in time; sending it through the next provider");
    await c.fallback();
  };

  return {
    schedule(c) {
      if (stopped || timers.size >= maxPending || timers.has(c.pushId)) return false;
      const timer = setTimeout(() => {
        timers.delete(c.pushId);
        const done = check(c).catch((err: unknown) => log.error({ err, pushId: c.pushId }, "confirm fallback failed"));
        running.add(done);
        void done.finally(() => running.delete(done));
      }, c.afterMs);
      timers.set(c.pushId, timer);
      return true;
    },
    async stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      await Promise.all([...running]);
    },
  };
}
