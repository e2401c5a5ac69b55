import type { Knex } from "knex";
import type { PendingReceipt, ReceiptState, ReceiptStore } from "../ports/delivery-receipts.js";

// The receipt columns of the audit (migration 20261129000200_jpush_receipts).

export function createPgReceiptStore({ knex }: { knex: Knex }): ReceiptStore {
  return {
    async takePending(app, since, limit, at) {
      // Least recently checked first, so a backlog larger than one batch is walked round-robin.
      const result = await knex.raw<{ rows: Array<{ id: string; message_id: string; created_at: Date }> }>(
        `UPDATE deliveries SET receipt_checked_at = ?
          WHERE id IN (SELECT id FROM deliveries
                        WHERE receipt = 'pending' AND app = ? AND created_at >= ?
                        ORDER BY receipt_checked_at NULLS FIRST, created_at
                        LIMIT ?)
          RETURNING id, message_id, created_at`,
        [at, app, since, limit],
      );
      return result.rows.map((r): PendingReceipt => ({ id: String(r.id), messageId: r.message_id, createdAt: new Date(r.created_at) }));
    },

    async markReceived(rows, at) {
      if (rows.length === 0) return 0;
      const result = await knex.raw<{ rows: unknown[] }>(
        `UPDATE deliveries d SET receipt = 'received', receipt_channel = x.channel, receipt_at = ?
           FROM json_to_recordset(?::json) AS x(id bigint, channel text)
          WHERE d.id = x.id AND d.receipt = 'pending'
          RETURNING d.id`,
        [at, JSON.stringify(rows.map((r) => ({ id: r.id, channel: r.channel })))],
      );
      return result.rows.length;
    },

    async takeExpired(app, before, limit) {
      const rows = (await knex("deliveries")
        .select("id", "message_id", "created_at", "node")
        .where({ receipt: "pending", app })
        .where("created_at", "<", before)
        .orderBy("created_at")
        .limit(limit)) as Array<{ id: string; message_id: string; created_at: Date; node: string }>;
      return rows.map((r) => ({ id: String(r.id), messageId: r.message_id, createdAt: new Date(r.created_at), node: r.node }));
    },

    async settle(rows, at) {
      if (rows.length === 0) return 0;
      const result = await knex.raw<{ rows: unknown[] }>(
        `UPDATE deliveries d SET receipt = x.state, receipt_at = CASE WHEN x.state = 'received' THEN ?::timestamptz END
           FROM json_to_recordset(?::json) AS x(id bigint, state text)
          WHERE d.id = x.id AND d.receipt = 'pending'
          RETURNING d.id`,
        [at, JSON.stringify(rows.map((r) => ({ id: r.id, state: r.state })))],
      );
      return result.rows.length;
    },

    async expire(app, before) {
      const result = await knex.raw<{ rows: unknown[] }>(
        `UPDATE deliveries SET receipt = 'unconfirmed' WHERE receipt = 'pending' AND app = ? AND created_at < ? RETURNING id`,
        [app, before],
      );
      return result.rows.length;
    },

    async find(pushId, messageId) {
      const row = (await knex("deliveries")
        .select("id", "receipt")
        .where({ push_id: pushId, message_id: messageId })
        .whereNotNull("receipt")
        .first()) as { id: string; receipt: ReceiptState } | undefined;
      return row ? { id: String(row.id), state: row.receipt } : undefined;
    },
  };
}
