// npm run bench: throughput, latency and memory of the whole push path, reproducibly, on loopback.
// The app server runs as its own process (compiled, as in production) on a real Postgres; this
// process plays the XMPP server (publish IQs shaped like Prosody's) and Apple's and JPush's servers
// (local fakes with a small response delay), and measures. See README "Performance".
import { execFileSync, fork, spawn, type ChildProcess } from "node:child_process";
import { pathToFileURL } from "node:url";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pg from "pg";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { stringify } from "yaml";
import { openDatabase, type Database } from "../src/store/database.js";
import { migrateLatest } from "../src/store/migrate.js";
import { startFakeApns } from "../test/support/fakes/fake-apns.js";
import { testCerts } from "../test/support/fakes/test-certs.js";
import type { FakesCommand, FakesStats } from "./fake-providers-process.js";
import { JPUSH_APP_KEY, JPUSH_MASTER_SECRET } from "../test/support/test-config.js";
import { watchProcess } from "./proc-stats.js";
import { runProsodyEndToEnd } from "./prosody-run.js";
import { BENCH_SECRET, nodeOf, seedRegistrations } from "../test/support/seed.js";
import { startXmppLoad, type XmppLoad } from "./xmpp-load.js";
import { PRODUCTION_NODE_OPTIONS } from "../test/support/app-process.js";

const ROOT = resolve(import.meta.dirname, "..");
const args = new Set(process.argv.slice(2));
const JSON_OUT = args.has("--json");
const QUICK = args.has("--quick");
const seconds = (s: number) => (QUICK ? Math.max(3, Math.round(s / 3)) : s) * 1000;
const PROVIDER_DELAY_MS = Number(process.env.BENCH_PROVIDER_DELAY_MS ?? 2);
const ADMIN_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const DB_NAME = "xmpp_push_bench";
const COMPONENT_SECRET = "bench-component-secret";
const log = (s: string) => process.stderr.write(`${s}\n`);
const APP_HTTP_PORT = Number(process.env.BENCH_APP_HTTP_PORT ?? 18_088);

