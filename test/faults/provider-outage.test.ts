import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Server } from "../../src/main.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { metricValue } from "../support/app-process.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { startEjabberd, startProsody, type XmppServer } from "../support/servers/xmpp-servers.js";
import { waitFor } from "../support/wait-for.js";
import { hexToken } from "../support/xmpp-scenarios.js";
import { startFaultServer } from "./fault-app.js";
import { report } from "./fault-helpers.js";
import { enableApnsPush, messageEach } from "./fault-users.js";

// A provider outage (APNs answering 503, then refusing streams, for 30 s) and a provider configuration
// error (403 InvalidProviderToken), through real Prosody and ejabberd: the XMPP servers must keep every
// registration (ejabberd deletes one on the first non-wait error), the pushes must arrive after the
// outage, and the circuit breaker must open and close.

const USERS = Array.from({ length: 8 }, (_, i) => `u${i}`);
const OUTAGE_MS = 30_000;

for (const kind of ["prosody", "ejabberd"] as const) {
  describe(`${kind}`, () => {
    let xmpp: XmppServer;
    let apns: FakeApns;
    let db: TestDatabase;
    let server: Server;
    const logs = recordingLogger("info");
    const tokens = new Map(USERS.map((u) => [u, hexToken(`${kind}-${u}`)]));

    beforeAll(async () => {
      db = await freshTestDatabase();
      const runDir = mkdtempSync(join(inject("testRunDir"), `${kind}-outage-`));
      xmpp = await (kind === "prosody" ? startProsody : startEjabberd)({ runDir, maxErrors: 2, extraUsers: USERS });
      apns = await startFakeApns();
      server = await startFaultServer({
        xmpp,
        apns,
        db,
        log: logs.log,
        reconnectMaxDelayMs: 500,
        delivery: { retryBaseMs: 500, retryMaxMs: 2000, workerPollMs: 200, breakerFailureThreshold: 3, breakerCooldownMs: 2000 },
      });
      // Every user registers one device and goes offline; one push proves the path (and APNs).
      for (const u of USERS) await enableApnsPush(xmpp, u, tokens.get(u)!);
      await messageAll("hello");
      await waitFor("the first pushes", () => USERS.every((u) => pushesTo(u) >= 1));
    });

    afterAll(async () => {
      await server?.stop();
      await xmpp?.stop();
      await apns?.stop();
      await db?.dispose();
    });

    const pushesTo = (u: string) => apns.delivered().filter((r) => r.token === tokens.get(u)).length;
    const messageAll = (body: string) => messageEach(xmpp, USERS, body);
    /** Users whose registration the XMPP server no longer has: a new message to them is not pushed. */
    async function droppedRegistrations(): Promise<string[]> {
      const before = new Map(USERS.map((u) => [u, pushesTo(u)]));
      await messageAll("are you still registered?");
      await waitFor("a push for every user", () => USERS.every((u) => pushesTo(u) > before.get(u)!), 15_000).catch(() => undefined);
      return USERS.filter((u) => pushesTo(u) <= before.get(u)!);
    }

    it("keeps every registration through a 30 s APNs outage and delivers afterwards", async () => {
      const delivered = new Map(USERS.map((u) => [u, pushesTo(u)]));
      const started = Date.now();
      apns.setDefault({ status: 503, reason: "ServiceUnavailable" });
      let sent = 0;
      while (Date.now() - started < OUTAGE_MS) {
        // Half the outage answers 503, the other half refuses streams after a GOAWAY.
        if (Date.now() - started > OUTAGE_MS / 2) apns.setDefault({ status: 0, goaway: true });
        const before = await answeredAndAsked();
        await messageAll(`during the outage ${sent++}`);
        // A round is over once we have answered its publishes and APNs has been asked again (the breaker
        // lets a probe through after its cooldown) and failed: every round meets the outage at the
        // provider, in both halves, instead of only queueing behind an open breaker.
        await waitFor(
          "this round's publishes answered and APNs asked again",
          async () => {
            const now = await answeredAndAsked();
            return now.answered >= before.answered + USERS.length && now.apnsCalls > before.apnsCalls;
          },
          30_000,
        );
      }
      const openedDuring = metricValue(await server.metrics.registry.metrics(), 'xmpp_push_circuit_open{app="chat",provider="apns"}');
      apns.setDefault({ status: 200 });
      await waitFor(
        "the breaker to close and the queue to drain",
        async () => {
          const text = await server.metrics.registry.metrics();
          return (
            metricValue(text, 'xmpp_push_circuit_open{app="chat",provider="apns"}') === 0 &&
            metricValue(text, "xmpp_push_queue_depth") === 0
          );
        },
        60_000,
      );
      const afterOutage = USERS.filter((u) => pushesTo(u) > delivered.get(u)!);
      const dropped = await droppedRegistrations();
      const disabledHere = Number((await db.knex("registration_addresses").whereNotNull("disabled_at").count({ n: "*" }).first())?.n);
      const text = await server.metrics.registry.metrics();
      report(`${kind}: APNs outage 30 s`, {
        messagesPerUser: sent,
        usersPushedAfterOutage: afterOutage.length,
        registrationsWronglyDisabledOnServer: dropped.length,
        addressesDisabledHere: disabledHere,
        breakerOpenedDuringOutage: openedDuring,
        breakerTrips: metricValue(text, 'xmpp_push_circuit_trips_total{app="chat",provider="apns",cause="outage"}'),
        nonWaitErrorReplies: nonWait(text),
      });
      expect(openedDuring).toBe(1);
      expect(afterOutage).toEqual(USERS);
      expect(dropped).toEqual([]);
      expect(disabledHere).toBe(0);
      expect(nonWait(text)).toBe(0);
    });

    it("keeps every registration on a provider configuration error, with one clear operator log line", async () => {
      const errorLinesBefore = configErrorLines();
      const { answered } = await answeredAndAsked();
      apns.setDefault({ status: 403, reason: "InvalidProviderToken" });
      await messageAll("bad credentials");
      await waitFor(
        "the breaker to open",
        async () =>
          metricValue(
            await server.metrics.registry.metrics(),
            'xmpp_push_circuit_trips_total{app="chat",provider="apns",cause="config_error"}',
          ) >= 1,
      );
      await messageAll("still bad");
      // APNs is healed only once both rounds' publishes have been answered, all of them during the error.
      await waitFor("both rounds' publishes answered", async () => (await answeredAndAsked()).answered >= answered + 2 * USERS.length);
      apns.setDefault({ status: 200 });
      await waitFor(
        "the breaker to close",
        async () => metricValue(await server.metrics.registry.metrics(), 'xmpp_push_circuit_open{app="chat",provider="apns"}') === 0,
        30_000,
      );
      const dropped = await droppedRegistrations();
      const lines = configErrorLines() - errorLinesBefore;
      const text = await server.metrics.registry.metrics();
      report(`${kind}: APNs config error`, {
        registrationsWronglyDisabledOnServer: dropped.length,
        operatorErrorLines: lines,
        configTrips: metricValue(text, 'xmpp_push_circuit_trips_total{app="chat",provider="apns",cause="config_error"}'),
      });
      expect(dropped).toEqual([]);
      expect(lines).toBe(1);
      expect(Number((await db.knex("registration_addresses").whereNotNull("disabled_at").count({ n: "*" }).first())?.n)).toBe(0);
    });

    /** Publishes we have answered (whatever the answer), and calls that went out to APNs (not held by the breaker). */
    async function answeredAndAsked(): Promise<{ answered: number; apnsCalls: number }> {
      const text = await server.metrics.registry.metrics();
      return {
        answered: text
          .split("\n")
          .filter((l) => l.startsWith("xmpp_push_publishes_total{"))
          .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0),
        apnsCalls: metricValue(text, 'xmpp_push_provider_latency_seconds_count{app="chat",provider="apns"}'),
      };
    }
    const configErrorLines = () =>
      logs.lines().filter((l) => l.level === "error" && String(l.msg).includes("rejects the credentials or setup of app chat")).length;
  });
}

/** Publish replies that were neither result nor wait (item-not-found, not-authorized, bad-request…). */
function nonWait(metrics: string): number {
  return ["unknown-node", "token-dead", "not-authorized", "forbidden", "bad-request"].reduce(
    (n, r) => n + metricValue(metrics, `xmpp_push_publishes_total{result="${r}"}`),
    0,
  );
}
