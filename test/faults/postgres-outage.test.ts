import { readFileSync } from "node:fs";
import type { Element } from "@xmpp/xml";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Database } from "../../src/store/database.js";
import { metricValue, PRODUCTION_NODE_OPTIONS, startAppProcess, type AppProcess } from "../support/app-process.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { startFakeXmppServer, type FakeXmppServer } from "../support/fake-xmpp-server.js";
import type { PrivatePostgres } from "../support/private-postgres.js";
import { apnsTokenOf, BENCH_SECRET, nodeOf, seedRegistrations } from "../support/seed.js";
import { freePort } from "../support/servers/xmpp-servers.js";
import { faultAppConfig } from "./fault-app.js";
import { publishIq, report, rssMb, startPrivateDatabase } from "./fault-helpers.js";
import { waitFor } from "../support/wait-for.js";

// Postgres stopped for 20 s under load, on a private cluster of the test's own. While it is down every
// reply is `result` (delivered: the provider took it) or `wait`, never an error that would cost a user
// a registration; the server stays up, recovers by itself, and what was queued before is delivered.
// It runs with the image's Node flags (the smallest heap cap shipped, 96 MiB): what the outage holds in
// memory (audit rows, queued jobs) must fit under it.

const OUTAGE_MS = 20_000;
let dir: string;
let pgc: PrivatePostgres;
let db: Database;
let apns: FakeApns;
let xmpp: FakeXmppServer;
let app: AppProcess;

beforeAll(async () => {
  ({ dir, pgc, db } = await startPrivateDatabase("pg"));
  await seedRegistrations(db.knex, 3000, "chat");
  apns = await startFakeApns();
  xmpp = await startFakeXmppServer({ secret: "pg-outage-secret" });
  app = startAppProcess({
    dir,
    name: "pg-outage",
    env: { NODE_OPTIONS: PRODUCTION_NODE_OPTIONS },
    httpPort: await freePort(),
    config: faultAppConfig({
      xmpp,
      apns,
      reconnectMaxDelayMs: 300,
      database: { url: pgc.url, poolMax: 5 },
      logLevel: "warn",
      delivery: {
        syncDeadlineMs: 1500,
        providerTimeoutMs: 1000,
        workerPollMs: 200,
        retryBaseMs: 300,
        retryMaxMs: 1000,
        breakerFailureThreshold: 1000,
      },
    }),
  });
  await xmpp.waitForComponent(60_000);
});

afterAll(async () => {
  await app?.stop();
  await xmpp?.stop();
  await apns?.stop();
  await db?.close().catch(() => undefined);
  pgc?.destroy();
});

const kind = (r: Element | undefined) =>
  r === undefined ? "none" : r.attrs.type === "result" ? "result" : `${r.getChild("error")?.attrs.type}`;
const ready = async () => (await fetch(`http://127.0.0.1:${app.httpPort}/readyz`)).status;

it("answers only result or wait while Postgres is down, recovers by itself, and delivers what was queued", async () => {
  // Devices 0..999 pushed once: their registrations are in the server's cache.
  for (let n = 0; n < 1000; n += 50)
    await Promise.all(Array.from({ length: 50 }, (_, k) => xmpp.iq(publishIq(nodeOf(n + k), BENCH_SECRET))));
  // Devices 2000..2049: APNs is failing for them, so their pushes wait in the queue.
  const queuedTokens = new Set(Array.from({ length: 50 }, (_, k) => apnsTokenOf(2000 + k)));
  apns.script((r) => (queuedTokens.has(r.token) ? { status: 503, reason: "ServiceUnavailable" } : undefined));
  const queuedReplies = await Promise.all(Array.from({ length: 50 }, (_, k) => xmpp.iq(publishIq(nodeOf(2000 + k), BENCH_SECRET))));
  expect(queuedReplies.map(kind)).toEqual(Array(50).fill("result"));
  await waitFor(
    "the queued jobs to be written",
    async () => Number((await db.knex("delivery_jobs").count({ n: "*" }).first())?.n) === 50,
    30_000,
  );
  const pid = app.child.pid;

  pgc.stop("fast");
  const outageStarted = Date.now();
  const during: string[] = [];
  let n = 0;
  while (Date.now() - outageStarted < OUTAGE_MS) {
    // Cached devices (a real push can go out) and uncached ones (nothing can be looked up).
    const node = n % 2 === 0 ? nodeOf(n % 1000) : nodeOf(1000 + (n % 1000));
    n += 1;
    during.push(kind(await xmpp.iq(publishIq(node, BENCH_SECRET), 10_000).catch(() => undefined)));
    // Paces the publishes through the outage (ten, then a pause), not a wait for anything to happen.
    if (n % 10 === 0) await new Promise((r) => setTimeout(r, 100));
  }
  const readyDuring = await ready();
  const heapUsedDuringMb = metricValue(await app.metrics(), "nodejs_heap_size_used_bytes") / 1048576;
  const rssDuringMb = rssMb(pid!);
  pgc.start();
  const restartedAt = Date.now();

  await waitFor("readiness to return", async () => (await ready()) === 200, 60_000);
  const recoveredInMs = Date.now() - restartedAt;
  apns.script(() => undefined);
  await waitFor(
    "the jobs queued before the outage to be delivered",
    () => [...queuedTokens].every((t) => apns.delivered().some((r) => r.token === t)),
    60_000,
  );
  // New work is accepted normally, uncached devices included.
  expect(kind(await xmpp.iq(publishIq(nodeOf(2999), BENCH_SECRET)))).toBe("result");
  await waitFor(
    "the outage's audit rows to be written",
    async () =>
      Number((await db.knex("deliveries").count({ n: "*" }).first())?.n) > 1000 + 50 + during.filter((k) => k === "result").length,
    30_000,
  );

  const count = (k: string) => during.filter((x) => x === k).length;
  const counts = {
    result: count("result"),
    wait: count("wait"),
    cancel: count("cancel"),
    modify: count("modify"),
    auth: count("auth"),
    none: count("none"),
  };
  report("postgres down 20 s", {
    publishesDuringOutage: during.length,
    ...counts,
    readyzDuring: readyDuring,
    recoveredInMs,
    heapUsedDuringMb: Math.round(heapUsedDuringMb),
    rssDuringMb: Math.round(rssDuringMb),
    queuedDeliveredAfter: queuedTokens.size,
  });
  expect(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")).toContain(`NODE_OPTIONS=${PRODUCTION_NODE_OPTIONS}`);
  expect(heapUsedDuringMb).toBeLessThan(96);
  expect(app.child.pid).toBe(pid);
  expect(app.child.exitCode).toBeNull();
  expect(counts.cancel + counts.modify + counts.auth + counts.none).toBe(0);
  expect(counts.wait).toBeGreaterThan(0); // uncached devices cannot be looked up
  expect(counts.result).toBeGreaterThan(0); // cached devices still get their push
  expect(readyDuring).toBe(503);
  expect(metricValue(await app.metrics(), "xmpp_push_audit_rows_dropped_total")).toBe(0);
});
