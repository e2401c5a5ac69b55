import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { cleanEnv, startCli, type CliProcess } from "./cli.js";

// The server as a separate process (what kill -9, restarts and replica tests need), configured by a
// YAML file the test writes, running from the TypeScript sources.

/** The Docker image's Node flags (Dockerfile NODE_OPTIONS): memory tests measure what production runs. */
export const PRODUCTION_NODE_OPTIONS = "--max-old-space-size=96 --max-semi-space-size=4";

/**
 * The Node flags of every production start (the image's ENTRYPOINT, `npm start`) that NODE_OPTIONS may
 * not carry. --liftoff-only: WebAssembly stays on V8's baseline compiler. PGlite's hottest functions are
 * huge; optimizing one of them took ~600 MB of compiler memory (peak RSS 780 MB) and left ~70 MB behind
 * in malloc's arenas, while CPU per push at 200/s on the embedded database stayed the same without it
 * (npm run bench -- --embedded). On Postgres the only WebAssembly is undici's HTTP parser.
 * --single-threaded-gc: V8 collects on the main thread only. Its helper threads (parallel scavenges,
 * concurrent marking) compete for the cores with the XMPP server and Postgres, and the main thread stalls
 * while it waits for a descheduled helper: through Prosody on 2 cores (npm run bench, README
 * "Performance") p99 at 1,000/s went from 10.8-11.9 to 6.7-8.0 ms, the maximum from ~3,900 to ~4,250
 * replies/s and the GC share at the maximum from 14-15 to 11-12 %; the cost is RSS at the maximum
 * (+35-45 MB: marking on the main thread lets the heap grow further before it finishes).
 */
export const PRODUCTION_NODE_FLAGS = ["--liftoff-only", "--single-threaded-gc"] as const;

export interface AppProcess extends CliProcess {
  readonly httpPort: number;
  metrics(): Promise<string>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export function startAppProcess(opts: {
  dir: string;
  name: string;
  config: Record<string, unknown>;
  httpPort: number;
  env?: Record<string, string>;
}): AppProcess {
  const file = join(opts.dir, `${opts.name}.yaml`);
  writeFileSync(
    file,
    stringify({ ...opts.config, http: { ...(opts.config.http as object | undefined), host: "127.0.0.1", port: opts.httpPort } }),
  );
  const p = startCli(["serve"], { env: cleanEnv({ XMPP_PUSH_CONFIG: file, ...opts.env }) });
  return {
    ...p,
    httpPort: opts.httpPort,
    async metrics() {
      return (await fetch(`http://127.0.0.1:${opts.httpPort}/metrics`)).text();
    },
    async kill9() {
      p.child.kill("SIGKILL");
      await p.exited(10_000);
    },
    async stop() {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return;
      p.child.kill("SIGTERM");
      await p.exited(20_000);
    },
  };
}

/** The value of one sample in Prometheus text, e.g. metric(text, 'xmpp_push_publishes_total{result="queued"}'). */
export function metricValue(text: string, sample: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}
