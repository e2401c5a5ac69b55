import { join } from "node:path";
import type { Knex } from "knex";
import { startProsody } from "../test/support/servers/xmpp-servers.js";
import { nodeOf, seedRegistrations } from "../test/support/seed.js";
import { waitFor } from "../test/support/wait-for.js";
import { gcSeconds, sampleOf, scrapeApp, startAppServer, stopAppServer, waitUntilReady } from "./app-server.js";
import { drive, percentile, type Pace } from "./drive.js";
import { cpuSecondsBetween, cpuSecondsByPid, postgresDataDirectory, postgresPids, watchProcess } from "./proc-stats.js";
import { markdownTable } from "./markdown-table.js";
import { connectXmppLoad } from "./xmpp-load.js";

// The Prosody scenario set: a real Prosody 0.12 routes every publish and every reply. The load
// generator is a second component of that Prosody (it plays the server of the users at its domain)
// and sends publish IQs to the app server's component; the fake APNs answers at once. For each rate,
// what the admin of a real server pays: replies/s, latency, and the CPU per push of Prosody, of the
// app server and of Postgres separately, with the app server's RSS, GC share and event-loop lag.

const LOAD_DOMAIN = "loadgen.localhost";
const LOAD_SECRET = "bench-load-secret";
const DEVICES = 1_000;

export interface ProsodyFigures {
  readonly name: string;
  readonly repliesPerSecond: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** CPU milliseconds per reply: Prosody, the app server, all Postgres processes. */
  readonly cpuMsPerPush: { readonly prosody: number; readonly app: number; readonly postgres: number };
  readonly rssMb: number;
  /** Its private part (RssAnon): what each further instance costs; the rest is Node's code pages. */
  readonly rssAnonMb: number;
  /** Share of the app server's CPU time spent in garbage collection. */
  readonly gcShare: number;
  readonly lagP99Ms: number;
  /** The app server's own mean time from a publish's arrival to its reply (its metric), the rest is routing. */
  readonly appMeanMs: number;
  readonly errors: string;
  readonly lost: number;
}

export interface ProsodyScenarioDeps {
  readonly knex: Knex;
  readonly url: string;
  readonly dir: string;
  readonly app: object;
  readonly durationMs: (seconds: number) => number;
  /** Clears the provider fakes' records and makes them answer at once. */
  resetFakes(): Promise<void>;
  /** Distinct pushes the provider fakes accepted since the last reset. */
  deliveredPushes(): Promise<number>;
  readonly log: (line: string) => void;
}

const SCENARIOS: ReadonlyArray<{ readonly name: string; readonly pace: Pace; readonly seconds: number }> = [
  { name: "200/s", pace: { mode: "fixed", rate: 200 }, seconds: 20 },
  { name: "1,000/s", pace: { mode: "fixed", rate: 1000 }, seconds: 15 },
  // The closed loop: as fast as replies come back with 100 outstanding.
  { name: "max", pace: { mode: "max", window: 100 }, seconds: 15 },
];

export interface ProsodyRun {
  readonly rates: ProsodyFigures[];
  /** The app server's CPU with no publishes, ms per second (NaN when not measured). */
  readonly idleCpuMsPerSecond: number;
}