/** The app server's own memory view, from its Prometheus endpoint (heap, external, array buffers). */
async function memoryBreakdown(): Promise<string> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${APP_HTTP_PORT}/metrics`)).text();
    const mb = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? NaN) / 1048576;
    const val = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? NaN);
    const gc = (kind: string) =>
      `${val(`nodejs_gc_duration_seconds_count\\{kind="${kind}"\\}`)}× ${(val(`nodejs_gc_duration_seconds_sum\\{kind="${kind}"\\}`) * 1000).toFixed(0)} ms`;
    return (
      `heap used ${mb("nodejs_heap_size_used_bytes").toFixed(0)} / total ${mb("nodejs_heap_size_total_bytes").toFixed(0)} MB, external ${mb("nodejs_external_memory_bytes").toFixed(0)} MB; ` +
      `GC minor ${gc("minor")}, major ${gc("major")}; event loop lag p99 ${(val("nodejs_eventloop_lag_p99_seconds") * 1000).toFixed(1)} ms, max ${(val("nodejs_eventloop_lag_max_seconds") * 1000).toFixed(1)} ms`
    );
  } catch {
    return "";
  }
}

type Strategy = "apns" | "jpush" | "fallback";
interface Scenario {
  readonly name: string;
  readonly registrations: number;
  readonly strategy: Strategy;
  readonly mode: "fixed" | "max";
  readonly rate?: number;
  readonly durationMs: number;
}
interface Result {
  readonly scenario: Scenario;
  pushesPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  providerRequestsPerSecond: number;
  rowsWritten: number;
  maxRssMb: number;
  cpuPercent: number;
  /** CPU of this process (load generator and provider fakes), for judging where the limit is. */
  loadCpuPercent: number;
  errors: string;
  lost: number;
}

const ALL_SCENARIOS: Scenario[] = [
  { name: "APNs, 1k devices, 1,000/s", registrations: 1_000, strategy: "apns", mode: "fixed", rate: 1000, durationMs: seconds(20) },
  { name: "APNs, 1k devices, max rate", registrations: 1_000, strategy: "apns", mode: "max", durationMs: seconds(20) },
  { name: "JPush, 1k devices, max rate", registrations: 1_000, strategy: "jpush", mode: "max", durationMs: seconds(15) },
  { name: "APNs failing → JPush, 1k, max", registrations: 1_000, strategy: "fallback", mode: "max", durationMs: seconds(15) },
  { name: "APNs, 100k devices, max rate", registrations: 100_000, strategy: "apns", mode: "max", durationMs: seconds(15) },
  { name: "APNs, 1M devices, 1,000/s", registrations: 1_000_000, strategy: "apns", mode: "fixed", rate: 1000, durationMs: seconds(15) },
  { name: "APNs, 1M devices, max rate", registrations: 1_000_000, strategy: "apns", mode: "max", durationMs: seconds(15) },
];
// BENCH_ONLY=<substring> runs the matching scenarios only (profiling one case).
const SCENARIOS = ALL_SCENARIOS.filter((s) => !process.env.BENCH_ONLY || s.name.includes(process.env.BENCH_ONLY));

async function prepareDatabase(): Promise<{ db: Database; url: string }> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.end();
  const u = new URL(ADMIN_URL);
  u.pathname = `/${DB_NAME}`;
  const url = u.toString();
  const db = await openDatabase({ url, dataDir: "", poolMax: 4 });
  await migrateLatest(db);
  return { db, url };
}

interface Fakes {
  readonly apnsPort: number;
  readonly ca: string;
  readonly jpushUrl: string;
  command(c: FakesCommand): Promise<FakesStats | undefined>;
  stop(): void;
}

/** The provider fakes in their own process (bench/fake-providers-process.ts). */
async function startFakes(delayMs: number): Promise<Fakes> {
  const child = fork(join(ROOT, "bench/fake-providers-process.ts"), [String(delayMs)], {
    execArgv: ["--import", pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = await new Promise<{ apnsPort: number; ca: string; jpushUrl: string }>((resolve, reject) => {
    child.once("message", (m) => resolve(m as { apnsPort: number; ca: string; jpushUrl: string }));
    child.once("exit", () => reject(new Error("the provider fakes did not start")));
  });
  let seq = 0;
  const pending = new Map<number, (s: FakesStats | undefined) => void>();
  child.on("message", (m: { id?: number; stats?: FakesStats }) => {
    if (m.id !== undefined) pending.get(m.id)?.(m.stats);
    if (m.id !== undefined) pending.delete(m.id);
  });
  return {
    ...ready,
    command: (c) =>
      new Promise((resolve) => {
        const id = ++seq;
        pending.set(id, resolve);
        child.send({ ...c, id });
      }),
    stop: () => child.disconnect(),
  };
}

function appConfig(strategy: Strategy, fakes: { apnsPort: number; ca: string; jpushUrl: string }) {
  return {
    id: "bench",
    default: true,
    strategy: { providers: strategy === "apns" ? ["apns"] : strategy === "jpush" ? ["jpush"] : ["apns", "jpush"], mode: "fallback" },
    apns: {
      bundleId: "org.example.bench",
      teamId: "BENCHTEAM1",
      keyId: "BENCHKEY01",
      key: testCerts().apnsKey,
      address: "127.0.0.1",
      port: fakes.apnsPort,
      ca: fakes.ca,
      connections: 2,
      maxInFlightPerConnection: 200,
    },
    jpush: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, baseUrl: fakes.jpushUrl },
  };
}

async function startAppServer(dir: string, url: string, service: string, app: object): Promise<ChildProcess> {
  const file = join(dir, "bench.yaml");
  writeFileSync(
    file,
    stringify({
      component: { service, domain: "push.localhost", secret: COMPONENT_SECRET },
      domains: ["localhost"],
      database: { url, poolMax: 10 },
      http: { port: APP_HTTP_PORT },
      log: { level: "warn" },
      delivery: { breakerFailureThreshold: 5, breakerCooldownMs: 60_000 },
      apps: [app],
    }),
  );
  const profile = [
    // The Docker image's setting (Dockerfile NODE_OPTIONS): measure what production runs.
    ...PRODUCTION_NODE_OPTIONS.split(" "),
    ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
    ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(" ") : []),
  ];
  const child = spawn(process.execPath, [...profile, join(ROOT, "dist/src/cli.js"), "serve"], {
    env: { PATH: process.env.PATH ?? "", XMPP_PUSH_CONFIG: file, NODE_ENV: "production" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return child;
}

async function stopAppServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(t);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function drive(load: XmppLoad, s: Scenario, pick: () => string): Promise<number> {
  const started = performance.now();
  const end = started + s.durationMs;
  if (s.mode === "fixed") {
    const rate = s.rate!;
    let sent = 0;
    // Paced in 5 ms steps: the send count follows the clock, never bursts ahead of it.
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      for (; sent < due; sent++) load.publish(pick(), BENCH_SECRET);
      await new Promise((r) => setTimeout(r, 5));
    }
  } else {
    // As fast as replies come back, with a bounded window of outstanding publishes.
    const WINDOW = 400;
    while (performance.now() < end) {
      while (load.outstanding() < WINDOW) load.publish(pick(), BENCH_SECRET);
      await load.belowOutstanding(WINDOW - 50);
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  // Late replies still count for latency; bounded wait.
  for (let i = 0; i < 200 && load.outstanding() > 0; i++) await new Promise((r) => setTimeout(r, 25));
  return elapsed;
}

async function runScenario(s: Scenario, ctx: { db: Database; url: string; dir: string; fakes: Fakes }): Promise<Result> {
  const load = await startXmppLoad({ componentDomain: "push.localhost", secret: COMPONENT_SECRET });
  const { fakes } = ctx;
  const failingApns = async () => {
    if (s.strategy === "fallback") await fakes.command({ cmd: "apnsDefault", script: { status: 503, reason: "ServiceUnavailable" } });
  };
  await fakes.command({ cmd: "reset", delayMs: PROVIDER_DELAY_MS });
  await failingApns();
  const child = await startAppServer(ctx.dir, ctx.url, load.service, appConfig(s.strategy, fakes));
  try {
    await load.waitForComponent();
    const pick = () => nodeOf(Math.floor(Math.random() * s.registrations));
    // Warm up: JIT, provider connections, the JPush cid pool, the registration cache.
    await drive(load, { ...s, mode: "fixed", rate: 500, durationMs: 2000 }, pick);
    await new Promise((r) => setTimeout(r, 500));
    load.resetStats();
    await fakes.command({ cmd: "reset", delayMs: PROVIDER_DELAY_MS });
    await failingApns();
    const rowsBefore = Number((await ctx.db.knex("deliveries").count({ n: "*" }).first())?.n ?? 0);
    const watch = watchProcess(child.pid!);
    const ownLag = monitorEventLoopDelay({ resolution: 5 });
    ownLag.enable();
    const ownCpu = process.cpuUsage();
    const elapsed = await drive(load, s, pick);
    const memory = await memoryBreakdown();
    const proc = watch.stop();
    const own = process.cpuUsage(ownCpu);
    const loadCpuPercent = ((own.user + own.system) / 1e6 / elapsed) * 100;
    ownLag.disable();
    if (memory) log(`  app memory at the end of the run: ${memory}`);
    log(
      `  load generator's own event loop lag: p99 ${(ownLag.percentile(99) / 1e6).toFixed(1)} ms, max ${(ownLag.max / 1e6).toFixed(1)} ms`,
    );
    const st = load.stats();
    // Let queued work (fallback retries, group commits) finish before counting.
    for (let i = 0; i < 120; i++) {
      const q = Number((await ctx.db.knex("delivery_jobs").count({ n: "*" }).first())?.n ?? 0);
      if (q === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 300));
    const rowsWritten = Number((await ctx.db.knex("deliveries").count({ n: "*" }).first())?.n ?? 0) - rowsBefore;
    const stats = (await fakes.command({ cmd: "stats" }))!;
    const sorted = [...st.latencies].sort((a, b) => a - b);
    return {
      scenario: s,
      pushesPerSecond: st.results / elapsed,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? NaN,
      providerRequestsPerSecond: (stats.apnsRequests + stats.jpushRequests) / elapsed,
      rowsWritten,
      maxRssMb: proc.maxRssMb,
      cpuPercent: proc.cpuPercent,
      loadCpuPercent,
      errors:
        [...st.errors].map(([k, v]) => `${k}:${v}`).join(" ") || (st.sent - st.replied > 0 ? `unanswered:${st.sent - st.replied}` : "none"),
      // Accepted (answered result) in this window but never seen by a provider.
      lost: Math.max(0, st.results - stats.deliveredPushes),
    };
  } finally {
    await stopAppServer(child);
    await load.stop();
    await fakes.command({ cmd: "apnsDefault", script: { status: 200 } });
  }
}

