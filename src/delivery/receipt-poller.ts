import type { Logger } from "../observability/logger.js";
import type { Clock } from "../ports/clock.js";
import type { ReceiptLookup, ReceiptStore } from "../ports/delivery-receipts.js";

// Asks the provider whether pushes arrived, and writes the answer on their audit rows. One loop per app
// that enabled receipts; each round makes at most one Report API call (one batch of pending messages,
// least recently asked first), so the rate is bounded by the poll interval, and a rate-limit answer from
// the provider pushes the next round back until its window resets. Once a row's window is over, the
// provider gives its per-device verdict (received / not received; a few calls per round); rows it
// gives none for, or that wait past the grace period, become unconfirmed. Several replicas may poll
// the same rows: the updates only move a row out of `pending`, so each receipt is counted once.

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
  readonly onReceipts: (app: string, result: ReceiptResult, n: number) => void;
  /** The device's provider address behind a node (JPush registration id), for the final verdict. */
  readonly registrationIdOf?: (node: string) => Promise<string | undefined>;
  readonly batchSize?: number;
  readonly verdictsPerRound?: number;
}

export type ReceiptResult = "received" | "not_received" | "unconfirmed";

export interface ReceiptPoller {
  start(): void;
  stop(): Promise<void>;
  /** One round for one app now (tests, and the confirm fallback's last look); resolves when done. */
  pollNow(app: string): Promise<void>;
  /** Asks the provider about one message at once; true when it is confirmed received. */
  confirm(app: string, pushId: string, messageId: string): Promise<boolean>;
}

const DEFAULT_BATCH = 100;
// Per-device verdicts cost one call each: a few per round keeps them well inside the Report quota.
const DEFAULT_VERDICTS_PER_ROUND = 10;
// Rows whose verdict could not be asked within this many rounds after their window are unconfirmed.
const GRACE_ROUNDS = 30;

export function createReceiptPoller(deps: ReceiptPollerDeps): ReceiptPoller {
  const { store, clock, log, onReceipts } = deps;
  const apps = new Map(deps.apps.map((a) => [a.app, a]));
  const batch = deps.batchSize ?? DEFAULT_BATCH;
  const verdictsPerRound = deps.verdictsPerRound ?? DEFAULT_VERDICTS_PER_ROUND;
  const registrationIdOf = deps.registrationIdOf;
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  // Per app: no call before this instant (the provider's rate-limit reset).
  const notBefore = new Map<string, number>();
  let stopped = true;

  const track = <T>(p: Promise<T>): Promise<T> => {
    const done = p.then(
      () => undefined,
      () => undefined,
    );
    running.add(done);
    void done.finally(() => running.delete(done));
    return p;
  };

  const limited = (app: string) => (notBefore.get(app) ?? 0) > clock.now().getTime();
  const noteWait = (app: string, waitMs: number | undefined) => {
    if (waitMs !== undefined) notBefore.set(app, clock.now().getTime() + waitMs);
  };

  // The window is over: ask the provider per device, or settle as unconfirmed when it cannot say.
  const settleExpired = async (a: ReceiptApp, windowStart: Date): Promise<void> => {
    const graceStart = new Date(windowStart.getTime() - (registrationIdOf ? GRACE_ROUNDS * a.pollMs : 0));
    const gaveUp = await store.expire(a.app, graceStart);
    if (gaveUp > 0) onReceipts(a.app, "unconfirmed", gaveUp);
    if (!registrationIdOf) return;
    const verdicts: Array<{ id: string; state: ReceiptResult }> = [];
    for (const row of await store.takeExpired(a.app, windowStart, verdictsPerRound)) {
      if (limited(a.app)) break;
      const regid = await registrationIdOf(row.node);
      const v = regid !== undefined ? await a.lookup.verdict(row.messageId, regid) : ({ ok: true, state: "unknown" } as const);
      noteWait(a.app, v.waitMs);
      // A failed call leaves the row pending: the next round asks again, until the grace period ends.
      if (!v.ok) break;
      verdicts.push({ id: row.id, state: v.state === "unknown" ? "unconfirmed" : v.state });
    }
    const n = await store.settle(verdicts, clock.now());
    if (n === 0) return;
    for (const state of ["received", "not_received", "unconfirmed"] as const) {
      const k = verdicts.filter((v) => v.state === state).length;
      if (k > 0) onReceipts(a.app, state, k);
    }
  };

  const round = async (a: ReceiptApp): Promise<number | undefined> => {
    const now = clock.now();
    const since = new Date(now.getTime() - a.windowMs);
    await settleExpired(a, since);
    if (limited(a.app)) return notBefore.get(a.app)! - now.getTime();
    const pending = await store.takePending(a.app, since, batch, now);
    if (pending.length === 0) return undefined;
    const answer = await a.lookup.lookup(pending.map((p) => p.messageId));
    noteWait(a.app, answer.waitMs);
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
      if (limited(app)) return false;
      const answer = await track(a.lookup.lookup([messageId]));
      noteWait(app, answer.waitMs);
      const channel = answer.ok ? answer.received.get(messageId) : undefined;
      if (channel === undefined) return false;
      // The audit row may still sit in the write buffer; the next poll round records it then.
      const n = row ? await store.markReceived([{ id: row.id, channel }], clock.now()) : 0;
      if (n > 0) onReceipts(app, "received", n);
      return true;
    },
  };
}