export async function runProsodyScenarios(deps: ProsodyScenarioDeps): Promise<ProsodyRun> {
  await seedRegistrations(deps.knex, DEVICES, "bench", LOAD_DOMAIN);
  const prosody = await startProsody({
    runDir: join(deps.dir, "prosody-load"),
    loadComponent: { domain: LOAD_DOMAIN, secret: LOAD_SECRET },
    logLevel: "warn",
    // Prosody's default (nagle = true) holds each small write until the peer acknowledges the previous
    // one: at 200/s that adds up to one 5 ms gap per hop, for any component (docs/xmpp-server-setup.md).
    // BENCH_PROSODY_NAGLE=true measures the default.
    nagle: process.env.BENCH_PROSODY_NAGLE === "true",
  });
  const child = startAppServer({
    dir: deps.dir,
    url: deps.url,
    service: prosody.componentService,
    componentDomain: prosody.componentDomain,
    componentSecret: prosody.componentSecret,
    domains: [LOAD_DOMAIN],
    app: deps.app,
  });
  const load = await connectXmppLoad({
    port: prosody.componentPort,
    domain: LOAD_DOMAIN,
    secret: LOAD_SECRET,
    appComponent: prosody.componentDomain,
  });
  try {
    await waitUntilReady();
    const pick = () => nodeOf(Math.floor(Math.random() * DEVICES));
    // Warm up: JIT, the APNs connections, the registration cache (every device at least once).
    await drive(load, { mode: "fixed", rate: 1000 }, 3000, pick);
    // Only the bench's own Postgres server counts (other clusters on this machine are not ours).
    const dataDirectory = await postgresDataDirectory(deps.knex);
    const prosodyPid = prosody.pid();
    if (prosodyPid === undefined) throw new Error("Prosody's pid is unknown");
    // Idle: what the app server costs per second with no publishes at all (timers, monitors, pings),
    // the fixed cost every rate pays on top of its pushes. BENCH_IDLE_SECONDS=0 skips it.
    let idleCpuMsPerSecond = NaN;
    const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 10);
    if (idleSeconds > 0) {
      const idleMs = deps.durationMs(idleSeconds);
      deps.log(`running: through Prosody, idle (${idleMs / 1000} s)`);
      const before = cpuSecondsByPid([child.pid!]);
      const startedAt = performance.now();
      await new Promise((r) => setTimeout(r, idleMs));
      idleCpuMsPerSecond = (cpuSecondsBetween(before, cpuSecondsByPid([child.pid!])) * 1000) / ((performance.now() - startedAt) / 1000);
      deps.log(`  app ${idleCpuMsPerSecond.toFixed(1)} ms CPU per second`);
    }
    const results: ProsodyFigures[] = [];
    // BENCH_PROSODY_ONLY=<name> runs one rate only (profiling one case).
    for (const s of SCENARIOS.filter((x) => !process.env.BENCH_PROSODY_ONLY || x.name === process.env.BENCH_PROSODY_ONLY)) {
      deps.log(`running: through Prosody, ${s.name} (${deps.durationMs(s.seconds) / 1000} s)`);
      load.resetStats();
      await deps.resetFakes();
      await scrapeApp(); // starts the event-loop lag histogram afresh (prom-client resets it on a scrape)
      const metricsBefore = await scrapeApp();
      const pgPids = postgresPids(dataDirectory);
      const before = { prosody: cpuSecondsByPid([prosodyPid]), app: cpuSecondsByPid([child.pid!]), pg: cpuSecondsByPid(pgPids) };
      const watch = watchProcess(child.pid!);
      const elapsed = await drive(load, s.pace, deps.durationMs(s.seconds), pick);
      const proc = watch.stop();
      const after = {
        prosody: cpuSecondsByPid([prosodyPid]),
        app: cpuSecondsByPid([child.pid!]),
        pg: cpuSecondsByPid(postgresPids(dataDirectory)),
      };
      const metricsAfter = await scrapeApp();
      const st = load.stats();
      const sorted = [...st.latencies].sort((a, b) => a - b);
      const per = (cpu: number) => (st.replied > 0 ? (cpu * 1000) / st.replied : NaN);
      const appCpu = cpuSecondsBetween(before.app, after.app);
      // Pushes accepted in this window but never seen by a provider (a late one gets a bounded wait).
      const delivered = await waitFor(
        "the provider fakes to see every accepted push",
        async () => {
          const n = await deps.deliveredPushes();
          return n >= st.results ? n : undefined;
        },
        10_000,
      ).catch(() => deps.deliveredPushes());
      const r: ProsodyFigures = {
        name: s.name,
        repliesPerSecond: st.replied / elapsed,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        p99: percentile(sorted, 99),
        cpuMsPerPush: {
          prosody: per(cpuSecondsBetween(before.prosody, after.prosody)),
          app: per(appCpu),
          postgres: per(cpuSecondsBetween(before.pg, after.pg)),
        },
        rssMb: proc.maxRssMb,
        rssAnonMb: proc.maxRssAnonMb,
        gcShare: appCpu > 0 ? (gcSeconds(metricsAfter) - gcSeconds(metricsBefore)) / appCpu : NaN,
        lagP99Ms: sampleOf(metricsAfter, "nodejs_eventloop_lag_p99_seconds") * 1000,
        appMeanMs: meanReplyMs(metricsBefore, metricsAfter),
        errors:
          [...st.errors].map(([k, v]) => `${k}:${v}`).join(" ") ||
          (st.sent - st.replied > 0 ? `unanswered:${st.sent - st.replied}` : "none"),
        lost: Math.max(0, st.results - delivered),
      };
      deps.log(
        `  ${r.repliesPerSecond.toFixed(0)} replies/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, CPU ms/push ` +
          `Prosody ${r.cpuMsPerPush.prosody.toFixed(3)} app ${r.cpuMsPerPush.app.toFixed(3)} Postgres ${r.cpuMsPerPush.postgres.toFixed(3)}, ` +
          `app mean ${r.appMeanMs.toFixed(2)} ms, app replies over 5/10 ms ${(appShareOver(metricsBefore, metricsAfter, "0.005") * 100).toFixed(2)}/${(appShareOver(metricsBefore, metricsAfter, "0.01") * 100).toFixed(2)} %, RSS ${r.rssMb.toFixed(0)} MB (private ${r.rssAnonMb.toFixed(0)}), GC ${(r.gcShare * 100).toFixed(0)} %`,
      );
      results.push(r);
    }
    return { rates: results, idleCpuMsPerSecond };
  } finally {
    await load.stop();
    await stopAppServer(child);
    await prosody.stop();
  }
}

