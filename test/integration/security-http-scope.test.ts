import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load-config.js";
import { tokenFingerprint } from "../../src/domain/secret.js";
import { registrarOf } from "../../src/http/registration-scopes.js";
import { createServer, type Server } from "../../src/main.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { startFakeXmppServer, type FakeXmppServer } from "../support/fake-xmpp-server.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { testConfig } from "../support/test-config.js";

// Issue 11.1: whoever holds an HTTP registration token must not be able to act as any user. Each token
// works in its own space: it cannot read, overwrite or delete what a user registered over XMPP nor
// what another token made, and it names users only when its scope says it acts for them.

const ADMIN = "admin-token-0123456789abcdef";
const LEGACY = "legacy-registration-token-0123";
const BACKEND = "backend-token-acting-for-users-01";
const ANON = "anonymous-app-token-0123456789";
const CAPPED = "capped-anonymous-token-0123456";
const DEVICE = "ab".repeat(32);
const OTHER_DEVICE = "cd".repeat(32);

let db: TestDatabase;
let xmpp: FakeXmppServer;
let server: Server;
let base: string;
const logs = recordingLogger("debug");

beforeAll(async () => {
  db = await freshTestDatabase();
  // A row made over HTTP before tokens had scopes, as the migration marks it.
  await db.knex("registrations").insert({
    node: "legacy-node",
    app: "default",
    owner_jid: "",
    device_id: "legacy-node",
    channel: "",
    dialect: "appserver",
    registrar: "http-legacy",
  });
  xmpp = await startFakeXmppServer();
  server = await createServer(
    testConfig({
      component: { service: xmpp.service, domain: xmpp.componentDomain, secret: xmpp.secret, reconnectMaxDelayMs: 300 },
      domains: ["localhost", "other.example"],
      limits: { devicesPerJid: 3 },
      apps: [{ id: "default", default: true }, { id: "second" }],
      http: {
        port: 0,
        adminToken: ADMIN,
        registrationToken: LEGACY,
        requestsPerMinute: 10_000,
        registrationTokens: [
          { name: "backend", token: BACKEND, actForUsers: true, domains: ["localhost"] },
          { name: "phones", token: ANON, apps: ["default"] },
          { name: "capped", token: CAPPED, registrationsWithoutJid: 2 },
        ],
      },
    }),
    { log: logs.log, db },
  );
  await server.start();
  base = server.httpAddress()!;
  await xmpp.waitForComponent();
});

afterAll(async () => {
  await server?.stop();
  await xmpp?.stop();
  await db?.dispose();
});