function table(results: Result[]): string {
  const head = [
    "scenario",
    "pushes/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "provider req/s",
    "audit rows",
    "RSS MB",
    "CPU %",
    "load CPU %",
    "errors",
    "lost",
  ];
  const rows = results.map((r) => [
    r.scenario.name,
    r.pushesPerSecond.toFixed(0),
    r.p50.toFixed(2),
    r.p95.toFixed(2),
    r.p99.toFixed(2),
    r.max.toFixed(1),
    r.providerRequestsPerSecond.toFixed(0),
    String(r.rowsWritten),
    r.maxRssMb.toFixed(0),
    r.cpuPercent.toFixed(0),
    r.loadCpuPercent.toFixed(0),
    r.errors,
    String(r.lost),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

async function main(): Promise<void> {
  log("building (tsc) …");
  execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json")], {
    stdio: "inherit",
  });
  const dir = mkdtempSync(join(tmpdir(), "xmpp-push-bench-"));
  const { db, url } = await prepareDatabase();
  const fakes = await startFakes(PROVIDER_DELAY_MS);
  const results: Result[] = [];
  let seeded = 0;
  try {
    for (const s of SCENARIOS) {
      if (seeded !== s.registrations) {
        const t0 = Date.now();
        await seedRegistrations(db.knex, s.registrations, "bench");
        seeded = s.registrations;
        log(`seeded ${s.registrations.toLocaleString("en")} registrations in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      log(`running: ${s.name} (${s.durationMs / 1000} s)`);
      const r = await runScenario(s, { db, url, dir, fakes });
      log(`  ${r.pushesPerSecond.toFixed(0)} pushes/s, p99 ${r.p99.toFixed(2)} ms, RSS ${r.maxRssMb.toFixed(0)} MB, errors ${r.errors}`);
      results.push(r);
    }
    await seedRegistrations(db.knex, 1000, "bench");
    if (!args.has("--no-prosody")) {
      log("running: real Prosody end to end");
      // At 100 messages a second the latency pairing needs every request's token and time: an in-process fake.
      const apns = await startFakeApns();
      const e2e = await runProsodyEndToEnd({
        url,
        apns,
        durationMs: seconds(15),
        dir,
        appConfig: appConfig("apns", { apnsPort: apns.port, ca: apns.ca, jpushUrl: fakes.jpushUrl }),
      });
      await apns.stop();
      log(`  ${e2e.summary}`);
      process.stdout.write(`\n${table(results)}\n\n${e2e.summary}\n`);
    } else {
      process.stdout.write(`\n${table(results)}\n`);
    }
    const fixed = results.find((r) => r.scenario.mode === "fixed") ?? results[0]!;
    const max = results.find((r) => r.scenario.mode === "max" && r.scenario.strategy === "apns") ?? results[0]!;
    const summary = {
      pushesPerSecond: Math.round(max.pushesPerSecond),
      p50Ms: Number(fixed.p50.toFixed(2)),
      p95Ms: Number(fixed.p95.toFixed(2)),
      p99Ms: Number(fixed.p99.toFixed(2)),
      maxRssMb: Math.round(Math.max(...results.map((r) => r.maxRssMb))),
      registrations: Math.max(...SCENARIOS.map((s) => s.registrations)),
      lost: results.reduce((n, r) => n + r.lost, 0),
      providerDelayMs: PROVIDER_DELAY_MS,
    };
    process.stdout.write(
      `\nmachine: ${(await import("node:os")).cpus().length} cores, ${(await import("node:os")).cpus()[0]?.model ?? "?"}, Node ${process.version}\n`,
    );
    if (JSON_OUT) process.stdout.write(`${JSON.stringify(summary)}\n`);
  } finally {
    fakes.stop();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
