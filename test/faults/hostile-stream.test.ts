import { afterAll, beforeAll, expect, it } from "vitest";
import type { Database } from "../../src/store/database.js";
import { PRODUCTION_NODE_OPTIONS, startAppProcess, type AppProcess } from "../support/app-process.js";
import { startFakeXmppServer, type FakeXmppServer } from "../support/fake-xmpp-server.js";
import type { PrivatePostgres } from "../support/private-postgres.js";
import { BENCH_SECRET, nodeOf, seedRegistrations } from "../support/seed.js";
import { freePort } from "../support/servers/xmpp-servers.js";
import { publishIq, report, rssMb, startPrivateDatabase } from "./fault-helpers.js";
import { waitFor } from "../support/wait-for.js";

// Input on the component stream that crashed or wedged xmpp.js 0.13 (found by fuzz.test.ts): each is
// answered by closing the connection (stream error), after which the component reconnects and works.
// The process never dies and never goes deaf.

let dir: string;
let pgc: PrivatePostgres;
let db: Database;
let xmpp: FakeXmppServer;
let app: AppProcess;

beforeAll(async () => {
  ({ dir, pgc, db } = await startPrivateDatabase("stream"));
  await seedRegistrations(db.knex, 10, "default");
  xmpp = await startFakeXmppServer({ secret: "stream-secret" });
  app = startAppProcess({
    dir,
    name: "stream",
    httpPort: await freePort(),
    env: { NODE_OPTIONS: PRODUCTION_NODE_OPTIONS },
    config: {
      component: { service: xmpp.service, domain: xmpp.componentDomain, secret: xmpp.secret, reconnectMaxDelayMs: 200 },
      domains: ["localhost"],
      database: { url: pgc.url },
      log: { level: "warn" },
    },
  });
  await xmpp.waitForComponent(60_000);
});

afterAll(async () => {
  await app?.stop();
  await xmpp?.stop();
  await db?.close();
  pgc?.destroy();
});

const works = async () => (await xmpp.iq(publishIq(nodeOf(1), BENCH_SECRET))).attrs.type === "result";

const HOSTILE: Array<[string, string]> = [
  ["a control character reference", `<iq type='get' id='p1' from='localhost'><ping xmlns='urn:xmpp:ping'>&#x1;</ping></iq>`],
  ["an unknown entity", `<iq type='get' id='p2' from='localhost'><ping xmlns='urn:xmpp:ping'>&foo;</ping></iq>`],
  ["an unpaired surrogate reference", `<iq type='get' id='p3' from='localhost' to='&#xD800;'><ping xmlns='urn:xmpp:ping'/></iq>`],
  ["two tag mismatches in one read", `<iq type='get' id='p4' from='localhost'><ping xmlns='urn:xmpp:ping'></pong></iq>`],
  [
    "a DOCTYPE with entities (billion laughs)",
    `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><iq type='get' id='p5' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`,
  ],
  ["an unterminated comment", `<!-- never ends <iq type='get' id='p6' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`],
  ["a processing instruction", `<?evil x?><iq type='get' id='p7' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`],
  ["the server closing its stream", `</stream:stream>`],
];

it("survives every input that broke the XML library, reconnecting after each", async () => {
  const pid = app.child.pid;
  for (const [name, text] of HOSTILE) {
    const before = xmpp.handshakes;
    xmpp.sendRaw(text);
    await waitFor(`a reconnect after ${name}`, () => xmpp.handshakes > before && xmpp.isConnected(), 10_000, 20);
    expect(await works(), name).toBe(true);
  }
  // A character split across two reads arrives intact (the reply's from is the request's to).
  const to = "push😀.localhost";
  const text = `<iq type='get' id='split' from='localhost' to='${to}'><ping xmlns='urn:xmpp:ping'/></iq>`;
  const reply = await xmpp.iqInTwoReads(text, "split", Buffer.from(text).indexOf(Buffer.from("😀")) + 2);
  expect(reply.attrs.from).toBe(to);
  expect(app.child.exitCode).toBeNull();
  expect(app.child.pid).toBe(pid);
  report("hostile stream input", { cases: HOSTILE.length, reconnects: xmpp.handshakes - 1, processRestarts: 0 });
});

it("does not keep whitespace sent between stanzas (keepalives)", async () => {
  // The app runs with the production heap cap (Dockerfile: 96 MB old space): if the whitespace were
  // kept, 120 MB of it could not fit, and the process would die of an out-of-memory error.
  const pid = app.child.pid!;
  const chunk = " \n".repeat(256 * 1024); // 512 KiB
  let maxRss = 0;
  for (let i = 0; i < 240; i++) {
    xmpp.sendRaw(chunk);
    if (i % 10 === 9) {
      expect(await works()).toBe(true);
      maxRss = Math.max(maxRss, rssMb(pid));
    }
  }
  expect(app.child.exitCode).toBeNull();
  expect(app.child.pid).toBe(pid);
  report("keepalive whitespace", { sentMb: 120, maxRssMb: Math.round(maxRss), processRestarts: 0 });
});
