import type { Knex } from "knex";
import pg from "pg";
import * as initialSchema from "../../migrations/20261126000001_initial_schema.js";
import * as jobReceivedAt from "../../migrations/20261126000002_job_received_at.js";
import * as httpRegistrar from "../../migrations/20261129000010_http_registrar.js";
import * as keysDropPublishSecretKey from "../../migrations/20261129000100_keys_drop_publish_secret_key.js";
import * as jpushReceipts from "../../migrations/20261129000200_jpush_receipts.js";
import * as deliveriesPartitioned from "../../migrations/20261130000100_deliveries_partitioned.js";
import { openDatabase, type Database } from "./database.js";

// Migrations are imported statically, not read from a directory: loading .ts migrations from a
// directory breaks under vitest and after tsc (the files change extension). Append new ones here.
const MIGRATIONS: ReadonlyArray<readonly [string, Knex.Migration]> = [
  ["20261126000001_initial_schema", initialSchema],
  ["20261126000002_job_received_at", jobReceivedAt],
  ["20261129000010_http_registrar", httpRegistrar],
  ["20261129000100_keys_drop_publish_secret_key", keysDropPublishSecretKey],
  ["20261129000200_jpush_receipts", jpushReceipts],
  ["20261130000100_deliveries_partitioned", deliveriesPartitioned],
];

const migrationSource: Knex.MigrationSource<readonly [string, Knex.Migration]> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};

// Any fixed 64-bit number works; it only has to be the same in every xmpp-push process.
const MIGRATION_LOCK_KEY = 0x78707573686d6967n; // "xpushmig"

/**
 * Applies pending migrations; returns the names applied. Safe to run twice and from several processes
 * at once: Postgres runs are serialized on an advisory lock, the embedded database is locked per process.
 */
export async function migrateLatest(db: Database): Promise<string[]> {
  const run = async ({ knex }: Database): Promise<string[]> => {
    // Under our lock nobody else is migrating, so a lock row left by a killed run is stale.
    await knex.migrate.forceFreeMigrationsLock({ migrationSource });
    const [, applied] = (await knex.migrate.latest({ migrationSource })) as [number, string[]];
    return applied;
  };
  if (db.url === undefined) return run(db);
  const client = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    // A migration may scan or index a large table (partitioning the audit does), far longer than the
    // query timeout that keeps the server's own queries from hanging: it gets a connection without one.
    const migrator = await openDatabase({ url: db.url, dataDir: "", poolMax: 1, queryTimeoutMs: 0 });
    try {
      return await run(migrator);
    } finally {
      await migrator.close();
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

export async function pendingMigrations(db: Database): Promise<string[]> {
  const [, pending] = (await db.knex.migrate.list({ migrationSource })) as [unknown[], Array<readonly [string, Knex.Migration]>];
  return pending.map(([name]) => name);
}

/**
 * The gate every process passes before it uses the database (`serve` and the admin commands): with
 * `database.migrateOnStart` pending migrations are applied, otherwise a database that needs them is
 * refused, so no process works on a schema it was not written for. Returns the names applied.
 */
export async function passMigrationGate(db: Database, migrateOnStart: boolean): Promise<string[]> {
  if (migrateOnStart) return migrateLatest(db);
  const pending = await pendingMigrations(db);
  if (pending.length > 0) throw new Error(`the database needs migrations (${pending.join(", ")}): run "xmpp-push migrate"`);
  return [];
}
