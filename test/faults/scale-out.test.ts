import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/store/database.js";
import { metricValue, startAppProcess, type AppProcess } from "../support/app-process.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import type { PrivatePostgres } from "../support/private-postgres.js";
import { freePort, startEjabberd, startProsody, type XmppServer } from "../support/servers/xmpp-servers.js";
import { waitFor } from "../support/wait-for.js";
import { hexToken } from "../support/xmpp-scenarios.js";
import { faultAppConfig } from "./fault-app.js";
import { report, startPrivateDatabase } from "./fault-helpers.js";
import { enableApnsPush, messageEach } from "./fault-users.js";

// Two replicas on one Postgres. ejabberd: both connect as the same component and share the job queue.
// Prosody (one connection per component): one serves, the other stands by on an advisory lock and
// takes over within 5 s when the first dies.

const USERS = Array.from({ length: 6 }, (_, i) => `s${i}`);
let dir: string;
let pgc: PrivatePostgres;
let db: Database;
let apns: FakeApns;

beforeAll(async () => {
  ({ dir, pgc, db } = await startPrivateDatabase("scale"));
  apns = await startFakeApns();
});

afterAll(async () => {
  await apns?.stop();
  await db?.close();
  pgc?.destroy();
});

async function replica(xmpp: XmppServer, name: string, mode: "shared" | "exclusive"): Promise<AppProcess> {
  return startAppProcess({
    dir,
    name,
    httpPort: await freePort(),
    config: faultAppConfig({
      xmpp,
      apns,
      reconnectMaxDelayMs: 500,
      mode,
      database: { url: pgc.url },
      logLevel: "info",
      delivery: { workerPollMs: 200, retryBaseMs: 300, retryMaxMs: 1000, breakerFailureThreshold: 1000 },
    }),
  });
}

const ready = async (p: AppProcess) => (await fetch(`http://127.0.0.1:${p.httpPort}/readyz`).catch(() => undefined))?.status;
const publishesServed = async (p: AppProcess) => {
  const text = await p.metrics();
  return ["delivered", "queued"].reduce((n, r) => n + metricValue(text, `xmpp_push_publishes_total{result="${r}"}`), 0);
};

async function registerUsers(xmpp: XmppServer, tag: string): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const u of USERS) {
    const token = hexToken(`${tag}-${u}`);
    tokens.set(u, token);
    await enableApnsPush(xmpp, u, token, `${tag}-phone`);
  }
  return tokens;
}

const messageAll = (xmpp: XmppServer, body: string) => messageEach(xmpp, USERS, body);

describe("ejabberd: two replicas connected as the same component", () => {
  let xmpp: XmppServer;
  const replicas: AppProcess[] = [];

  beforeAll(async () => {
    xmpp = await startEjabberd({ runDir: join(dir, "ejabberd"), extraUsers: USERS });
    replicas.push(await replica(xmpp, "ej-a", "shared"), await replica(xmpp, "ej-b", "shared"));
    await waitFor(
      "both replicas to be ready",
      async () => (await ready(replicas[0]!)) === 200 && (await ready(replicas[1]!)) === 200,
      60_000,
    );
  });
  afterAll(async () => {
    for (const r of replicas) await r.stop();
    await xmpp?.stop();
  });

  it("spreads publishes over both, and either delivers what the other queued", async () => {
    const tokens = await registerUsers(xmpp, "ej");
    for (let round = 0; round < 5; round++) await messageAll(xmpp, `round ${round}`);
    await waitFor(
      "every user pushed five times",
      () => USERS.every((u) => apns.delivered().filter((r) => r.token === tokens.get(u)).length >= 5),
      30_000,
    );
    const served = await Promise.all(replicas.map(publishesServed));

    // Queue sharing: APNs fails, both replicas queue; one is killed; the survivor delivers everything.
    apns.setDefault({ status: 503, reason: "ServiceUnavailable" });
    await messageAll(xmpp, "while APNs is down");
    await waitFor(
      "the pushes to be queued",
      async () => Number((await db.knex("delivery_jobs").count({ n: "*" }).first())?.n) === USERS.length,
      30_000,
    );
    await replicas[0]!.kill9();
    apns.setDefault({ status: 200 });
    await waitFor(
      "the survivor to drain the queue",
      async () => Number((await db.knex("delivery_jobs").count({ n: "*" }).first())?.n) === 0,
      60_000,
    );
    report("ejabberd, two replicas", {
      publishesServedA: served[0]!,
      publishesServedB: served[1]!,
      queuedThenDeliveredBySurvivor: USERS.length,
    });
    // ejabberd balances component connections: both replicas served publishes.
    expect(served[0]).toBeGreaterThan(0);
    expect(served[1]).toBeGreaterThan(0);
  });
});

describe("Prosody: one replica serves, the other stands by", () => {
  let xmpp: XmppServer;
  let a: AppProcess;
  let b: AppProcess;

  beforeAll(async () => {
    xmpp = await startProsody({ runDir: join(dir, "prosody"), extraUsers: USERS });
    a = await replica(xmpp, "pr-a", "exclusive");
    await waitFor("the first replica to serve", async () => (await ready(a)) === 200, 60_000);
    b = await replica(xmpp, "pr-b", "exclusive");
    await b.waitFor(/standing by to take over/, 60_000);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await xmpp?.stop();
  });

  it("takes over within 5 s when the serving replica dies", async () => {
    const tokens = await registerUsers(xmpp, "pr");
    // A standby is ready (it serves HTTP and stands by): readiness lets a rolling update proceed.
    expect(await ready(b)).toBe(200);
    expect(metricValue(await b.metrics(), "xmpp_push_component_standby")).toBe(1);
    await a.kill9();
    const killedAt = Date.now();
    await waitFor("the standby to take over", async () => metricValue(await b.metrics(), "xmpp_push_component_connected") === 1, 15_000);
    const takeoverMs = Date.now() - killedAt;
    await messageAll(xmpp, "after the takeover");
    await waitFor(
      "pushes through the new replica",
      () => USERS.every((u) => apns.delivered().some((r) => r.token === tokens.get(u))),
      30_000,
    );
    report("Prosody, active and standby", { takeoverMs, pushedAfterTakeover: USERS.length });
    expect(takeoverMs).toBeLessThan(5000);
  });
});
