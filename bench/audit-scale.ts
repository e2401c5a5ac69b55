// npm run bench -- --audit-rows N [--audit-expire-days D]: whether the audit's retention costs the live
// traffic anything when the audit is large. Off by default: seeding tens of millions of rows takes
// minutes and gigabytes.
//
// Seeds N audit rows (set-based SQL) spread evenly over the 30 days the server keeps, into a database of
// its own, starts the app server (compiled, production flags) and drives 200 publishes a second: first
// a window without retention, then a window in which D purges (default 3) each expire one more day, as
// the daily retention meets them (the server's own start-up purge finds nothing older than 30 days),
// each followed by the VACUUM that deleted rows call for (with autovacuum's cost limits; after dropped
// partitions it finds nothing to do). It reports the reply latency of both windows and of the stretches
// in which a purge or a VACUUM ran, how long each took, the WAL each wrote and the rows removed.
//
// Also runs on a checkout from before the audit was partitioned, to measure the DELETE purge that
// partitioning replaced: the partition code is loaded only when the audit is partitioned.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { Database } from "../src/store/database.js";
import { createPgDeliveryAudit } from "../src/store/delivery-audit-pg.js";
import { nodeOf, seedRegistrations } from "../test/support/seed.js";
import { startAppServer, stopAppServer } from "./app-server.js";
import { drive, percentile } from "./drive.js";
import { markdownTable } from "./markdown-table.js";
import { startXmppLoad, type XmppLoad } from "./xmpp-load.js";

// Not the main bench's database: both may run on one Postgres.
const DB_NAME = "xmpp_push_audit_bench";
const COMPONENT_SECRET = "bench-component-secret";
const REGISTRATIONS = 1000;
const RATE = 200;
const KEEP_DAYS = 30; // the server's default retention.auditDays
const DAY_MS = 86_400_000;
const SEED_CHUNK = 500_000;
const WINDOW_MS = 30_000;
const CHUNK_MS = 1000;
const PAUSE_MS = 5000;

/** The value of `--audit-rows`, or undefined when the audit bench is not asked for. */
export function auditRowsArgument(argv: readonly string[]): number | undefined {
  const i = argv.indexOf("--audit-rows");
  if (i < 0) return undefined;
  const rows = Number(argv[i + 1]);
  if (!Number.isInteger(rows) || rows <= 0) throw new Error(`--audit-rows takes a number of rows, not "${argv[i + 1]}"`);
  return rows;
}

function expireDaysArgument(argv: readonly string[]): number {
  const i = argv.indexOf("--audit-expire-days");
  return i < 0 ? 3 : Number(argv[i + 1]);
}

async function isPartitioned(client: pg.Client): Promise<boolean> {
  const r = await client.query<{ relkind: string }>(`SELECT relkind FROM pg_class WHERE relname = 'deliveries'`);
  return r.rows[0]?.relkind === "p";
}

/** N delivered APNs attempts evenly spread over [from, to), in chunks so progress shows. */
async function seedAudit(client: pg.Client, rows: number, from: Date, to: Date, log: (s: string) => void): Promise<void> {
  const stepMs = (to.getTime() - from.getTime()) / rows;
  const started = performance.now();
  for (let first = 0; first < rows; first += SEED_CHUNK) {
    const last = Math.min(rows, first + SEED_CHUNK) - 1;
    await client.query(
      `INSERT INTO deliveries (push_id, node, app, provider, environment, outcome, status, message_id, attempt, latency_ms, created_at)
       SELECT 'seed-' || i, 'bench-' || (i % $1), 'bench', 'apns', 'production', 'delivered', 200, md5(i::text), 1, 1 + i % 50,
              $2::timestamptz + (i * $3::float8) * interval '1 millisecond'
         FROM generate_series($4::bigint, $5::bigint) AS i`,
      [REGISTRATIONS, from.toISOString(), stepMs, first, last],
    );
    const s = (performance.now() - started) / 1000;
    log(`  seeded ${(last + 1).toLocaleString("en")} rows in ${s.toFixed(0)} s (${((last + 1) / s).toFixed(0)} rows/s)`);
  }
}

async function auditBytes(client: pg.Client): Promise<number> {
  // pg_partition_tree has no rows for a plain table.
  const r = await client.query<{ bytes: string }>(
    `SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('deliveries')), pg_total_relation_size('deliveries'))::text AS bytes`,
  );
  return Number(r.rows[0]!.bytes);
}

