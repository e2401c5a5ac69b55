import type { Knex } from "knex";

// JPush delivery receipts on the audit row of each JPush delivery: pending while the receipt poller
// asks JPush's Report API, then received (with the channel and when it was seen), or, once the app's
// window has passed, JPush's per-device verdict: not_received, or unconfirmed when JPush gives none.
// NULL for every other row (other providers, receipts off).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE deliveries
    ADD COLUMN IF NOT EXISTS receipt text CHECK (receipt IN ('pending', 'received', 'not_received', 'unconfirmed')),
    ADD COLUMN IF NOT EXISTS receipt_channel text,
    ADD COLUMN IF NOT EXISTS receipt_at timestamptz,
    ADD COLUMN IF NOT EXISTS receipt_checked_at timestamptz`);
  // The poller's work list stays small whatever the size of the audit.
  await knex.raw(`CREATE INDEX IF NOT EXISTS deliveries_receipt_pending_idx ON deliveries (app, created_at) WHERE receipt = 'pending'`);
  // The confirm fallback's look-up of one push's receipt.
  await knex.raw(`CREATE INDEX IF NOT EXISTS deliveries_receipt_msg_idx ON deliveries (message_id) WHERE receipt IS NOT NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS deliveries_receipt_pending_idx`);
  await knex.raw(`DROP INDEX IF EXISTS deliveries_receipt_msg_idx`);
  await knex.raw(`ALTER TABLE deliveries DROP COLUMN IF EXISTS receipt, DROP COLUMN IF EXISTS receipt_channel,
    DROP COLUMN IF EXISTS receipt_at, DROP COLUMN IF EXISTS receipt_checked_at`);
}
