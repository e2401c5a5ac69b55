import type { Knex } from "knex";

// The audit's partitions (migration 20261130000100_deliveries_partitioned): one per UTC day, named
// deliveries_p<yyyymmdd>, created ahead of time; deliveries_before_<yyyymmdd> holds the rows written
// before the audit was partitioned; deliveries_default takes rows of a day that has no partition yet
// (clock skew, maintenance that could not run), which move into their day when it gets one. The names
// carry the bounds, so no partition bound expression is ever parsed.
//
// Creating a partition, moving rows in, and dropping one are short DDL statements, but dropping needs
// an ACCESS EXCLUSIVE lock on the audit, for which every insert behind it would wait. So each runs with
// a short lock_timeout and is tried again, rather than queueing the live traffic behind a long query.

export const DAY_MS = 86_400_000;

// Only one process changes the partitions at a time (replicas share the database).
const PARTITION_LOCK_KEY = 0x78707573687061n; // "xpushpa"
const LOCK_TIMEOUT = "200ms";
const LOCK_ATTEMPTS = 5;
const LOCK_RETRY_MS = 500;

export type AuditPartition =
  | { readonly name: string; readonly kind: "day"; readonly from: Date; readonly to: Date }
  | { readonly name: string; readonly kind: "before"; readonly to: Date }
  | { readonly name: string; readonly kind: "default" };

export interface AuditPartitions {
  list(): Promise<readonly AuditPartition[]>;
  /** Creates the partition of every UTC day from `from` to `to` that has none yet; returns their names. */
  ensure(from: Date, to: Date): Promise<readonly string[]>;
  /** Drops the partitions whose every row is older than `cutoff`; returns their names. */
  dropOlderThan(cutoff: Date): Promise<readonly string[]>;
}

const startOfDay = (d: Date) => new Date(Math.floor(d.getTime() / DAY_MS) * DAY_MS);
const yyyymmdd = (d: Date) => d.toISOString().slice(0, 10).replaceAll("-", "");
const dayOf = (digits: string) =>
  new Date(Date.UTC(Number(digits.slice(0, 4)), Number(digits.slice(4, 6)) - 1, Number(digits.slice(6, 8))));

const dayPartitionName = (day: Date) => `deliveries_p${yyyymmdd(startOfDay(day))}`;

function parsePartition(name: string): AuditPartition | undefined {
  if (name === "deliveries_default") return { name, kind: "default" };
  const day = /^deliveries_p(\d{8})$/.exec(name);
  if (day) {
    const from = dayOf(day[1]!);
    return { name, kind: "day", from, to: new Date(from.getTime() + DAY_MS) };
  }
  const before = /^deliveries_before_(\d{8})$/.exec(name);
  if (before) return { name, kind: "before", to: dayOf(before[1]!) };
  return undefined;
}

/** Whether rows created on `day` already have a partition other than the default. */
function covered(partitions: readonly AuditPartition[], day: Date): boolean {
  return partitions.some((p) => (p.kind === "day" && p.from.getTime() === day.getTime()) || (p.kind === "before" && day < p.to));
}

async function listPartitions(knex: Knex): Promise<AuditPartition[]> {
  const result = await knex.raw<{ rows: Array<{ name: string }> }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'deliveries'::regclass ORDER BY c.relname`,
  );
  return result.rows.map((r) => parsePartition(r.name)).filter((p): p is AuditPartition => p !== undefined);
}

/** Runs `work` in a transaction holding the partition lock, with a short lock_timeout; tried again on a lock timeout. */
async function underPartitionLock<T>(knex: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await knex.transaction(async (trx) => {
        await trx.raw(`SELECT pg_advisory_xact_lock(?)`, [PARTITION_LOCK_KEY.toString()]);
        await trx.raw(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
        return work(trx);
      });
    } catch (err) {
      // 55P03 lock_not_available: someone held the audit; our statement stepped back instead of making inserts wait.
      if ((err as { code?: string }).code !== "55P03" || attempt >= LOCK_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
    }
  }
}

/**
 * One day's partition: made as a plain table, filled with that day's rows from the default partition
 * (locked meanwhile, so no row of the day can slip in there), then attached. Attaching takes a lighter
 * lock on the audit than CREATE TABLE … PARTITION OF, which would stop every insert and read.
 */
async function createDayPartition(trx: Knex.Transaction, day: Date): Promise<string> {
  const name = dayPartitionName(day);
  const from = day.toISOString();
  const to = new Date(day.getTime() + DAY_MS).toISOString();
  await trx.raw(`CREATE TABLE ?? (LIKE deliveries INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`, [name]);
  await trx.raw(`LOCK TABLE deliveries_default IN ACCESS EXCLUSIVE MODE`);
  await trx.raw(
    `WITH moved AS (DELETE FROM deliveries_default WHERE created_at >= ? AND created_at < ? RETURNING *) INSERT INTO ?? SELECT * FROM moved`,
    [from, to, name],
  );
  await trx.raw(`ALTER TABLE deliveries ATTACH PARTITION ?? FOR VALUES FROM ('${from}') TO ('${to}')`, [name]);
  return name;
}

export function createAuditPartitions({ knex }: { knex: Knex }): AuditPartitions {
  return {
    list: () => listPartitions(knex),

    async ensure(from, to) {
      const days: Date[] = [];
      for (let day = startOfDay(from); day <= to; day = new Date(day.getTime() + DAY_MS)) days.push(day);
      const existing = await listPartitions(knex);
      if (days.every((day) => covered(existing, day))) return [];
      return underPartitionLock(knex, async (trx) => {
        // Again under the lock: another replica may have just created them.
        const current = await listPartitions(trx);
        const created: string[] = [];
        for (const day of days) if (!covered(current, day)) created.push(await createDayPartition(trx, day));
        return created;
      });
    },

    async dropOlderThan(cutoff) {
      const dropped: string[] = [];
      for (const p of await listPartitions(knex)) {
        if (p.kind === "default" || p.to > cutoff) continue;
        // One transaction per partition: the audit is locked for one DROP at a time, never for a batch.
        await underPartitionLock(knex, (trx) => trx.raw(`DROP TABLE IF EXISTS ??`, [p.name]));
        dropped.push(p.name);
      }
      return dropped;
    },
  };
}