/** Rows up to a day past the cutoff: what the purge may remove, counted through the created_at index. */
async function rowsNear(client: pg.Client, cutoff: Date): Promise<number> {
  const r = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM deliveries WHERE created_at < $1`, [
    new Date(cutoff.getTime() + DAY_MS),
  ]);
  return Number(r.rows[0]!.n);
}

/**
 * The retention's purge (what the server's retention tick and `xmpp-push purge` run), from this process
 * on its own connection, so it can start mid-load and be timed exactly.
 */
async function purge(db: Database, cutoff: Date): Promise<string> {
  const result: unknown = await createPgDeliveryAudit({ knex: db.knex }).purgeOlderThan(cutoff);
  return `it answered ${JSON.stringify(result)}`;
}

/** What the rows a purge deleted still cost: the VACUUM autovacuum runs for them, with autovacuum's cost limits. */
async function vacuum(client: pg.Client): Promise<string> {
  await client.query("SET vacuum_cost_delay = '2ms'");
  await client.query("SET vacuum_cost_limit = 200");
  await client.query("VACUUM deliveries");
  return "with autovacuum's cost limits (2 ms per 200)";
}

async function walPosition(db: Database): Promise<string> {
  const r = await db.knex.raw<{ rows: Array<{ lsn: string }> }>("SELECT pg_current_wal_lsn()::text AS lsn");
  return r.rows[0]!.lsn;
}

async function walBytesSince(db: Database, from: string): Promise<number> {
  const r = await db.knex.raw<{ rows: Array<{ bytes: string }> }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ?)::text AS bytes", [from]);
  return Number(r.rows[0]!.bytes);
}

interface Step {
  /** What the step is counted as in the latency table ("purge", "VACUUM"). */
  readonly kind: string;
  readonly label: string;
  run(): Promise<string>;
}

interface StepResult {
  readonly label: string;
  readonly ms: number;
  readonly walBytes: number;
  readonly detail: string;
}

interface Window {
  readonly latencies: number[];
  /** Per kind of step: the latencies of the 1-second stretches of load during which one ran. */
  readonly during: Map<string, number[]>;
  readonly steps: StepResult[];
  readonly errors: number;
}

/**
 * Drives RATE/s for at least `minMs` and until the steps, run one after the other meanwhile with a
 * pause of plain load in between, are done. The load goes in 1-second stretches so that each reply can
 * be put down to the step running then.
 */
async function driveWindow(load: XmppLoad, db: Database, minMs: number, steps: readonly Step[]): Promise<Window> {
  load.resetStats();
  let current: Step | undefined;
  const begun: Step[] = [];
  const results: StepResult[] = [];
  let done = false;
  const work = (async () => {
    for (const step of steps) {
      await new Promise((r) => setTimeout(r, PAUSE_MS));
      current = step;
      begun.push(step);
      const wal = await walPosition(db);
      const started = performance.now();
      const detail = await step.run();
      results.push({ label: step.label, ms: performance.now() - started, walBytes: await walBytesSince(db, wal), detail });
      current = undefined;
    }
    done = true;
  })();
  const pick = () => nodeOf(Math.floor(Math.random() * REGISTRATIONS));
  const during = new Map<string, number[]>();
  const started = performance.now();
  while (performance.now() - started < minMs || !done) {
    const from = load.stats().latencies.length;
    const running = current;
    const begunBefore = begun.length;
    await drive(load, { mode: "fixed", rate: RATE }, CHUNK_MS, pick);
    // Every kind of step that ran at some point of this stretch: the one running at its start and those begun since.
    const kinds = new Set([...(running === undefined ? [] : [running]), ...begun.slice(begunBefore)].map((s) => s.kind));
    for (const kind of kinds) during.set(kind, [...(during.get(kind) ?? []), ...load.stats().latencies.slice(from)]);
  }
  await work;
  const st = load.stats();
  return { latencies: [...st.latencies], during, steps: results, errors: st.sent - st.results };
}

const ms = (sorted: readonly number[], p: number) => (sorted.length === 0 ? "–" : percentile(sorted, p).toFixed(1));
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);

export async function runAuditScale<F extends { stop(): void }>({
  rows,
  log,
  prepareDatabase,
  startFakes,
  appConfig,
}: {
  rows: number;
  log: (s: string) => void;
  /** A new, migrated database of this name. */
  prepareDatabase: (name: string) => Promise<{ db: Database; url: string }>;
  startFakes: () => Promise<F>;
  appConfig: (fakes: F) => object;
}): Promise<void> {
  const expireDays = expireDaysArgument(process.argv);
  const dir = mkdtempSync(join(tmpdir(), "xmpp-push-audit-bench-"));
  const { db, url } = await prepareDatabase(DB_NAME);
  // The seeding's statements run longer than the store's query timeout allows.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const fakes = await startFakes();
  try {
    await seedRegistrations(db.knex, REGISTRATIONS, "bench");
    const now = new Date();
    // Inside the server's 30 days, so its own start-up purge has nothing to do and the measured purge all.
    const seedFrom = new Date(now.getTime() - KEEP_DAYS * DAY_MS + 3_600_000);
    const seedEnd = new Date(now.getTime() - 60_000);
    const partitioned = await isPartitioned(client);
    if (partitioned) {
      const { createAuditPartitions } = await import("../src/store/audit-partitions.js");
      await createAuditPartitions({ knex: db.knex }).ensure(seedFrom, new Date(now.getTime() + 3 * DAY_MS));
    }
    log(`seeding ${rows.toLocaleString("en")} audit rows over ${KEEP_DAYS} days (${partitioned ? "daily partitions" : "one table"}) …`);
    const seedStarted = performance.now();
    await seedAudit(client, rows, seedFrom, seedEnd, log);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    log("VACUUM ANALYZE, CHECKPOINT (the steady state autovacuum would reach) …");
    await client.query("VACUUM ANALYZE deliveries");
    await client.query("CHECKPOINT");
    const bytes = await auditBytes(client);
    log(`audit: ${(bytes / 2 ** 30).toFixed(2)} GiB on disk`);

    const load = await startXmppLoad({ componentDomain: "push.localhost", secret: COMPONENT_SECRET });
    const app = startAppServer({
      dir,
      url,
      service: load.service,
      componentDomain: "push.localhost",
      componentSecret: COMPONENT_SECRET,
      domains: ["localhost"],
      app: appConfig(fakes),
    });
    try {
      await load.waitForComponent();
      const pick = () => nodeOf(Math.floor(Math.random() * REGISTRATIONS));
      await drive(load, { mode: "fixed", rate: RATE }, 5000, pick); // warm-up
      // One purge per expiring day, as the daily retention meets them: each drops (or deletes) one more day.
      const start = Date.now();
      const cutoffs = Array.from({ length: expireDays }, (_, i) => new Date(start - (KEEP_DAYS - 1 - i) * DAY_MS));
      const before = await rowsNear(client, cutoffs.at(-1)!);
      log(`without retention: ${WINDOW_MS / 1000} s at ${RATE}/s …`);
      const quiet = await driveWindow(load, db, WINDOW_MS, []);
      log(`with retention: ${expireDays} purge(s) of one more day each, every one followed by VACUUM, at ${RATE}/s …`);
      const busy = await driveWindow(
        load,
        db,
        WINDOW_MS,
        cutoffs.flatMap((cutoff, i): Step[] => [
          { kind: "purge", label: `purge ${i + 1} (older than ${KEEP_DAYS - 1 - i} days)`, run: () => purge(db, cutoff) },
          { kind: "VACUUM", label: `VACUUM ${i + 1}`, run: () => vacuum(client) },
        ]),
      );
      const after = await rowsNear(client, cutoffs.at(-1)!);
      const line = (label: string, latencies: readonly number[], errors: string) => {
        const s = sorted(latencies);
        return [label, String(s.length), ms(s, 50), ms(s, 99), ms(s, 100), errors];
      };
      process.stdout.write(
        `\n${markdownTable(
          ["window", "replies", "p50 ms", "p99 ms", "max ms", "errors"],
          [
            line("without retention", quiet.latencies, String(quiet.errors)),
            line("with retention (whole window)", busy.latencies, String(busy.errors)),
            ...[...busy.during].map(([kind, latencies]) => line(`while a ${kind} ran`, latencies, "")),
          ],
        )}\n`,
      );
      process.stdout.write(
        `\n${rows.toLocaleString("en")} audit rows in ${partitioned ? "daily partitions" : "one table"}, ${(bytes / 2 ** 30).toFixed(2)} GiB, seeded in ${seedSeconds.toFixed(0)} s; ` +
          `${(before - after).toLocaleString("en")} rows removed\n` +
          busy.steps
            .map(
              (step) =>
                `${step.label}: ${(step.ms / 1000).toFixed(2)} s, ${(step.walBytes / 2 ** 20).toFixed(1)} MiB of WAL; ${step.detail}\n`,
            )
            .join(""),
      );
    } finally {
      await stopAppServer(app);
      await load.stop();
    }
  } finally {
    fakes.stop();
    await client.end();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