/** Mean of xmpp_push_publish_reply_seconds{result="delivered"} between two scrapes, in ms. */
function meanReplyMs(before: string, after: string): number {
  const d = (name: string) => sampleOf(after, name) - sampleOf(before, name);
  return (
    (d('xmpp_push_publish_reply_seconds_sum{result="delivered"}') / d('xmpp_push_publish_reply_seconds_count{result="delivered"}')) * 1000
  );
}

/** Share of the app server's delivered replies slower than `le` seconds between two scrapes (its histogram). */
function appShareOver(before: string, after: string, le: string): number {
  const d = (name: string) => sampleOf(after, name) - sampleOf(before, name);
  const all = d('xmpp_push_publish_reply_seconds_count{result="delivered"}');
  return all > 0 ? 1 - d(`xmpp_push_publish_reply_seconds_bucket{le="${le}",result="delivered"}`) / all : NaN;
}

export function prosodyTable(results: readonly ProsodyFigures[]): string {
  const head = [
    "through Prosody",
    "replies/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "CPU ms/push Prosody",
    "xmpp-push",
    "Postgres",
    "app mean ms",
    "RSS MB",
    "private MB",
    "GC %",
    "lag p99 ms",
    "errors",
    "lost",
  ];
  const rows = results.map((r) => [
    r.name,
    r.repliesPerSecond.toFixed(0),
    r.p50.toFixed(2),
    r.p95.toFixed(2),
    r.p99.toFixed(2),
    r.cpuMsPerPush.prosody.toFixed(3),
    r.cpuMsPerPush.app.toFixed(3),
    r.cpuMsPerPush.postgres.toFixed(3),
    r.appMeanMs.toFixed(2),
    r.rssMb.toFixed(0),
    r.rssAnonMb.toFixed(0),
    (r.gcShare * 100).toFixed(0),
    r.lagP99Ms.toFixed(1),
    r.errors,
    String(r.lost),
  ]);
  return markdownTable(head, rows);
}
