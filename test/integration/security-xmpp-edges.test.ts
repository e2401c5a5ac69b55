import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Element } from "@xmpp/xml";
import { PRODUCTION_NODE_OPTIONS, startAppProcess, type AppProcess } from "../support/app-process.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { startFakeXmppServer, type FakeXmppServer } from "../support/fake-xmpp-server.js";
import { freePort } from "../support/servers/xmpp-servers.js";
import { waitFor } from "../support/wait-for.js";

// The XMPP side of the trust boundary (issue 11 items 7 and 8): what a broken or hostile peer on the
// component stream can do. The server runs as its own process with the production heap cap, as in
// the container image, behind a fake XMPP server that lets the test write any bytes.

let db: TestDatabase;
let xmpp: FakeXmppServer;
let app: AppProcess;

beforeAll(async () => {
  db = await freshTestDatabase();
  await db.close(); // the server process opens it (the embedded database allows one process)
  xmpp = await startFakeXmppServer({ secret: "edges-secret" });
  app = startAppProcess({
    dir: mkdtempSync(join(tmpdir(), "xp-edges-")),
    name: `edges-${process.pid}`,
    httpPort: await freePort(),
    env: { NODE_OPTIONS: PRODUCTION_NODE_OPTIONS },
    config: {
      component: { service: xmpp.service, domain: xmpp.componentDomain, secret: xmpp.secret, reconnectMaxDelayMs: 200 },
      domains: ["localhost"],
      database: db.location.url !== undefined ? { url: db.location.url } : { dataDir: db.location.dataDir },
      log: { level: "warn" },
    },
  });
  await xmpp.waitForComponent(60_000);
});

afterAll(async () => {
  await app?.stop();
  await xmpp?.stop();
  await db?.dispose();
});

const ping = async () => (await xmpp.iq(`<iq type='get' from='alice@localhost/phone'><ping xmlns='urn:xmpp:ping'/></iq>`)).attrs.type;
const errorOf = (el: Element) => ({ type: el.getChild("error")?.attrs.type, condition: el.getChild("error")?.getChildElements()[0]?.name });

function registerIq(from: string | undefined): string {
  const fromAttr = from === undefined ? "" : ` from='${from}'`;
  return (
    `<iq type='set'${fromAttr}><command xmlns='http://jabber.org/protocol/commands' node='register-push-fcm' action='execute'>` +
    `<x xmlns='jabber:x:data' type='submit'><field var='token'><value>fcm-token-0123456789abcdef</value></field>` +
    `<field var='device-id'><value>edge-device</value></field></x></command></iq>`
  );
}

describe("an IQ without a sender (item 8)", () => {
  it("is refused with modify/bad-request and registers nothing", async () => {
    for (const from of [undefined, "", "/phone"]) {
      const r = await xmpp.iq(registerIq(from));
      expect(r.attrs.type, `from=${String(from)}`).toBe("error");
      expect(errorOf(r)).toEqual({ type: "modify", condition: "bad-request" });
    }
    // The same command from an account registers.
    const ok = await xmpp.iq(registerIq("alice@localhost/phone"));
    expect(ok.attrs.type).toBe("result");
  });
});

describe("an oversized stanza (item 7)", () => {
  it("closes the stream with policy-violation within a second and reconnects; a 60 MB stanza does not crash the process", async () => {
    const pid = app.child.pid;
    const before = xmpp.handshakes;
    const started = Date.now();
    // Text inside one stanza that never ends: the server process (96 MB old space) died on this before.
    const filler = "a".repeat(1024 * 1024);
    xmpp.sendRaw(`<iq type='get' id='huge' from='localhost'><ping xmlns='urn:xmpp:ping'>`);
    for (let i = 0; i < 60 && xmpp.isConnected(); i++) xmpp.sendRaw(filler);
    const streamError = await waitFor("the stream error", () => xmpp.unsolicited.find((el) => el.name === "stream:error"), 10_000);
    const closedMs = Date.now() - started;
    expect(streamError.getChildElements()[0]?.name).toBe("policy-violation");
    expect(closedMs).toBeLessThan(1000);
    await waitFor("a reconnect", () => xmpp.handshakes > before && xmpp.isConnected(), 10_000);
    expect(await ping()).toBe("result");
    expect(app.child.exitCode).toBeNull();
    expect(app.child.pid).toBe(pid);
    console.log(`[edges] 60 MB stanza: stream closed after ${closedMs} ms, reconnected, process alive`);
  });

  it("keeps a steady flow of small stanzas, far more than the cap in all, on one connection", async () => {
    // 600 stanzas of about 1 KiB in one write: the server's reads end inside stanzas, and the cap is per
    // stanza, not per unbroken run of reads (a busy XMPP server's publishes arrive like this).
    const before = xmpp.handshakes;
    const seen = xmpp.unsolicited.length;
    const filler = "f".repeat(1000);
    const ids = Array.from({ length: 600 }, (_, i) => `flow-${i}`);
    xmpp.sendRaw(
      ids
        .map((id) => `<iq type='get' id='${id}' from='alice@localhost/phone'><ping xmlns='urn:xmpp:ping'><x>${filler}</x></ping></iq>`)
        .join(""),
    );
    const replies = () => xmpp.unsolicited.slice(seen).filter((el) => el.name === "iq" && ids.includes(String(el.attrs.id)));
    await waitFor("a reply to every stanza of the flow", () => replies().length === ids.length || xmpp.handshakes !== before, 20_000);
    expect(xmpp.handshakes).toBe(before);
    expect(replies().every((r) => r.attrs.type === "result")).toBe(true);
  });

  it("keeps a large but allowed stanza (200 KiB) working", async () => {
    const body = "b".repeat(200 * 1024);
    const r = await xmpp.iq(`<iq type='get' from='alice@localhost/phone'><ping xmlns='urn:xmpp:ping'><x>${body}</x></ping></iq>`);
    expect(r.attrs.type).toBe("result");
  });
});
