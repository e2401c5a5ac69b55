import { describe, expect, it } from "vitest";
import { createReceiptPoller } from "../../../src/delivery/receipt-poller.js";
import type { DeviceVerdict, ReceiptAnswer } from "../../../src/ports/delivery-receipts.js";
import { inMemoryReceiptStore } from "../../support/memory/in-memory-receipt-store.js";
import { recordingLogger } from "../../support/memory/recording-logger.js";

// The receipt poller's rules: one batched call per round, round-robin over a backlog, the provider's
// rate-limit wait honoured, rows past the window settled as unconfirmed, each receipt counted once.

interface Options {
  verdict?: (messageId: string, regid: string) => DeviceVerdict;
  regids?: boolean;
}

function setup(answer: (ids: readonly string[]) => ReceiptAnswer, pending = 250, opts: Options = {}) {
  let now = 1_800_000_000_000;
  const store = inMemoryReceiptStore();
  for (let i = 0; i < pending; i++) {
    store.rows.push({
      id: String(i),
      node: `node-${i}`,
      app: "chat",
      pushId: `p${i}`,
      messageId: String(1000 + i),
      createdAt: new Date(now - 1000 + i),
      receipt: "pending",
    });
  }
  const calls: string[][] = [];
  const verdicts: string[] = [];
  const counted: Array<[string, number]> = [];
  const poller = createReceiptPoller({
    apps: [
      {
        app: "chat",
        windowMs: 600_000,
        pollMs: 10_000,
        lookup: {
          lookup: async (ids) => (calls.push([...ids]), answer(ids)),
          verdict: async (id, regid) => (verdicts.push(`${id}@${regid}`), opts.verdict?.(id, regid) ?? { ok: true, state: "unknown" }),
        },
      },
    ],
    ...(opts.regids ? { registrationIdOf: async (node: string) => (node === "node-2" ? undefined : `regid-${node}`) } : {}),
    store,
    clock: { now: () => new Date(now) },
    log: recordingLogger().log,
    onReceipts: (_app, result, n) => counted.push([result, n]),
  });
  return { poller, store, calls, verdicts, counted, advance: (ms: number) => void (now += ms) };
}

describe("receipt poller", () => {
  it("asks about at most 100 messages per round and walks a backlog least recently asked first", async () => {
    const t = setup(() => ({ ok: true, received: new Map() }));
    for (let i = 0; i < 3; i++) await t.poller.pollNow("chat");
    expect(t.calls.map((c) => c.length)).toEqual([100, 100, 100]);
    expect(new Set(t.calls.flat()).size).toBe(250);
    // The third round: the 50 never asked first, then the oldest asked.
    expect(t.calls[2]?.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, i) => String(1200 + i)));
    expect(t.calls[2]?.[50]).toBe("1000");
  });

  it("records what the provider confirms, once, with its channel", async () => {
    const t = setup((ids) => ({ ok: true, received: new Map(ids.filter((id) => Number(id) % 2 === 0).map((id) => [id, "vendor"])) }), 10);
    await t.poller.pollNow("chat");
    await t.poller.pollNow("chat");
    expect(t.store.rows.filter((r) => r.receipt === "received").map((r) => r.channel)).toEqual(Array(5).fill("vendor"));
    expect(t.counted).toEqual([["received", 5]]);
  });

  it("makes no call until the provider's rate-limit window has reset", async () => {
    const t = setup(() => ({ ok: false, reason: "Report API HTTP 429", waitMs: 30_000 }), 5);
    await t.poller.pollNow("chat");
    t.advance(29_000);
    await t.poller.pollNow("chat");
    expect(t.calls).toHaveLength(1);
    t.advance(2000);
    await t.poller.pollNow("chat");
    expect(t.calls).toHaveLength(2);
  });

  it("asks for each device's verdict once the window is over, a few per round, and settles them", async () => {
    const verdict = (id: string): DeviceVerdict => ({
      ok: true,
      state: id === "1000" ? "received" : id === "1001" ? "not_received" : "unknown",
    });
    const t = setup(() => ({ ok: true, received: new Map() }), 14, { regids: true, verdict });
    t.advance(600_000);
    await t.poller.pollNow("chat");
    // Ten per round, oldest first; node-2 has no JPush address left, so nobody can say.
    expect(t.verdicts).toEqual([
      "1000@regid-node-0",
      "1001@regid-node-1",
      ...Array.from({ length: 7 }, (_, i) => `${1003 + i}@regid-node-${3 + i}`),
    ]);
    expect(t.store.rows.slice(0, 4).map((r) => r.receipt)).toEqual(["received", "not_received", "unconfirmed", "unconfirmed"]);
    expect(t.store.rows.slice(10).map((r) => r.receipt)).toEqual(["pending", "pending", "pending", "pending"]);
    expect(t.counted).toEqual([
      ["received", 1],
      ["not_received", 1],
      ["unconfirmed", 8],
    ]);
    await t.poller.pollNow("chat");
    expect(t.store.rows.every((r) => r.receipt !== "pending")).toBe(true);
    expect(t.calls).toHaveLength(0);
  });

  it("keeps a row pending while the verdict call fails, and gives up after the grace period", async () => {
    const t = setup(() => ({ ok: true, received: new Map() }), 1, {
      regids: true,
      verdict: () => ({ ok: false, reason: "Report API HTTP 503" }),
    });
    t.advance(600_000);
    await t.poller.pollNow("chat");
    expect(t.store.rows[0]?.receipt).toBe("pending");
    t.advance(30 * 10_000);
    await t.poller.pollNow("chat");
    expect(t.store.rows[0]?.receipt).toBe("unconfirmed");
    expect(t.counted).toEqual([["unconfirmed", 1]]);
  });

  it("without a way to find the device, settles rows older than the window as unconfirmed without asking", async () => {
    const t = setup(() => ({ ok: true, received: new Map() }), 3);
    t.advance(600_000);
    await t.poller.pollNow("chat");
    expect(t.store.rows.map((r) => r.receipt)).toEqual(["unconfirmed", "unconfirmed", "unconfirmed"]);
    expect(t.calls).toHaveLength(0);
    expect(t.verdicts).toHaveLength(0);
    expect(t.counted).toEqual([["unconfirmed", 3]]);
  });
});
