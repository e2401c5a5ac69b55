import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ROOT } from "../support/cli.js";
import { freePort } from "../support/servers/xmpp-servers.js";
import { report } from "./fault-helpers.js";

// A long database outage fills the write buffer with audit rows up to its cap (100,000; older ones are
// then dropped and counted). That backlog has to fit under the heap cap production runs with: the Helm
// chart's, derived from the container's default memory limit (values.yaml), not a fixed number. The real
// write buffer and Postgres store run in a child process with those Node flags, Postgres unreachable.

const values = parseYaml(readFileSync(join(ROOT, "helm/xmpp-push/values.yaml"), "utf8")) as {
  resources: { limits: { memory: string } };
  nodeHeap: { percentOfMemoryLimit: number };
};
const limitMib = Number(/^(\d+)Mi$/.exec(values.resources.limits.memory)![1]);
const CHART_NODE_OPTIONS = `--max-old-space-size=${Math.floor((limitMib * values.nodeHeap.percentOfMemoryLimit) / 100)} --max-semi-space-size=4`;

it("holds the full audit backlog of a database outage under the chart's default heap cap, dropping only past the cap", async () => {
  const rows = 120_000;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href, join(ROOT, "test/faults/audit-backlog-child.ts")],
    {
      env: {
        ...process.env,
        NODE_OPTIONS: CHART_NODE_OPTIONS,
        BACKLOG_ROWS: String(rows),
        BACKLOG_DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/down`,
      },
      timeout: 120_000,
    },
  );
  const figures = JSON.parse(stdout.trim().split("\n").pop()!) as {
    rows: number;
    dropped: number;
    failedFlushes: number;
    heapUsedMb: number;
    heapLimitMb: number;
    rssMb: number;
  };
  report("audit backlog at the cap", { nodeOptions: CHART_NODE_OPTIONS, memoryLimit: values.resources.limits.memory, ...figures });
  expect(figures.failedFlushes).toBeGreaterThanOrEqual(3); // the database really was unreachable
  expect(figures.dropped).toBe(rows - 100_000);
  expect(figures.heapUsedMb).toBeLessThan(figures.heapLimitMb * 0.8);
  expect(figures.rssMb).toBeLessThan(limitMib);
}, 180_000);
