import { spawn, type ChildProcess } from "node:child_process";
import { openSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { PRODUCTION_NODE_FLAGS, PRODUCTION_NODE_OPTIONS } from "../test/support/app-process.js";
import { waitFor } from "../test/support/wait-for.js";

// The app server under test: compiled, its own process, with the Docker image's Node flags, as
// production runs it; and what its /metrics say about its memory, garbage collection and event loop.

const ROOT = resolve(import.meta.dirname, "..");
export const APP_HTTP_PORT = Number(process.env.BENCH_APP_HTTP_PORT ?? 18_088);

export interface AppServerOptions {
  readonly dir: string;
  /** Postgres; without it the app server runs on the embedded database in dataDir. */
  readonly url?: string;
  readonly dataDir?: string;
  /** Where its component connects ("xmpp://127.0.0.1:<port>"). */
  readonly service: string;
  readonly componentDomain: string;
  readonly componentSecret: string;
  readonly domains: readonly string[];
  readonly app: object;
}

export function startAppServer(o: AppServerOptions): ChildProcess {
  const file = join(o.dir, "bench.yaml");
  writeFileSync(
    file,
    stringify({
      component: { service: o.service, domain: o.componentDomain, secret: o.componentSecret },
      domains: o.domains,
      database: o.url !== undefined ? { url: o.url, poolMax: 10 } : { dataDir: o.dataDir },
      http: { port: APP_HTTP_PORT },
      log: { level: "warn" },
      // BENCH_DELIVERY='{"auditFlushMs":100}' tries other delivery settings.
      delivery: { breakerFailureThreshold: 5, breakerCooldownMs: 60_000, ...(JSON.parse(process.env.BENCH_DELIVERY ?? "{}") as object) },
      apps: [o.app],
    }),
  );
  const flags = [
    // The Docker image's settings (Dockerfile NODE_OPTIONS and ENTRYPOINT): measure what production runs.
    ...PRODUCTION_NODE_FLAGS,
    ...PRODUCTION_NODE_OPTIONS.split(" "),
    ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
    ...(process.env.BENCH_ALLOC_PROF ? ["--import", pathToFileURL(join(ROOT, "bench/alloc-profile.mjs")).href] : []),
    ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(" ") : []),
  ];
  return spawn(process.execPath, [...flags, join(ROOT, "dist/src/cli/main.js"), "serve"], {
    env: {
      PATH: process.env.PATH ?? "",
      XMPP_PUSH_CONFIG: file,
      NODE_ENV: "production",
      ...(process.env.BENCH_ALLOC_PROF && { BENCH_ALLOC_PROF: process.env.BENCH_ALLOC_PROF }),
      ...(process.env.BENCH_ALLOC_PROF_PROMOTED && { BENCH_ALLOC_PROF_PROMOTED: process.env.BENCH_ALLOC_PROF_PROMOTED }),
    },
    // BENCH_APP_STDOUT=<file> keeps the app server's stdout (e.g. with BENCH_NODE_FLAGS=--trace-gc).
    stdio: ["ignore", process.env.BENCH_APP_STDOUT ? openSync(process.env.BENCH_APP_STDOUT, "a") : "ignore", "inherit"],
  });
}

export async function stopAppServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(t);
}

/** Resolves once the app server answers /readyz (its component is online), bounded by timeoutMs. */
export async function waitUntilReady(timeoutMs = 30_000): Promise<void> {
  await waitFor(
    "the app server to be ready",
    async () => (await fetch(`http://127.0.0.1:${APP_HTTP_PORT}/readyz`).catch(() => undefined))?.ok === true,
    timeoutMs,
  );
}

/** The app server's Prometheus text, or "" when it does not answer. */
export async function scrapeApp(): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${APP_HTTP_PORT}/metrics`)).text();
  } catch {
    return "";
  }
}

/** One sample's value from Prometheus text (the first line whose name and labels match). */
export function sampleOf(text: string, nameAndLabels: string): number {
  const escaped = nameAndLabels.replace(/[{}]/g, (c) => `\\${c}`);
  return Number(new RegExp(`^${escaped} (\\S+)`, "m").exec(text)?.[1] ?? NaN);
}

/** Seconds spent in garbage collection so far, all kinds together. */
export function gcSeconds(text: string): number {
  let sum = 0;
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)/gm)) sum += Number(m[1]);
  return sum;
}

/** The app server's own memory view, from its Prometheus endpoint (heap, external, GC, event-loop lag). */
export async function memoryBreakdown(): Promise<string> {
  const text = await scrapeApp();
  if (!text) return "";
  const mb = (name: string) => sampleOf(text, name) / 1048576;
  const gc = (kind: string) =>
    `${sampleOf(text, `nodejs_gc_duration_seconds_count{kind="${kind}"}`)}× ${(sampleOf(text, `nodejs_gc_duration_seconds_sum{kind="${kind}"}`) * 1000).toFixed(0)} ms`;
  return (
    `heap used ${mb("nodejs_heap_size_used_bytes").toFixed(0)} / total ${mb("nodejs_heap_size_total_bytes").toFixed(0)} MB, external ${mb("nodejs_external_memory_bytes").toFixed(0)} MB; ` +
    `GC minor ${gc("minor")}, major ${gc("major")}; event loop lag p99 ${(sampleOf(text, "nodejs_eventloop_lag_p99_seconds") * 1000).toFixed(1)} ms, max ${(sampleOf(text, "nodejs_eventloop_lag_max_seconds") * 1000).toFixed(1)} ms`
  );
}
