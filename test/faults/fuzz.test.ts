import { createHash } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Database } from "../../src/store/database.js";
import { PRODUCTION_NODE_OPTIONS, startAppProcess, type AppProcess } from "../support/app-process.js";
import { startFakeXmppServer, type FakeXmppServer } from "../support/fake-xmpp-server.js";
import { nextBatch } from "../support/fuzz/fuzz-generator.js";
import { ILL_FORMED, RESTRICTED } from "../support/fuzz/fuzz-ill-formed.js";
import { ReplyOracle, type Case } from "../support/fuzz/fuzz-oracle.js";
import { Rng } from "../support/fuzz/fuzz-rng.js";
import { SEEDED, TIGASE_PROVIDER } from "../support/fuzz/fuzz-world.js";
import type { PrivatePostgres } from "../support/private-postgres.js";
import { BENCH_SECRET, nodeOf, seedRegistrations } from "../support/seed.js";
import { freePort } from "../support/servers/xmpp-servers.js";
import { waitFor } from "../support/wait-for.js";
import { publishIq, report, rssMb, startPrivateDatabase } from "./fault-helpers.js";

// Hostile input on a live component connection: ten thousand stanzas generated from a grammar of
// mutations of real publishes (test/fixtures/captured, publishIq) and of every registration dialect's
// commands (test/support/fuzz/), written raw to the component's socket by the fake XMPP server, against
// the app server process with a real Postgres seeded with registrations (log provider). Deterministic:
// the seed is printed, XMPP_PUSH_FUZZ_SEED replays a run (XMPP_PUSH_FUZZ_CASES changes the count).
//
// Checked for every case (fuzz-oracle.ts): the process stays up on one connection; every IQ get/set
// gets exactly one reply with its id (result/error never answered), every error has a valid type and a
// stanza-error condition and echoes nothing of the request; a publish gets `result` only when it names
// a seeded node with the right secret and comes from the served domain; a registration succeeds only
// for a served domain; memory stays flat. Then, one connection each, XML that is not well-formed: the
// component closes the stream, reconnects by itself, and a valid publish works again.
//
// Comments, processing instructions and DTDs are restricted XML in a stream (RFC 6120 §11.1): the
// component closes the stream on them (restricted-xml) and reconnects, so they are checked in a phase
// of their own, one connection each, like the ill-formed XML; so are the inputs that used to crash or
// deafen xmpp.js (see test/faults/hostile-stream.test.ts and src/xmpp/stream-guard.ts).

const SEED = Number(process.env.XMPP_PUSH_FUZZ_SEED ?? 0x357_2026) >>> 0;
const CASES = Number(process.env.XMPP_PUSH_FUZZ_CASES ?? 10_000);
const WARMUP = 1500;
const BATCH = 100;
const RSS_GROWTH_LIMIT_MB = 40;
const REPLY_WAIT_MS = 20_000;
const PING = "<iq type='get' from='localhost' to='push.localhost'><ping xmlns='urn:xmpp:ping'/></iq>";

let dir: string;
let pgc: PrivatePostgres;
let db: Database;
let xmpp: FakeXmppServer;
let app: AppProcess;

