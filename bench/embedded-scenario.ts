import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/store/database.js";
import { migrateLatest } from "../src/store/migrate.js";
import { nodeOf, seedRegistrations } from "../test/support/seed.js";
import { startAppServer, stopAppServer, memoryBreakdown } from "./app-server.js";
import { drive, percentile } from "./drive.js";
import { peakRssMb, sampleProcess, watchProcess } from "./proc-stats.js";
import { startXmppLoad } from "./xmpp-load.js";

// `npm run bench -- --embedded`: the app server on the embedded database (PGlite, no DATABASE_URL), as
// `npm start` with no configuration runs it: its resident size idle after start-up and at a fixed rate.

export interface EmbeddedFigures {
  readonly idleRssMb: number;
  readonly idleRssAnonMb: number;
  /** The highest RSS from start-up to the end of the load (VmHWM): start-up compiles PGlite's code. */
  readonly peakRssMb: number;
  readonly loadRssMb: number;
  readonly loadRssAnonMb: number;
  readonly pushesPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuMsPerPush: number;
  readonly lost: number;
}

export interface EmbeddedOptions {
  readonly rate: number;
  readonly durationMs: number;
  readonly idleSettleMs: number;
  readonly componentSecret: string;
  readonly app: object;
  resetFakes(): Promise<void>;
  deliveredPushes(): Promise<number>;
  log(line: string): void;
}

const REGISTRATIONS = 1_000;

export async function runEmbeddedScenario(o: EmbeddedOptions): Promise<EmbeddedFigures> {
  const dir = mkdtempSync(join(tmpdir(), "xmpp-push-bench-emb-"));
  const dataDir = join(dir, "data");
  try {
    // Created, migrated and seeded here, then closed: the app server's start is a later start.
    const db = await openDatabase({ dataDir, poolMax: 1 });
    await migrateLatest(db);
    await seedRegistrations(db.knex, REGISTRATIONS, "bench");
    await db.close();
    const load = await startXmppLoad({ componentDomain: "push.localhost", secret: o.componentSecret });
    const child = startAppServer({
      dir,
      dataDir,
      service: load.service,
      componentDomain: "push.localhost",
      componentSecret: o.componentSecret,
      domains: ["localhost"],
      app: o.app,
    });
    try {
      await load.waitForComponent();
      await new Promise((r) => setTimeout(r, o.idleSettleMs));
      const idle = sampleProcess(child.pid!);
      o.log(`  idle after start: RSS ${idle?.rssMb.toFixed(0)} MB (private ${idle?.rssAnonMb.toFixed(0)} MB); ${await memoryBreakdown()}`);
      const pick = () => nodeOf(Math.floor(Math.random() * REGISTRATIONS));
      await drive(load, { mode: "fixed", rate: o.rate }, 2000, pick);
      load.resetStats();
      await o.resetFakes();
      const watch = watchProcess(child.pid!);
      const elapsed = await drive(load, { mode: "fixed", rate: o.rate }, o.durationMs, pick);
      const proc = watch.stop();
      o.log(`  at the end of the load: ${await memoryBreakdown()}`);
      const st = load.stats();
      const sorted = [...st.latencies].sort((a, b) => a - b);
      return {
        idleRssMb: idle?.rssMb ?? NaN,
        idleRssAnonMb: idle?.rssAnonMb ?? NaN,
        peakRssMb: peakRssMb(child.pid!),
        loadRssMb: proc.maxRssMb,
        loadRssAnonMb: proc.maxRssAnonMb,
        pushesPerSecond: st.results / elapsed,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        cpuMsPerPush: st.results > 0 ? ((proc.cpuPercent / 100) * elapsed * 1000) / st.results : NaN,
        lost: Math.max(0, st.results - (await o.deliveredPushes())),
      };
    } finally {
      await stopAppServer(child);
      await load.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
