import type { Logger } from "../observability/logger.js";
import type { Clock } from "../ports/clock.js";
import type { ReceiptLookup, ReceiptStore } from "../ports/delivery-receipts.js";

// Asks the provider whether pushes arrived, and writes the answer on their audit rows. One loop per app
// that enabled receipts; each round makes at most one Report API call (one batch of pending messages,
// least recently asked first), so the rate is bounded by the poll interval, and a rate-limit answer from
// the provider pushes the next round back until its window resets. Rows older than the window become
// unconfirmed. Several replicas may poll the same rows: the updates only move a row out of `pending`,
// so each receipt is counted once.

export interface ReceiptApp {
  readonly app: string;
  readonly lookup: ReceiptLookup;
  readonly windowMs: number;
  readonly pollMs: number;
}

export interface ReceiptPollerDeps {
  readonly apps: readonly ReceiptApp[];
  readonly store: ReceiptStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly onReceipts: (app: string, result: "received" | "unconfirmed", n: number) => void;
  readonly batchSize?: number;
}

export interface ReceiptPoller {
  start(): void;
  stop(): Promise<void>;
  /** One round for one app now (tests, and the confirm fallback's last look); resolves when done. */
  pollNow(app: string): Promise<void>;
  /** Asks the provider about one message at once; true when it is confirmed received. */
  confirm(app: string, pushId: string, messageId: string): Promise<boolean>;
}

const DEFAULT_BATCH = 100;

export function createReceiptPoller(deps: ReceiptPollerDeps): ReceiptPoller {
  const { store, clock, log, onReceipts } = deps;
  const apps = new Map(deps.apps.map((a) => [a.app, a]));
  const batch = deps.batchSize ?? DEFAULT_BATCH;
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  // Per app: no call before this instant (the provider's rate-limit reset).
  const notBefore = new Map<string, number>();
  let stopped = true;

  const track = <T>(p: Promise<T>): Promise<T> => {
    const done = p.then(() => undefined, () => undefined);
    running.add(done);
    void done.finally(() => running.delete(done));
    return p;
  };

  const round = async (a: ReceiptApp): Promise<number | undefined> => {
    const now = clock.now();
    const since = new Date(now.getTime() - a.windowMs);
    const expired = await store.expire(a.app, since);
    if (expired > 0) onReceipts(a.app, "unconfirmed", expired);
    if ((notBefore.get(a.app) ?? 0) > now.getTime()) return undefined;
    const pending = await store.takePending(a.app, since, batch, now);
    if (pending.length === 0) return undefined;
    const answer = await a.lookup.lookup(pending.map((p) => p.messageId));
    if (answer.waitMs !== undefined) notBefore.set(a.app, now.getTime() + answer.waitMs);
    if (!answer.ok) {
      log.warn({ app: a.app, reason: answer.reason, waitMs: answer.waitMs }, "could not read JPush delivery receipts; will ask again");
      return answer.waitMs;
    }
    const received = pending.flatMap((p) => {
      const channel = answer.received.get(p.messageId);
      return channel !== undefined ? [{ id: p.id, channel }] : [];
    });
    const n = await store.markReceived(received, clock.now());
    if (n > 0) onReceipts(a.app, "received", n);
    return answer.waitMs;
  };

  const schedule = (a: ReceiptApp, delayMs: number) => {
    if (stopped) return;
    timers.set(
      a.app,
      setTimeout(() => {
        void track(round(a))
          .catch((err: unknown) => {
            log.warn({ err: { message: (err as Error).message }, app: a.app }, "receipt poll failed; will try again");
            return undefined;
          })
          .then((waitMs) => schedule(a, Math.max(a.pollMs, waitMs ?? 0)));
      }, delayMs),
    );
  };

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      for (const a of apps.values()) schedule(a, a.pollMs);
    },
    async stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      await Promise.all([...running]);
    },
    async pollNow(app) {
      const a = apps.get(app);
      if (a) await track(round(a));
    },
    async confirm(app, pushId, messageId) {
      const a = apps.get(app);
      if (!a) return false;
      // Settled already (by a poll round): no need to spend a call.
      const row = await store.find(pushId, messageId);
      if (row && row.state !== "pending") return row.state === "received";
      if ((notBefore.get(app) ?? 0) > clock.now().getTime()) return false;
      const answer = await track(a.lookup.lookup([messageId]));
      if (answer.waitMs !== undefined) notBefore.set(app, clock.now().getTime() + answer.waitMs);
      const channel = answer.ok ? answer.received.get(messageId) : undefined;
      if (channel === undefined) return false;
      // The audit row may still sit in the write buffer; the next poll round records it then.
      const n = row ? await store.markReceived([{ id: row.id, channel }], clock.now()) : 0;
      if (n > 0) onReceipts(app, "received", n);
      return true;
    },
  };
}