beforeAll(async () => {
  ({ dir, pgc, db } = await startPrivateDatabase("fuzz"));
  await seedRegistrations(db.knex, SEEDED, "chat");
  xmpp = await startFakeXmppServer({ secret: "fuzz-component-secret" });
  app = startAppProcess({
    dir,
    name: "fuzz",
    httpPort: await freePort(),
    // With production's heap cap a leak ends in an out-of-memory exit, and RSS stops wandering with V8's heap sizing.
    env: { NODE_OPTIONS: PRODUCTION_NODE_OPTIONS },
    config: {
      // The generator's huge values, escaped, reach ~400 KB per stanza: above the default stanza cap
      // (256 KiB), which would end the stream. The cap has its own tests (security-xmpp-edges); here
      // every stanza must be judged on its content, on one connection.
      component: {
        service: xmpp.service,
        domain: xmpp.componentDomain,
        secret: xmpp.secret,
        reconnectMaxDelayMs: 300,
        maxStanzaBytes: 4 * 1024 * 1024,
      },
      domains: ["localhost"],
      database: { url: pgc.url },
      log: { level: "warn" },
      // The log provider: every push "succeeds" at once, so the replies show the server's decisions.
      apps: [{ id: "chat", default: true, tigase: { providers: { [TIGASE_PROVIDER]: "apns", "tigase:messenger:jpush:1": "jpush" } } }],
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

/** sendRaw hands its argument to socket.write unchanged, so a Buffer goes out byte for byte (invalid UTF-8 included). */
function sendBytes(server: FakeXmppServer, bytes: Buffer): void {
  server.sendRaw(bytes as unknown as string);
}

const appExited = () => app.child.exitCode !== null || app.child.signalCode !== null;

it(`survives ${CASES} hostile stanzas and registration forms with exactly one well-formed reply each`, async () => {
  console.log(`[fuzz] seed=${SEED} (XMPP_PUSH_FUZZ_SEED=${SEED} replays this run) cases=${CASES}`);
  const started = Date.now();
  const rng = new Rng(SEED);
  const pid = app.child.pid!;
  const handshakesAtStart = xmpp.handshakes;
  const oracle = new ReplyOracle();
  const drain = () => {
    for (const el of xmpp.unsolicited.splice(0)) oracle.take(el);
  };
  const drainer = setInterval(drain, 10);
  let generated = 0;
  let sentStanzas = 0;
  let unanswered = 0;
  let rssBeforeMb = 0;
  const rssTrail: number[] = [];
  // A digest of every generated stanza: the same seed gives the same digest.
  const corpus = createHash("sha256");

  /** Waits for the replies the cases must get; the ones that never came are violations. */
  const awaitReplies = async (cases: Case[]) => {
    const answered = () => {
      drain();
      return oracle.unanswered(cases).length === 0;
    };
    await waitFor("the replies of a batch", answered, REPLY_WAIT_MS, 2).catch(() => undefined);
    for (const c of oracle.unanswered(cases)) {
      unanswered += 1;
      oracle.violation(c, `no reply to ${c.id?.slice(0, 40)} within 20 s`);
    }
  };

  /**
   * Waits until the component has dealt with everything sent so far: it answers a ping sent after the
   * cases (so it has read them all, and the replies it gives at once are out), and every reply that
   * must come without a usable id has come. What stays missing is left to checkIdlessCounts to report.
   */
  const settle = async (what: string) => {
    const pinged = await xmpp.iq(PING, REPLY_WAIT_MS).catch(() => undefined);
    if (pinged === undefined) oracle.violation(undefined, `no reply to a ping sent after case ${generated}`);
    const idlessIn = () => {
      drain();
      return oracle.idlessAnswered();
    };
    await waitFor(what, idlessIn, REPLY_WAIT_MS, 10).catch(() => undefined);
  };

  try {
    while (generated < CASES) {
      const batch = nextBatch(rng, generated, BATCH, CASES);
      generated += batch.length;
      for (const c of batch) {
        corpus.update(c.bytes);
        oracle.expectReplies(c);
        for (let k = 0; k < c.sends; k++, sentStanzas++) sendBytes(xmpp, c.bytes);
      }
      await awaitReplies(batch);
      if (appExited()) {
        throw new Error(
          `the app process exited (${app.child.exitCode ?? app.child.signalCode}) during batch ending at case ${generated}; last output:\n${app.output().slice(-3000)}`,
        );
      }
      if (Math.floor(generated / 1000) > rssTrail.length) rssTrail.push(rssMb(pid));
      if (rssBeforeMb === 0 && generated >= WARMUP) {
        await settle("the warm-up's replies");
        rssBeforeMb = rssMb(pid);
      }
    }
    // Late or extra replies (to result/error IQs, messages, duplicates) show up by now.
    await settle("the last replies");
    drain();
  } finally {
    clearInterval(drainer);
  }
  const rssAfterMb = rssMb(pid);
  const wellFormedSeconds = (Date.now() - started) / 1000;

  oracle.checkIdlessCounts();
  const handlerFailures = app
    .output()
    .split("\n")
    .filter((l) => l.includes("IQ handler failed") || l.includes("failed to answer a stanza"));
  const { figures, conditions, violations } = oracle;
  console.log(
    `[fuzz] conditions: ${[...conditions]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`,
  );
  console.log(
    `[fuzz] ${sentStanzas} stanzas in ${wellFormedSeconds.toFixed(1)} s; controls ${oracle.controlsOk}/${oracle.controls}; handler failures logged: ${handlerFailures.length}`,
  );
  for (const l of handlerFailures.slice(0, 3)) console.log(`[fuzz] handler failure: …${l.slice(-300)}`);
  console.log(`[fuzz] corpus sha256 ${corpus.digest("hex").slice(0, 16)}`);
  console.log(`[fuzz] RSS every 1000 cases (MB): ${rssTrail.join(" ")}`);
  console.log(`[fuzz] longest error text: ${oracle.longestErrorText.slice(0, 160)}…`);
  expect(violations).toEqual([]);
  expect(unanswered).toBe(0);
  expect(oracle.controlsOk).toBe(oracle.controls);
  expect(app.child.pid).toBe(pid);
  expect(app.child.exitCode).toBeNull();
  // One connection for the whole well-formed run: nothing we sent (nor replied) broke the stream.
  expect(xmpp.handshakes).toBe(handshakesAtStart);
  expect(rssAfterMb - rssBeforeMb).toBeLessThan(RSS_GROWTH_LIMIT_MB);

  // -------------------------------------------------------------------------------------------
  // Not well-formed XML and restricted XML, each on a fresh connection: the correct reaction is a
  // stream error and closing the stream; the component must then come back by itself and serve again.
  let reconnects = 0;
  for (const [what, bad] of [...ILL_FORMED, ...RESTRICTED]) {
    const before = xmpp.handshakes;
    const ok = await xmpp.iq(publishIq(nodeOf(2), BENCH_SECRET), 10_000);
    expect(ok.attrs.type, `a publish before: ${what}`).toBe("result");
    xmpp.sendRaw(bad);
    await waitFor(`the component to reconnect after: ${what}`, () => xmpp.handshakes > before && xmpp.isConnected(), 15_000, 20);
    reconnects += xmpp.handshakes - before;
    const after = await xmpp.iq(publishIq(nodeOf(3), BENCH_SECRET), 10_000);
    expect(after.attrs.type, `a publish after: ${what}`).toBe("result");
    expect(app.child.exitCode, `the process after: ${what}`).toBeNull();
    expect(app.child.pid).toBe(pid);
  }
  const ready = await fetch(`http://127.0.0.1:${app.httpPort}/readyz`);
  expect(ready.status).toBe(200);

  report("fuzz", {
    seed: SEED,
    cases: generated,
    stanzas: sentStanzas,
    replies: figures.replies,
    results: figures.results,
    errorsCancel: figures.cancel,
    errorsWait: figures.wait,
    errorsModify: figures.modify,
    errorsAuth: figures.auth,
    maxErrorTextChars: figures.maxErrorTextChars,
    handlerFailures: handlerFailures.length,
    illFormed: ILL_FORMED.length,
    restricted: RESTRICTED.length,
    reconnects,
    rssBeforeMb,
    rssAfterMb,
    seconds: Math.round((Date.now() - started) / 1000),
  });
});
