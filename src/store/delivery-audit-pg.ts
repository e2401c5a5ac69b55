import type { Knex } from "knex";
import type { OutcomeClass } from "../domain/delivery-outcome.js";
import { affectedRows } from "./affected-rows.js";
import { createAuditPartitions } from "./audit-partitions.js";
import type { AuditQuery, DeliveryAudit, DeliveryRecord } from "../ports/delivery-audit.js";
import type { ReceiptState } from "../ports/delivery-receipts.js";

interface DeliveryRow {
  push_id: string;
  node: string;
  app: string;
  provider: string;
  environment: string | null;
  outcome: OutcomeClass;
  status: number | null;
  reason: string | null;
  message_id: string | null;
  attempt: number;
  latency_ms: number;
  created_at: Date;
  receipt?: ReceiptState | null;
  receipt_channel?: string | null;
  receipt_at?: Date | null;
}

/** Audit rows per INSERT statement: a batch up to this size is one statement. */
export const ROWS_PER_INSERT = 5000;
const PURGE_SLICE = 10_000;
const MAX_PURGE_SLICES = 10_000;

/** In slices, so a purge of millions of rows never holds one long transaction over the audit. */
async function deleteOlderInSlices(knex: Knex, table: string, cutoff: Date): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_PURGE_SLICES; i++) {
    const n = affectedRows(
      await knex(table)
        .whereIn("id", knex(table).select("id").where("created_at", "<", cutoff).limit(PURGE_SLICE))
        .del(),
    );
    total += n;
    if (n < PURGE_SLICE) break;
  }
  return total;
}

export function createPgDeliveryAudit({ knex }: { knex: Knex }): DeliveryAudit {
  const partitions = createAuditPartitions({ knex });
  return {
    async record(rows) {
      if (rows.length === 0) return;
      // One parameter per batch (a JSON array) instead of twelve per row: the query stays small to build
      // and to parse however many rows a group commit carries.
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        const json = JSON.stringify(
          rows.slice(i, i + ROWS_PER_INSERT).map((r): DeliveryRow => ({
            push_id: r.pushId,
            node: r.node,
            app: r.app,
            provider: r.provider,
            environment: r.environment ?? null,
            outcome: r.outcome,
            status: r.status ?? null,
            reason: r.reason === undefined ? null : r.reason.slice(0, 500),
            message_id: r.messageId ?? null,
            attempt: r.attempt,
            latency_ms: Math.round(r.latencyMs),
            created_at: r.createdAt,
            receipt: r.receipt ?? null,
          })),
        );
        await knex.raw(
          `INSERT INTO deliveries (push_id, node, app, provider, environment, outcome, status, reason, message_id, attempt, latency_ms, created_at, receipt)
           SELECT push_id, node, app, provider, environment, outcome, status, reason, message_id, attempt, latency_ms, created_at, receipt
             FROM json_to_recordset(?::json) AS x(push_id text, node text, app text, provider text, environment text, outcome text,
                                                 status int, reason text, message_id text, attempt int, latency_ms int, created_at timestamptz,
                                                 receipt text)`,
          [json],
        );
      }
    },

    async list({ node, since, limit }: AuditQuery) {
      let q = knex<DeliveryRow>("deliveries")
        .select("*")
        .orderBy([
          { column: "created_at", order: "desc" },
          { column: "id", order: "desc" },
        ])
        .limit(limit);
      if (node !== undefined) q = q.where({ node });
      if (since !== undefined) q = q.where("created_at", ">=", since);
      const rows = (await q) as DeliveryRow[];
      return rows.map((r): DeliveryRecord => ({
        pushId: r.push_id,
        node: r.node,
        app: r.app,
        provider: r.provider,
        ...(r.environment !== null ? { environment: r.environment } : {}),
        outcome: r.outcome,
        ...(r.status !== null ? { status: r.status } : {}),
        ...(r.reason !== null ? { reason: r.reason } : {}),
        ...(r.message_id !== null ? { messageId: r.message_id } : {}),
        attempt: r.attempt,
        latencyMs: r.latency_ms,
        createdAt: new Date(r.created_at),
        ...(r.receipt ? { receipt: r.receipt } : {}),
        ...(r.receipt_channel ? { receiptChannel: r.receipt_channel } : {}),
        ...(r.receipt_at ? { receiptAt: new Date(r.receipt_at) } : {}),
      }));
    },

    async countOutcomesSince(since) {
      const rows = (await knex("deliveries")
        .where("created_at", ">=", since)
        .groupBy("app", "provider", "outcome")
        .select("app", "provider", "outcome")
        .count({ n: "*" })
        .orderBy(["app", "provider", "outcome"])) as Array<{ app: string; provider: string; outcome: string; n: number | string }>;
      return rows.map((r) => ({ app: r.app, provider: r.provider, outcome: r.outcome, count: Number(r.n) }));
    },

    async purgeOlderThan(cutoff) {
      const droppedPartitions = await partitions.dropOlderThan(cutoff);
      // The default partition and the rows from before partitioning hold rows of any age: those go row by row.
      let deletedRows = 0;
      for (const p of await partitions.list()) if (p.kind !== "day") deletedRows += await deleteOlderInSlices(knex, p.name, cutoff);
      return { deletedRows, droppedPartitions };
    },
  };
}
