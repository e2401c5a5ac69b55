import type { DeliveryAudit, DeliveryRecord } from "../../../src/ports/delivery-audit.js";

/** The delivery audit in memory, with the Postgres audit's semantics (see the contract suite). */
export function memoryDeliveryAudit(): DeliveryAudit & { readonly rows: readonly DeliveryRecord[] } {
  const rows: DeliveryRecord[] = [];
  return {
    rows,
    async record(batch) {
      // As stored: latency in whole milliseconds, reasons cut at 500 characters.
      for (const r of batch)
        rows.push({ ...r, latencyMs: Math.round(r.latencyMs), ...(r.reason !== undefined ? { reason: r.reason.slice(0, 500) } : {}) });
    },
    async list({ node, since, limit }) {
      return rows
        .map((r, i) => ({ r, i }))
        .filter(({ r }) => (node === undefined || r.node === node) && (since === undefined || r.createdAt >= since))
        .sort((a, b) => b.r.createdAt.getTime() - a.r.createdAt.getTime() || b.i - a.i)
        .slice(0, limit)
        .map(({ r }) => r);
    },
    async countOutcomesSince(since) {
      const counts = new Map<string, { app: string; provider: string; outcome: string; count: number }>();
      for (const r of rows) {
        if (r.createdAt < since) continue;
        const k = `${r.app}\u0000${r.provider}\u0000${r.outcome}`;
        const c = counts.get(k) ?? { app: r.app, provider: r.provider, outcome: r.outcome, count: 0 };
        c.count += 1;
        counts.set(k, c);
      }
      const key = (c: { app: string; provider: string; outcome: string }) => `${c.app}\u0000${c.provider}\u0000${c.outcome}`;
      return [...counts.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    },
    async purgeOlderThan(cutoff) {
      const before = rows.length;
      const kept = rows.filter((r) => r.createdAt >= cutoff);
      rows.splice(0, rows.length, ...kept);
      return { deletedRows: before - kept.length, droppedPartitions: [] };
    },
  };
}
