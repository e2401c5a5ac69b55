import { mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Server } from "../../src/main.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { startEjabberd, startProsody, type XmppServer } from "../support/servers/xmpp-servers.js";
import { connectUser, type TestUser } from "../support/xmpp-client.js";
import { waitFor } from "../support/wait-for.js";
import { hexToken } from "../support/xmpp-scenarios.js";
import { startFaultServer } from "./fault-app.js";
import { report } from "./fault-helpers.js";
import { enableApnsPush, messageEach } from "./fault-users.js";

// The XMPP server restarted while messages keep coming: the component is back within 5 s and the
// messages sent after the restart are pushed.

const USERS = Array.from({ length: 4 }, (_, i) => `r${i}`);
/** Registered after the load stops; its push, sent last, shows the server has handled everything before it. */
const BARRIER = "rbarrier";

for (const kind of ["prosody", "ejabberd"] as const) {
  describe(kind, () => {
    let xmpp: XmppServer;
    let apns: FakeApns;
    let db: TestDatabase;
    let server: Server;
    const tokens = new Map([...USERS, BARRIER].map((u) => [u, hexToken(`${kind}-restart-${u}`)]));

    beforeAll(async () => {
      db = await freshTestDatabase();
      xmpp = await (kind === "prosody" ? startProsody : startEjabberd)({
        runDir: mkdtempSync(join(inject("testRunDir"), `${kind}-restart-`)),
        extraUsers: [...USERS, BARRIER],
      });
      apns = await startFakeApns();
      server = await startFaultServer({ xmpp, apns, db, log: recordingLogger("warn").log, reconnectMaxDelayMs: 250 });
      for (const u of USERS) await enable(u);
    });

    const pushesTo = (u: string) => apns.delivered().filter((r) => r.token === tokens.get(u)).length;
    const enable = (u: string) => enableApnsPush(xmpp, u, tokens.get(u)!);
    const messageAll = (body: string) => messageEach(xmpp, USERS, body);

    afterAll(async () => {
      await server?.stop();
      await xmpp?.stop();
      await apns?.stop();
      await db?.dispose();
    });

    it("reconnects within 5 s of a restart under load, and pushes what comes after", async () => {
      let bob: TestUser | undefined = await connectUser(xmpp, "bob", "bob-pass");
      let sending = true;
      let sent = 0;
      // A steady trickle of messages, before, during and after the restart (bob reconnects as needed).
      const load = (async () => {
        while (sending) {
          try {
            bob ??= await connectUser(xmpp, "bob", "bob-pass");
            await bob.sendMessage(`${USERS[sent % USERS.length]}@localhost`, `m${sent}`);
            sent += 1;
          } catch {
            bob = undefined;
          }
          // Paces the trickle (at most 20 messages a second), not a wait for anything to happen.
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      // Under way: every user has been pushed for the trickle before the restart.
      await waitFor("a push for every user before the restart", () => USERS.every((u) => pushesTo(u) > 0), 15_000);
      // When the component went away and came back, and when the server's component port was back.
      let droppedAt = 0;
      let onlineAt = 0;
      server.component.onStateChange((s) => {
        if (s !== "online" && droppedAt === 0) droppedAt = Date.now();
        if (s === "online" && droppedAt !== 0) onlineAt ||= Date.now();
      });
      const portBack = watchPortComesBack(xmpp.componentPort);
      await xmpp.restart();
      await waitFor("the component to reconnect", () => onlineAt !== 0, 15_000);
      const portBackAt = await portBack;
      const reconnectMs = onlineAt - portBackAt;
      const before = new Map(USERS.map((u) => [u, pushesTo(u)]));
      // Keep the trickle going after the reconnect: five messages to every user.
      const sentAtReconnect = sent;
      await waitFor("five rounds of messages after the reconnect", () => sent >= sentAtReconnect + 5 * USERS.length, 15_000);
      sending = false;
      await load;
      await bob?.stop();
      // Users whose registration survived the restart are pushed for what came after it. On ejabberd a
      // message that arrives between the server's return and our reconnect is answered by ejabberd
      // itself with auth/forbidden, which deletes that user's registration (docs/xmpp-server-setup.md): count them.
      // The server handles messages in order and publishes to us in that order: once the barrier user's
      // push (sent after all of bob's) has arrived, every push of the trickle that will come has come.
      await enable(BARRIER);
      await messageEach(xmpp, [BARRIER], "barrier");
      await waitFor("the barrier user's push", () => pushesTo(BARRIER) > 0, 20_000);
      const lost = USERS.filter((u) => pushesTo(u) <= before.get(u)!);
      // A client re-enables push when it logs in again; from then on it is pushed as before.
      for (const u of lost) await enable(u);
      await messageAll("after re-enabling");
      await waitFor("a push for every user", () => USERS.every((u) => pushesTo(u) > before.get(u)!), 20_000);
      report(`${kind} restarted under load`, {
        messagesSent: sent,
        componentDownMs: onlineAt - droppedAt,
        reconnectMsAfterServerBack: reconnectMs,
        registrationsLostInReconnectGap: lost.length,
        pushesTotal: apns.delivered().length,
      });
      if (kind === "prosody") expect(lost).toEqual([]); // Prosody answers `wait` itself while we are away
      expect(reconnectMs).toBeLessThan(5000);
    });
  });
}

/** Resolves with the time the port accepted a connection again after having refused one (bounded). */
async function watchPortComesBack(port: number): Promise<number> {
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
  let wentDown = false;
  await waitFor(
    "the component port to refuse connections and then accept them again",
    async () => {
      const up = await accepts();
      if (!up) wentDown = true;
      return up && wentDown;
    },
    60_000,
    20,
  );
  return Date.now();
}
