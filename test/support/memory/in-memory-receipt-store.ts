import type { PendingReceipt, ReceiptState, ReceiptStore } from "../../../src/ports/delivery-receipts.js";

export interface MemoryReceiptRow {
  id: string;
  node: string;
  app: string;
  pushId: string;
  messageId: string;
  createdAt: Date;
  receipt: ReceiptState;
  channel?: string;
  checkedAt?: Date;
}

/** The receipt columns of the audit, in memory, with the pg store's semantics (for pure poller tests). */
export function inMemoryReceiptStore(): ReceiptStore & { rows: MemoryReceiptRow[] } {
  const rows: MemoryReceiptRow[] = [];
  return {
    rows,
    async takePending(app, since, limit, at) {
      const due = rows
        .filter((r) => r.receipt === "pending" && r.app === app && r.createdAt >= since)
        .sort((a, b) => (a.checkedAt?.getTime() ?? -1) - (b.checkedAt?.getTime() ?? -1) || a.createdAt.getTime() - b.createdAt.getTime())
        .slice(0, limit);
      for (const r of due) r.checkedAt = at;
      return due.map((r): PendingReceipt => ({ id: r.id, messageId: r.messageId, createdAt: r.createdAt }));
    },
    async markReceived(list) {
      let n = 0;
      for (const { id, channel } of list) {
        const r = rows.find((x) => x.id === id && x.receipt === "pending");
        if (r) {
          r.receipt = "received";
          r.channel = channel;
          n += 1;
        }
      }
      return n;
    },
    async takeExpired(app, before, limit) {
      return rows
        .filter((r) => r.receipt === "pending" && r.app === app && r.createdAt < before)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
        .slice(0, limit)
        .map((r) => ({ id: r.id, messageId: r.messageId, createdAt: r.createdAt, node: r.node }));
    },
    async settle(list) {
      let n = 0;
      for (const { id, state } of list) {
        const r = rows.find((x) => x.id === id && x.receipt === "pending");
        if (r) {
          r.receipt = state;
          n += 1;
        }
      }
      return n;
    },
    async expire(app, before) {
      const old = rows.filter((r) => r.receipt === "pending" && r.app === app && r.createdAt < before);
      for (const r of old) r.receipt = "unconfirmed";
      return old.length;
    },
    async find(pushId, messageId) {
      const r = rows.find((x) => x.pushId === pushId && x.messageId === messageId);
      return r ? { id: r.id, state: r.receipt } : undefined;
    },
  };
}
