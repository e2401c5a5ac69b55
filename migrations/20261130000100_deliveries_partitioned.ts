import type { Knex } from "knex";

// The audit partitioned by day on created_at, so retention drops whole days (one DROP TABLE, however
// many rows they hold) instead of deleting millions of rows one by one, with the WAL, vacuum and I/O
// that costs the live traffic. The store creates the daily partitions ahead (src/store/audit-partitions.ts);
// this migration sets up the partitioned table, its DEFAULT partition (rows for a day that has no
// partition yet: clock skew, maintenance that could not run) and keeps the rows already written.
//
// Existing rows are kept in place, not copied: the old table becomes one partition for everything
// before the end of its newest day, deliveries_before_<yyyymmdd> (the name carries its upper bound,
// which the store reads). Attaching it costs one scan (the bound is checked) and one index build (the
// primary key must now include created_at), both far cheaper than rewriting the table, and no row
// moves. Retention trims it by slices like before and drops it whole once it is entirely older than
// the cutoff. On an empty audit (a new install) there is nothing to keep and the old table goes.
//
// Partition names: deliveries_p<yyyymmdd> (one UTC day), deliveries_before_<yyyymmdd> (the rows of
// the unpartitioned table), deliveries_default. One statement per call (PGlite).

const COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ["id", "bigint GENERATED ALWAYS AS IDENTITY"],
  ["push_id", "text NOT NULL"],
  ["node", "text NOT NULL"],
  ["app", "text NOT NULL"],
  ["provider", "text NOT NULL"],
  ["environment", "text"],
  // Named as Postgres named them on the unpartitioned table: a partition must have its parent's checks, by name.
  [
    "outcome",
    "text NOT NULL CONSTRAINT deliveries_outcome_check CHECK (outcome IN ('delivered', 'token_dead', 'retry', 'config_error', 'payload_error'))",
  ],
  ["status", "integer"],
  ["reason", "text"],
  ["message_id", "text"],
  ["attempt", "integer NOT NULL"],
  ["latency_ms", "integer NOT NULL"],
  ["created_at", "timestamptz NOT NULL DEFAULT now()"],
  ["receipt", "text CONSTRAINT deliveries_receipt_check CHECK (receipt IN ('pending', 'received', 'not_received', 'unconfirmed'))"],
  ["receipt_channel", "text"],
  ["receipt_at", "timestamptz"],
  ["receipt_checked_at", "timestamptz"],
];
const COLUMN_DEFINITIONS = COLUMNS.map(([name, definition]) => `${name} ${definition}`).join(", ");
const COLUMN_NAMES = COLUMNS.map(([name]) => name).join(", ");

// The indexes of the unpartitioned audit, by name: the partitioned table gets the same ones.
const INDEXES: ReadonlyArray<readonly [string, string]> = [
  ["deliveries_node_created_idx", "(node, created_at DESC)"],
  ["deliveries_created_idx", "(created_at)"],
  ["deliveries_receipt_pending_idx", "(app, created_at) WHERE receipt = 'pending'"],
  ["deliveries_receipt_msg_idx", "(message_id) WHERE receipt IS NOT NULL"],
];

const OLD = "deliveries_unpartitioned";

/** The next id the audit would hand out: the new table continues it, so no id is ever used twice. */
async function nextId(knex: Knex, table: string): Promise<number> {
  const result = await knex.raw<{ rows: Array<{ id: number | string }> }>(`SELECT nextval(pg_get_serial_sequence(?, 'id')) AS id`, [table]);
  return Number(result.rows[0]!.id);
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE deliveries RENAME TO ${OLD}`);
  for (const [name] of INDEXES) await knex.raw(`ALTER INDEX IF EXISTS ${name} RENAME TO ${name.replace("deliveries", OLD)}`);
  const next = await nextId(knex, OLD);
  // A partition takes its ids from the parent's identity; its own would be refused.
  await knex.raw(`ALTER TABLE ${OLD} ALTER COLUMN id DROP IDENTITY`);
  // The parent's primary key (id, created_at) becomes the partition's; a partition cannot have two.
  await knex.raw(`ALTER TABLE ${OLD} DROP CONSTRAINT deliveries_pkey`);

  await knex.raw(`CREATE TABLE deliveries (${COLUMN_DEFINITIONS}, PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)`);
  await knex.raw(`ALTER TABLE deliveries ALTER COLUMN id RESTART WITH ${next}`);
  for (const [name, definition] of INDEXES) await knex.raw(`CREATE INDEX ${name} ON deliveries ${definition}`);
  await knex.raw(`CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT`);

  // The end of the UTC day of the newest row, or of today, whichever is later: every old row fits, and
  // rows written before the store's first partition maintenance land here too, not in the default.
  const bound = await knex.raw<{ rows: Array<{ day: string | null }> }>(
    `SELECT to_char(date_trunc('day', greatest(max(created_at), now()) AT TIME ZONE 'UTC') + interval '1 day', 'YYYYMMDD') AS day
       FROM ${OLD} HAVING count(*) > 0`,
  );
  const day = bound.rows[0]?.day;
  if (day === undefined || day === null) {
    await knex.raw(`DROP TABLE ${OLD}`);
    return;
  }
  const legacy = `deliveries_before_${day}`;
  await knex.raw(`ALTER TABLE ${OLD} RENAME TO ${legacy}`);
  for (const [name] of INDEXES)
    await knex.raw(`ALTER INDEX IF EXISTS ${name.replace("deliveries", OLD)} RENAME TO ${name.replace("deliveries", legacy)}`);
  const iso = `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6, 8)} 00:00:00+00`;
  await knex.raw(`ALTER TABLE deliveries ATTACH PARTITION ${legacy} FOR VALUES FROM (MINVALUE) TO ('${iso}')`);
}

// Back to one plain table. The rows are copied (the partitions are many tables), so on a large audit
// this takes a while; ids keep their values and the identity continues after the highest.
export async function down(knex: Knex): Promise<void> {
  const plain = "deliveries_plain";
  await knex.raw(`CREATE TABLE ${plain} (${COLUMN_DEFINITIONS}, CONSTRAINT ${plain}_pkey PRIMARY KEY (id))`);
  await knex.raw(`INSERT INTO ${plain} (${COLUMN_NAMES}) OVERRIDING SYSTEM VALUE SELECT ${COLUMN_NAMES} FROM deliveries`);
  const next = await nextId(knex, "deliveries");
  await knex.raw(`DROP TABLE deliveries`);
  await knex.raw(`ALTER TABLE ${plain} RENAME TO deliveries`);
  await knex.raw(`ALTER TABLE deliveries RENAME CONSTRAINT ${plain}_pkey TO deliveries_pkey`);
  await knex.raw(`ALTER SEQUENCE ${plain}_id_seq RENAME TO deliveries_id_seq`);
  await knex.raw(`ALTER TABLE deliveries ALTER COLUMN id RESTART WITH ${next}`);
  for (const [name, definition] of INDEXES) await knex.raw(`CREATE INDEX ${name} ON deliveries ${definition}`);
}