const req = (method: string, path: string, token: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const register = (token: string, body: Record<string, unknown>) =>
  req("POST", "/v1/registrations", token, { provider: "apns", token: DEVICE, ...body });
const unregister = (token: string, body: Record<string, unknown>) => req("DELETE", "/v1/registrations", token, body);
const form = (path: string, token: string, fields: Record<string, string>) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });
const admin = async (node: string) =>
  (await (await fetch(`${base}/admin/v1/registrations/${node}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as Record<
    string,
    unknown
  >;

/** p2's register command; with `appserverNode`, mod_push_appserver's (the client picks the node). */
async function registerOverXmpp(
  user: string,
  deviceId: string,
  token: string,
  appserverNode?: string,
): Promise<{ node: string; secret: string }> {
  const fields = (f: Record<string, string>) =>
    Object.entries(f)
      .map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`)
      .join("");
  const [command, form] =
    appserverNode === undefined
      ? ["register-push-apns", fields({ token, "device-id": deviceId })]
      : ["v1-register-push", fields({ type: "apns", node: appserverNode, token })];
  const reply = await xmpp.iq(
    `<iq type='set' from='${user}/phone' to='push.localhost'><command xmlns='http://jabber.org/protocol/commands' node='${command}' action='execute'>` +
      `<x xmlns='jabber:x:data' type='submit'>${form}</x></command></iq>`,
  );
  const value = (name: string) =>
    reply
      .getChild("command")
      ?.getChild("x")
      ?.getChildren("field")
      .find((f) => f.attrs.var === name)
      ?.getChildText("value");
  expect(reply.attrs.type).toBe("result");
  return { node: value("node")!, secret: value("secret")! };
}

function publish(node: string, secret: string) {
  return xmpp.iq(
    `<iq type='set' from='localhost' to='push.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${node}'><item><notification xmlns='urn:xmpp:push:0'/></item></publish>` +
      `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>${secret}</value></field></x></publish-options></pubsub></iq>`,
  );
}

describe("a registration token and what users registered over XMPP", () => {
  it("cannot overwrite, read or delete a device a user registered over XMPP", async () => {
    const dave = await registerOverXmpp("dave@localhost", "p2", DEVICE);
    // The same account and device id over HTTP: a registration of the token's own, not dave's.
    const res = await register(LEGACY, { jid: "dave@localhost", deviceId: "p2", token: OTHER_DEVICE });
    expect(res.status).toBe(201);
    const mine = (await res.json()) as { node: string; secret: string };
    expect(mine.node).not.toBe(dave.node);
    expect(mine.secret).not.toBe(dave.secret);

    const xmppReg = await admin(dave.node);
    expect(xmppReg).toMatchObject({ dialect: "p2", registeredBy: "xmpp", addresses: [{ tokenFingerprint: tokenFingerprint(DEVICE) }] });

    expect((await unregister(LEGACY, { node: dave.node })).status).toBe(404);
    expect((await form("/push_appserver/v1/unregister", LEGACY, { type: "apns", node: dave.node })).status).toBe(404);
    // Deleting "dave's p2 device" removes the token's own registration only.
    expect((await unregister(LEGACY, { jid: "dave@localhost", deviceId: "p2" })).status).toBe(204);
    expect((await unregister(LEGACY, { jid: "dave@localhost", deviceId: "p2" })).status).toBe(404);
    expect((await publish(dave.node, dave.secret)).attrs.type).toBe("result");
  });

  it("cannot fill a user's device cap: HTTP registrations count in the token's space", async () => {
    for (const d of ["f1", "f2", "f3"]) expect((await register(LEGACY, { jid: "bob@localhost", deviceId: d })).status).toBe(201);
    const fourth = await register(LEGACY, { jid: "bob@localhost", deviceId: "f4" });
    expect(fourth.status).toBe(429);
    // Bob's real phone still registers over XMPP.
    const phone = await registerOverXmpp("bob@localhost", "real-phone", DEVICE);
    expect(phone.node).toMatch(/^[A-Za-z0-9_-]{20}$/);
  });

  it("cannot take over a client-chosen node registered over XMPP with mod_push_appserver's form", async () => {
    // Over XMPP, mod_push_appserver's dialect: the device id is the node the client chose.
    const dave = await registerOverXmpp("dave@localhost", "", DEVICE, "daves-chosen-node");
    expect(dave.node).toBe("daves-chosen-node");
    const res = await form("/push_appserver/v1/register", LEGACY, {
      type: "apns",
      node: dave.node,
      token: OTHER_DEVICE,
      jid: "dave@localhost",
    });
    expect(res.status).toBe(409);
    const text = await res.text();
    expect(text).toMatch(/^ERROR\n/);
    expect(text).not.toContain(dave.secret);
    expect(await admin(dave.node)).toMatchObject({
      dialect: "appserver",
      registeredBy: "xmpp",
      addresses: [{ tokenFingerprint: tokenFingerprint(DEVICE) }],
    });
  });
});

describe("tokens and each other", () => {
  it("keeps every token's registrations, and their secrets, to that token", async () => {
    const a = (await (await register(LEGACY, { jid: "carol@localhost", deviceId: "shared-id" })).json()) as {
      node: string;
      secret: string;
    };
    const b = await register(BACKEND, { jid: "carol@localhost", deviceId: "shared-id" });
    expect(b.status).toBe(201);
    const bBody = (await b.json()) as { node: string; secret: string };
    expect(bBody.node).not.toBe(a.node);
    expect(bBody.secret).not.toBe(a.secret);

    expect((await unregister(BACKEND, { node: a.node })).status).toBe(404);
    const taken = await form("/push_appserver/v1/register", BACKEND, { type: "apns", node: a.node, token: OTHER_DEVICE });
    expect(taken.status).toBe(409);
    expect(await taken.text()).not.toContain(a.secret);
    // Its creator registers again and gets its node back, with a fresh secret (secrets are random per
    // registration and stored only hashed, so nobody, the creator included, gets an old one back).
    const again = (await (await register(LEGACY, { jid: "carol@localhost", deviceId: "shared-id" })).json()) as {
      jid: string;
      node: string;
      secret: string;
    };
    expect(again.jid).toBe("push.localhost");
    expect(again.node).toBe(a.node);
    expect(again.secret).not.toBe(a.secret);
    expect(await admin(a.node)).toMatchObject({ registeredBy: registrarOf(LEGACY) });
  });

  it("keeps mod_push_appserver's form working within the token's space", async () => {
    const res = await form("/push_appserver/v1/register", ANON, { type: "apns", node: "anon-form-node", token: DEVICE });
    const [ok, node, secret] = (await res.text()).trim().split("\n");
    expect([ok, node]).toEqual(["OK", "anon-form-node"]);
    expect((await publish(node!, secret!)).attrs.type).toBe("result");
    expect((await form("/push_appserver/v1/unregister", LEGACY, { type: "apns", node: node! })).status).toBe(404);
    expect(await (await form("/push_appserver/v1/unregister", ANON, { type: "apns", node: node! })).text()).toBe(`OK\n${node}\n`);
  });

  it("hands the registrations made over HTTP before scopes existed to the single legacy token", async () => {
    expect(await admin("legacy-node")).toMatchObject({ registeredBy: registrarOf(LEGACY) });
    expect((await unregister(BACKEND, { node: "legacy-node" })).status).toBe(404);
    expect((await unregister(LEGACY, { node: "legacy-node" })).status).toBe(204);
  });

  it("stores a token's fingerprint, never the token", async () => {
    await register(BACKEND, { jid: "erin@localhost", deviceId: "fp" });
    const rows = (await db.knex("registrations").distinct("registrar")) as Array<{ registrar: string }>;
    const all = JSON.stringify(rows);
    for (const t of [LEGACY, BACKEND, ANON, CAPPED]) expect(all).not.toContain(t);
    expect(rows.map((r) => r.registrar)).toContain(registrarOf(BACKEND));
  });
});

describe("a token's scope", () => {
  it("names users only when it acts for them, and only on its domains", async () => {
    const anonJid = await register(ANON, { jid: "frank@localhost", deviceId: "x" });
    expect(anonJid.status).toBe(403);
    expect(await anonJid.json()).toEqual({ error: "this token may not name a jid (actForUsers is off)" });
    expect((await register(ANON, { deviceId: "anon-1" })).status).toBe(201);
    // The backend acts for users of localhost only, although other.example is served too.
    expect((await register(BACKEND, { jid: "gina@other.example", deviceId: "x" })).status).toBe(403);
    expect((await register(LEGACY, { jid: "gina@other.example", deviceId: "x" })).status).toBe(201);
  });

  it("registers only for its apps", async () => {
    const res = await register(ANON, { app: "second", deviceId: "a2" });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: "this token may not register for this app" });
    expect((await register(LEGACY, { app: "second", deviceId: "a2" })).status).toBe(201);
  });

  it("caps registrations without a JID", async () => {
    for (const d of ["c1", "c2"]) expect((await register(CAPPED, { deviceId: d })).status).toBe(201);
    const third = await register(CAPPED, { deviceId: "c3" });
    expect(third.status).toBe(429);
    expect(await third.json()).toEqual({ error: "at most 2 registrations without a JID" });
    expect((await register(CAPPED, { deviceId: "c1" })).status).toBe(200); // registering again is no new device
  });

  it("reads tokens from files in the config file (tokenFile)", () => {
    const dir = mkdtempSync(join(tmpdir(), "xp-scope-"));
    writeFileSync(join(dir, "backend-token"), `${BACKEND}\n`);
    writeFileSync(
      join(dir, "config.yaml"),
      `http:\n  registrationTokens:\n    - name: backend\n      tokenFile: ${join(dir, "backend-token")}\n      actForUsers: true\n`,
    );
    const config = loadConfig({ env: {}, file: join(dir, "config.yaml") });
    expect(config.http.registrationTokens[0]).toMatchObject({
      name: "backend",
      token: BACKEND,
      actForUsers: true,
      registrationsWithoutJid: 100_000,
    });
  });
});
