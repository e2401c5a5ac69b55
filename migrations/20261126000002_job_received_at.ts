import type { Knex } from "knex";

// When the publish behind a job arrived. A retry rewrites its job only while no newer publish for the
// node has replaced it: the queue's upsert compares this column.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE delivery_jobs ADD COLUMN IF NOT EXISTS received_at timestamptz NOT NULL DEFAULT now()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE delivery_jobs DROP COLUMN IF EXISTS received_at`);
}
