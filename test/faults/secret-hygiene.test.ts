import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import xml, { type Element } from "@xmpp/xml";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTokenCipher } from "../../src/store/token-cipher.js";
import { startAppProcess, type AppProcess } from "../support/app-process.js";
import { cleanEnv, runCli } from "../support/cli.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { startFakeJpush, type FakeJpush } from "../support/fakes/fake-jpush.js";
import { testCerts } from "../support/fakes/test-certs.js";
import { startFakeXmppServer, type FakeXmppServer } from "../support/fake-xmpp-server.js";
import { startPrivatePostgres, type PrivatePostgres } from "../support/private-postgres.js";
import { freePort } from "../support/servers/xmpp-servers.js";
import { JPUSH_APP_KEY, JPUSH_MASTER_SECRET } from "../support/test-config.js";
import { publishIq, report } from "./fault-helpers.js";
import { waitFor } from "../support/wait-for.js";

// Known secrets everywhere, the server at log level debug, and everything that could leak them
// exercised: registrations in every dialect (XMPP and HTTP), publishes with right and wrong secrets,
// unknown nodes, malformed publishes, provider errors (APNs 410, 403 InvalidProviderToken, 503; JPush
// 1011, 1004), HTTP calls with wrong tokens and bad bodies, the admin views, /metrics and the CLI.
// Then the whole log, every reply (except the registering user's own registration replies, which must
// carry node and secret) and every CLI output are searched for every secret, and the database is
// checked: secrets only as sha256 hashes, device tokens encrypted at rest, no token in the audit.

const rand = (n: number) => randomBytes(n).toString("hex");
const COMPONENT_SECRET = `component-secret-${rand(12)}`;
const ADMIN_TOKEN = `admin-token-${rand(12)}`;
const REGISTRATION_TOKEN = `registration-token-${rand(12)}`;
const TOKEN_KEY = randomBytes(32).toString("base64");
const APNS_KEY = testCerts().apnsKey;
// A distinctive piece from the middle of the .p8 key's base64 body.
const APNS_KEY_MIDDLE = APNS_KEY.replace(/-----[A-Z ]+-----/g, "")
  .replace(/\s+/g, "")
  .slice(30, 70);
const JPUSH_BASIC = Buffer.from(`${JPUSH_APP_KEY}:${JPUSH_MASTER_SECRET}`).toString("base64");
const TIGASE_PROVIDER = "tigase:messenger:apns:1";
const USER = "alice@localhost/phone";

const apnsToken = () => rand(32); // 64 hex characters, as Apple's
const jpushRegId = () => `1a${rand(9)}`; // JPush registration ids: short alphanumerics
const T = {
  apnsOk: apnsToken(),
  apnsVoip: apnsToken(),
  voip: apnsToken(),
  apns410: apnsToken(),
  apns503: apnsToken(),
  apns403: apnsToken(),
  apnsV1: apnsToken(),
  apnsTigase: apnsToken(),
  voipTigase: apnsToken(),
  apnsHttpForm: apnsToken(),
  apnsHttpJson: apnsToken(),
  voipHttpJson: apnsToken(),
  apnsRefused: apnsToken(),
  apnsBadBody: apnsToken(),
  voipBadBody: apnsToken(),
  apnsFcm: apnsToken(),
  jpushOk: jpushRegId(),
  jpush1011: jpushRegId(),
  jpush1004: jpushRegId(),
};

const NS = {
  commands: "http://jabber.org/protocol/commands",
  data: "jabber:x:data",
  pubsub: "http://jabber.org/protocol/pubsub",
  stanzas: "urn:ietf:params:xml:ns:xmpp-stanzas",
};

let dir: string;
let pgc: PrivatePostgres;
let apns: FakeApns;
let jpush: FakeJpush;
let xmpp: FakeXmppServer;
let app: AppProcess;
let configFile: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "xp-fault-secrets-"));
  chmodSync(dir, 0o755);
  pgc = await startPrivatePostgres(join(dir, "pg"));
  apns = await startFakeApns({ verifyJwtWith: testCerts().apnsPublicKey });
  jpush = await startFakeJpush({ appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET });
  // The provider errors, by device.
  apns.script((r) =>
    r.token === T.apns410
      ? { status: 410, reason: "Unregistered" }
      : r.token === T.apns503
        ? { status: 503, reason: "ServiceUnavailable" }
        : r.token === T.apns403
          ? { status: 403, reason: "InvalidProviderToken" }
          : undefined,
  );
  jpush.script((r) => {
    const ids = JSON.stringify((r.body as { audience?: unknown } | undefined)?.audience ?? "");
    // JPush's messages may name the device: the server must scrub it.
    if (ids.includes(T.jpush1011)) return { httpStatus: 400, code: 1011, message: `cannot find user by this audience: ${T.jpush1011}` };
    if (ids.includes(T.jpush1004)) return { httpStatus: 401, code: 1004, message: "Authen failed" };
    return undefined;
  });
  xmpp = await startFakeXmppServer({ secret: COMPONENT_SECRET });
  env = { XMPP_PUSH_COMPONENT_SECRET: COMPONENT_SECRET, XMPP_PUSH_TOKEN_ENCRYPTION_KEY: TOKEN_KEY };
  const httpPort = await freePort();
  app = startAppProcess({
    dir,
    name: "secrets",
    httpPort,
    env,
    config: {
      component: { service: xmpp.service, domain: xmpp.componentDomain, reconnectMaxDelayMs: 300 },
      domains: ["localhost"],
      database: { url: pgc.url },
      http: { adminToken: ADMIN_TOKEN, registrationToken: REGISTRATION_TOKEN },
      log: { level: "debug" },
      delivery: {
        syncDeadlineMs: 1500,
        providerTimeoutMs: 1000,
        retryBaseMs: 200,
        retryMaxMs: 500,
        workerPollMs: 200,
        breakerFailureThreshold: 1000,
        breakerCooldownMs: 1000,
      },
      apps: [
        {
          id: "chat",
          default: true,
          strategy: { providers: ["apns", "jpush"], mode: "fallback" },
          apns: {
            bundleId: "org.example.chat",
            teamId: "TEAM123456",
            keyId: "KEY1234567",
            key: APNS_KEY,
            address: "127.0.0.1",
            port: apns.port,
            ca: apns.ca,
            voip: true,
          },
          jpush: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, baseUrl: jpush.url, timeoutMs: 2000 },
          tigase: { providers: { [TIGASE_PROVIDER]: "apns" } },
        },
      ],
    },
  });
  configFile = join(dir, "secrets.yaml");
  await xmpp.waitForComponent(60_000);
});

afterAll(async () => {
  await app?.stop();
  await xmpp?.stop();
  await apns?.stop();
  await jpush?.stop();
  pgc?.destroy();
});

function command(from: string, node: string, fields: Record<string, string | undefined> | undefined, action = "execute"): Element {
  const form =
    fields === undefined
      ? undefined
      : xml(
          "x",
          { xmlns: NS.data, type: "submit" },
          ...Object.entries(fields)
            .filter((e): e is [string, string] => e[1] !== undefined)
            .map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
        );
  return xml("iq", { type: "set", from, to: "push.localhost" }, xml("command", { xmlns: NS.commands, node, action }, form));
}

function formValues(reply: Element): Map<string, string> {
  const fields = reply.getChild("command", NS.commands)?.getChild("x", NS.data)?.getChildren("field") ?? [];
  return new Map(fields.map((f) => [f.attrs.var ?? "", f.getChildText("value") ?? ""]));
}

/** A publish carrying a Tigase-encrypted call (mod_cloud_notify_encrypted marks Jingle proposals type="voip"). */
function callPublishIq(node: string, secret: string | undefined): string {
  const options =
    secret === undefined
      ? ""
      : `<publish-options><x type='submit' xmlns='jabber:x:data'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>${secret}</value></field></x></publish-options>`;
  return `<iq type='set' from='localhost' to='push.localhost'><pubsub xmlns='${NS.pubsub}'><publish node='${node}'><item><notification xmlns='urn:xmpp:push:0'><encrypted xmlns='tigase:push:encrypt:0' iv='aXZpdml2aXZpdml2' type='voip'>ZW5jcnlwdGVkLWNhbGwtcGF5bG9hZA==</encrypted></notification></item></publish>${options}</pubsub></iq>`;
}

const errorKind = (r: Element) =>
  r.attrs.type === "result" ? "result" : `${r.getChild("error")?.attrs.type}/${r.getChild("error")?.getChildElements()[0]?.name}`;

it("keeps every secret, key and device token out of logs, replies, CLI output and the database (plaintext)", async () => {
  const started = Date.now();
  // Everything searched for leaks, by where it came from.
  const scanned: Array<{ source: string; text: string }> = [];
  const scan = (source: string, text: string) => scanned.push({ source, text });
  const iq = async (source: string, stanza: Element | string) => {
    const r = await xmpp.iq(stanza, 15_000);
    scan(source, r.toString());
    return r;
  };
  /** The registering user's own registration reply: not scanned, and it must carry node (and secret). */
  const secrets = new Map<string, string>(); // node → publish secret
  const ownReplies: Array<{ source: string; text: string }> = [];
  const register = async (what: string, stanza: Element, withSecret = true) => {
    const r = await xmpp.iq(stanza, 15_000);
    ownReplies.push({ source: `own registration reply: ${what}`, text: r.toString() });
    expect(r.attrs.type, `${what}: ${r.toString()}`).toBe("result");
    const v = formValues(r);
    const node = v.get("node") ?? "";
    expect(node, what).not.toBe("");
    if (withSecret) {
      const secret = v.get("secret") ?? "";
      expect(secret.length, what).toBeGreaterThanOrEqual(16);
      secrets.set(node, secret);
    }
    return node;
  };

  // --- XMPP registrations, every dialect, from the user's full JID -------------------------------
  const nApnsOk = await register("p2 apns", command(USER, "register-push-apns", { token: T.apnsOk, "device-id": "phone-ok" }));
  const nVoip = await register(
    "p2 apns with voip",
    command(USER, "register-push-apns", { token: T.apnsVoip, "device-id": "phone-voip", "voip-token": T.voip, environment: "production" }),
  );
  const n410 = await register("p2 apns 410", command(USER, "register-push-apns", { token: T.apns410, "device-id": "phone-410" }));
  const n503 = await register("p2 apns 503", command(USER, "register-push-apns", { token: T.apns503, "device-id": "phone-503" }));
  const n403 = await register("p2 apns 403", command(USER, "register-push-apns", { token: T.apns403, "device-id": "phone-403" }));
  const nJpushOk = await register("p2 jpush", command(USER, "register-push-jpush", { token: T.jpushOk, "device-id": "android-ok" }));
  const n1011 = await register("p2 jpush 1011", command(USER, "register-push-jpush", { token: T.jpush1011, "device-id": "android-1011" }));
  const n1004 = await register("p2 jpush 1004", command(USER, "register-push-jpush", { token: T.jpush1004, "device-id": "android-1004" }));
  const nV1 = await register(
    "v1-register-push",
    command(USER, "v1-register-push", {
      FORM_TYPE: "https://github.com/tmolitor-stud-tu/mod_push_appserver/#v1-register-push",
      type: "apns",
      node: "monal-device-1",
      token: T.apnsV1,
    }),
  );
  const nTigase = await register(
    "register-device",
    command(USER, "register-device", { provider: TIGASE_PROVIDER, "device-token": T.apnsTigase, "device-second-token": T.voipTigase }),
    false,
  );
  // Registering again returns the same node (and a new secret): still a reply to the registering user.
  expect(await register("p2 apns again", command(USER, "register-push-apns", { token: T.apnsOk, "device-id": "phone-ok" }))).toBe(nApnsOk);

  // Registrations refused, with real tokens in them: their error replies are scanned.
  for (const [what, stanza] of [
    ["p2 fcm (app has no FCM)", command(USER, "register-push-fcm", { token: `${T.apnsFcm}:APA91b`, "device-id": "fcm-phone" })],
    ["another domain", command("mallory@evil.example/x", "register-push-apns", { token: T.apnsRefused, "device-id": "m" })],
    ["bad environment", command(USER, "register-push-apns", { token: T.apnsRefused, "device-id": "e", environment: "staging" })],
    ["voip token on jpush", command(USER, "register-push-jpush", { token: T.jpushOk, "device-id": "j2", "voip-token": T.voip })],
    [
      "unknown tigase provider",
      command(USER, "register-device", { provider: "tigase:unknown:1", "device-token": T.apnsRefused, "device-second-token": T.voip }),
    ],
    ["v1 bad FORM_TYPE", command(USER, "v1-register-push", { FORM_TYPE: "urn:nope", type: "apns", node: "n", token: T.apnsRefused })],
    ["v1 node of another device", command("bob@localhost/x", "v1-register-push", { type: "apns", node: nV1, token: T.apnsRefused })],
    ["no form (asks for it)", command(USER, "register-push-apns", undefined)],
    ["cancel", command(USER, "v1-register-push", { type: "apns", node: "x", token: T.apnsRefused }, "cancel")],
  ] as const) {
    await iq(`xmpp register: ${what}`, stanza);
  }

  // --- Publishes -----------------------------------------------------------------------------------
  const publish = (what: string, node: string, secret: string) => iq(`xmpp publish: ${what}`, publishIq(node, secret));
  expect(errorKind(await publish("right secret", nApnsOk, secrets.get(nApnsOk)!))).toBe("result");
  expect(errorKind(await publish("wrong secret", nApnsOk, secrets.get(nVoip)!))).toBe("auth/not-authorized");
  expect(errorKind(await publish("no secret", nApnsOk, ""))).toBe("auth/not-authorized");
  expect(errorKind(await publish("unknown node", "no-such-node", secrets.get(nApnsOk)!))).toBe("cancel/item-not-found");
  expect(
    errorKind(
      await iq("xmpp publish: from a user", publishIq(nApnsOk, secrets.get(nApnsOk)!).replace("from='localhost'", `from='${USER}'`)),
    ),
  ).toBe("auth/forbidden");
  expect(
    errorKind(
      await iq(
        "xmpp publish: from another domain",
        publishIq(nApnsOk, secrets.get(nApnsOk)!).replace("from='localhost'", "from='evil.example'"),
      ),
    ),
  ).toBe("auth/forbidden");
  expect(errorKind(await iq("xmpp publish: no node", publishIq(nApnsOk, secrets.get(nApnsOk)!).replace(` node='${nApnsOk}'`, "")))).toBe(
    "modify/bad-request",
  );
  expect(
    errorKind(
      await iq(
        "xmpp publish: two publishes",
        publishIq(nApnsOk, secrets.get(nApnsOk)!).replace("</publish>", `</publish><publish node='${nVoip}'/>`),
      ),
    ),
  ).toBe("modify/bad-request");
  expect(
    errorKind(
      await iq(
        "xmpp publish: not well-formed form",
        publishIq(nApnsOk, secrets.get(nApnsOk)!).replace("<publish-options>", "<publish-options><x xmlns='jabber:x:data'/>"),
      ),
    ),
  ).toMatch(/result|auth/);
  expect(errorKind(await iq("xmpp publish: call to the VoIP token", callPublishIq(nVoip, secrets.get(nVoip)!)))).toBe("result");
  expect(errorKind(await iq("xmpp publish: Tigase device", publishIq(nTigase, "")))).toBe("result");
  expect(errorKind(await iq("xmpp publish: Tigase call", callPublishIq(nTigase, undefined)))).toBe("result");
  expect(errorKind(await publish("v1 device", nV1, secrets.get(nV1)!))).toBe("result");
  expect(errorKind(await publish("jpush", nJpushOk, secrets.get(nJpushOk)!))).toBe("result");
  // Provider errors. APNs 410 counts once APNs has accepted a push for the environment (above).
  expect(errorKind(await publish("APNs 410", n410, secrets.get(n410)!))).toBe("cancel/item-not-found");
  expect(errorKind(await publish("APNs 503", n503, secrets.get(n503)!))).toMatch(/^(result|wait\/)/);
  expect(errorKind(await publish("JPush 1011", n1011, secrets.get(n1011)!))).toBe("cancel/item-not-found");
  // Credential errors last: they open the provider's breaker for the app.
  expect(errorKind(await publish("APNs 403 InvalidProviderToken", n403, secrets.get(n403)!))).toMatch(/^(result|wait\/)/);
  expect(errorKind(await publish("JPush 1004", n1004, secrets.get(n1004)!))).toMatch(/^(result|wait\/)/);
  expect(apns.requests.some((r) => r.token === T.voip && r.headers["apns-topic"] === "org.example.chat.voip")).toBe(true);
  expect(apns.requests.some((r) => r.token === T.voipTigase)).toBe(true);
  expect(apns.requests.some((r) => r.token === T.apns403)).toBe(true);
  expect(jpush.requests.some((r) => String(JSON.stringify(r.body)).includes(T.jpush1004))).toBe(true);
  // Other IQs and unregistrations (their replies are scanned).
  await iq(
    "xmpp: disco#items",
    `<iq type='get' from='${USER}'><query xmlns='http://jabber.org/protocol/disco#items' node='${NS.commands}'/></iq>`,
  );
  await iq("xmpp unregister: p2", command(USER, "unregister-push-jpush", { "device-id": "android-1011" }));
  await iq(
    "xmpp unregister: tigase, wrong token",
    command(USER, "unregister-device", { provider: TIGASE_PROVIDER, "device-token": T.apnsRefused }),
  );

  // --- HTTP -----------------------------------------------------------------------------------------
  const base = `http://127.0.0.1:${app.httpPort}`;
  const http = async (source: string, path: string, init: RequestInit = {}, scanIt = true) => {
    const res = await fetch(`${base}${path}`, init);
    const body = await res.text();
    if (scanIt) scan(`http ${source}: ${res.status}`, `${JSON.stringify(Object.fromEntries(res.headers))}\n${body}`);
    return { status: res.status, body };
  };
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
  const formHeaders = (t: string) => ({ ...bearer(t), "content-type": "application/x-www-form-urlencoded" });
  const jsonHeaders = (t: string) => ({ ...bearer(t), "content-type": "application/json" });

  // Registrations over HTTP: the response to the registering app carries node and secret (not scanned).
  const formReg = await http(
    "register form",
    "/push_appserver/v1/register",
    {
      method: "POST",
      headers: formHeaders(REGISTRATION_TOKEN),
      body: form({ type: "apns", node: "http-form-device", token: T.apnsHttpForm }),
    },
    false,
  );
  ownReplies.push({ source: "own registration reply: HTTP form", text: formReg.body });
  const [ok, formNode, formSecret] = formReg.body.trim().split("\n");
  expect([formReg.status, ok, formNode]).toEqual([200, "OK", "http-form-device"]);
  expect(formSecret?.length).toBeGreaterThanOrEqual(16);
  secrets.set(formNode!, formSecret!);
  const jsonReg = await http(
    "register json",
    "/v1/registrations",
    {
      method: "POST",
      headers: jsonHeaders(REGISTRATION_TOKEN),
      body: JSON.stringify({
        jid: "alice@localhost",
        deviceId: "json-phone",
        provider: "apns",
        token: T.apnsHttpJson,
        voipToken: T.voipHttpJson,
      }),
    },
    false,
  );
  expect(jsonReg.status).toBe(201);
  ownReplies.push({ source: "own registration reply: HTTP JSON", text: jsonReg.body });
  const reg = JSON.parse(jsonReg.body) as { node: string; secret: string };
  expect(reg.secret.length).toBeGreaterThanOrEqual(16);
  secrets.set(reg.node, reg.secret);
  expect(errorKind(await publish("HTTP-registered device", reg.node, reg.secret))).toBe("result");

  // Wrong tokens, no token, the other token.
  const regBody = JSON.stringify({ jid: "alice@localhost", deviceId: "x", provider: "apns", token: T.apnsRefused });
  for (const [what, headers] of [
    ["wrong bearer", jsonHeaders(`${REGISTRATION_TOKEN}x`)],
    ["admin token for registration", jsonHeaders(ADMIN_TOKEN)],
    ["no auth", { "content-type": "application/json" }],
    ["basic auth", { authorization: `Basic ${JPUSH_BASIC}`, "content-type": "application/json" }],
  ] as const) {
    expect((await http(`register json, ${what}`, "/v1/registrations", { method: "POST", headers, body: regBody })).status).toBe(401);
  }
  expect(
    (
      await http("register form, wrong bearer", "/push_appserver/v1/register", {
        method: "POST",
        headers: formHeaders("nope-nope-nope-nope"),
        body: form({ type: "apns", node: "n1", token: T.apnsRefused }),
      })
    ).status,
  ).toBe(401);
  expect(
    (await http("admin view, registration token", `/v1/registrations/${nApnsOk}`, { headers: bearer(REGISTRATION_TOKEN) })).status,
  ).toBe(401);
  expect((await http("admin deliveries, wrong token", `/v1/deliveries`, { headers: bearer(`${ADMIN_TOKEN}0`) })).status).toBe(401);
  expect(
    (
      await http("unregister, wrong token", "/v1/registrations", {
        method: "DELETE",
        headers: jsonHeaders("x".repeat(32)),
        body: JSON.stringify({ node: nApnsOk }),
      })
    ).status,
  ).toBe(401);

  // Bad bodies carrying tokens.
  const badBodies: Array<[string, string, string, number]> = [
    [
      "json: unknown provider",
      "/v1/registrations",
      JSON.stringify({ jid: "alice@localhost", deviceId: "b1", provider: "gcm", token: T.apnsBadBody, voipToken: T.voipBadBody }),
      400,
    ],
    [
      "json: malformed token",
      "/v1/registrations",
      JSON.stringify({ jid: "alice@localhost", deviceId: "b2", provider: "apns", token: `zz${T.apnsBadBody}` }),
      400,
    ],
    [
      "json: unknown key",
      "/v1/registrations",
      JSON.stringify({ deviceId: "b3", provider: "apns", token: T.apnsBadBody, secret: formSecret, voip: T.voipBadBody }),
      400,
    ],
    [
      "json: voip token too long",
      "/v1/registrations",
      JSON.stringify({ deviceId: "b4", provider: "apns", token: T.apnsBadBody, voipToken: T.voipBadBody.repeat(8) }),
      400,
    ],
    [
      "json: another domain",
      "/v1/registrations",
      JSON.stringify({ jid: "mallory@evil.example", deviceId: "b5", provider: "apns", token: T.apnsBadBody }),
      403,
    ],
    ["json: not json", "/v1/registrations", `token=${T.apnsBadBody}&voip=${T.voipBadBody}`, 400],
    [
      "json: too large",
      "/v1/registrations",
      JSON.stringify({ deviceId: "b6", provider: "apns", token: T.apnsBadBody, pad: "p".repeat(20_000) }),
      413,
    ],
  ];
  for (const [what, path, body, status] of badBodies) {
    expect((await http(what, path, { method: "POST", headers: jsonHeaders(REGISTRATION_TOKEN), body })).status, what).toBe(status);
  }
  expect(
    (
      await http("form: bad type", "/push_appserver/v1/register", {
        method: "POST",
        headers: formHeaders(REGISTRATION_TOKEN),
        body: form({ type: "gcm", node: "b7", token: T.apnsBadBody }),
      })
    ).status,
  ).toBe(400);
  expect(
    (
      await http("form: node taken", "/push_appserver/v1/register", {
        method: "POST",
        headers: formHeaders(REGISTRATION_TOKEN),
        body: form({ type: "apns", node: nV1, token: T.apnsBadBody }),
      })
    ).status,
  ).toBe(409);

  // Admin views, metrics, probes.
  const delivered = new Set([nApnsOk, nVoip, n410, n503, n403, nJpushOk, n1004, nV1, nTigase, reg.node]);
  for (const node of [...delivered, formNode!]) {
    expect(
      (await http(`admin view ${node}`, `/v1/registrations/${encodeURIComponent(node)}`, { headers: bearer(ADMIN_TOKEN) })).status,
    ).toBe(200);
    expect(
      (await http(`admin deliveries ${node}`, `/v1/deliveries?node=${encodeURIComponent(node)}&since=1h`, { headers: bearer(ADMIN_TOKEN) }))
        .status,
    ).toBe(200);
  }
  const allDeliveries = await http("admin deliveries, all", "/v1/deliveries?limit=1000", { headers: bearer(ADMIN_TOKEN) });
  expect((JSON.parse(allDeliveries.body) as { deliveries: unknown[] }).deliveries.length).toBeGreaterThan(10);
  await http("metrics", "/metrics");
  await http("readyz", "/readyz");
  await http("healthz", "/healthz");
  await http("appserver health", "/push_appserver/v1/health");

  // Retries of the 503 and the breakers' log lines happen meanwhile; give them a moment.
  await waitFor("retries of the 503 push", () => apns.requests.filter((r) => r.token === T.apns503).length >= 3, 15_000);

  // --- CLI, against the same Postgres while the server runs ---------------------------------------
  const cliEnv = cleanEnv({ XMPP_PUSH_CONFIG: configFile, ...env });
  const cli = async (args: string[]) => {
    const { code, output } = await runCli(args, { env: cliEnv, timeoutMs: 60_000 });
    scan(`cli ${args.join(" ")} (exit ${code})`, output);
    return { code, output };
  };
  for (const node of [nApnsOk, nVoip, n410, nTigase, n1011, reg.node]) {
    // n1011 was unregistered above: its delivery history is still shown.
    expect((await cli(["audit", "--node", node])).code).toBe(0);
  }
  expect((await cli(["stats"])).code).toBe(0);
  expect((await cli(["config", "check", "--print"])).code).toBe(0);
  expect((await cli(["send-test", "--node", nV1])).code).toBe(0);

  // Anything the component sent on its own (there should be nothing).
  for (const el of xmpp.unsolicited) scan("xmpp unsolicited", el.toString());

  // --- The server's whole output, shutdown included -----------------------------------------------
  await app.stop();
  const log = app.output();
  expect(log).toContain('"level":"debug"');
  scan("server stdout+stderr", log);

  // --- The search -----------------------------------------------------------------------------------
  const needles: Array<[string, string]> = [
    ["component secret", COMPONENT_SECRET],
    ["admin token", ADMIN_TOKEN],
    ["registration token", REGISTRATION_TOKEN],
    ["token encryption key", TOKEN_KEY],
    ["APNs key (middle of the PEM body)", APNS_KEY_MIDDLE],
    ["JPush master secret", JPUSH_MASTER_SECRET],
    ["JPush Basic auth", JPUSH_BASIC],
    ...Object.entries(T).map(([name, token]) => [`device token ${name}`, token] as [string, string]),
    // Shortened tokens ("3f2a…") count too: a log line must carry a fingerprint, not part of the token.
    ...Object.entries(T).flatMap(
      ([name, token]) =>
        [
          [`start of device token ${name}`, token.slice(0, 12)],
          [`end of device token ${name}`, token.slice(-12)],
        ] as Array<[string, string]>,
    ),
    ...[...secrets].map(([node, secret]) => [`publish secret of ${node}`, secret] as [string, string]),
  ];
  const leaksIn = (items: ReadonlyArray<{ source: string; text: string }>) => {
    const found: string[] = [];
    for (const { source, text } of items) {
      for (const [name, value] of needles) {
        const at = text.indexOf(value);
        if (at >= 0)
          found.push(`${name} in ${source}: …${text.slice(Math.max(0, at - 120), at + value.length + 40).replace(/\s+/g, " ")}…`);
      }
    }
    return found;
  };
  const leaks = leaksIn(scanned);
  // The search finds what is there: the registering user's own replies do carry their secrets.
  // (The repeated registration carried a new secret: the map holds that one, the first is void.)
  expect(leaksIn(ownReplies).filter((l) => l.startsWith("publish secret")).length).toBe(secrets.size);

  // --- The database ---------------------------------------------------------------------------------
  const client = new pg.Client({ connectionString: pgc.url });
  await client.connect();
  const dbProblems: string[] = [];
  let rowsChecked = 0;
  try {
    const cipher = createTokenCipher(TOKEN_KEY);
    const tokens = new Set(Object.values(T));
    const { rows: regs } = await client.query<{ node: string; secret_hash: string | null }>("SELECT node, secret_hash FROM registrations");
    for (const r of regs) {
      rowsChecked += 1;
      const secret = secrets.get(r.node);
      if (secret !== undefined && r.secret_hash !== createHash("sha256").update(secret, "utf8").digest("hex"))
        dbProblems.push(`registrations.secret_hash of ${r.node} is not sha256(secret): ${r.secret_hash}`);
      if (r.secret_hash !== null && !/^[0-9a-f]{64}$/.test(r.secret_hash))
        dbProblems.push(`registrations.secret_hash of ${r.node} is not a 64-hex sha256: ${r.secret_hash}`);
      for (const s of secrets.values())
        if (r.secret_hash?.includes(s)) dbProblems.push(`registrations.secret_hash of ${r.node} holds a plaintext secret`);
    }
    expect(regs.filter((r) => secrets.has(r.node)).length).toBe(secrets.size - 1); // n1011 was unregistered
    const { rows: addrs } = await client.query<{
      node: string;
      provider: string;
      token: string;
      token_hash: string;
      voip_token: string | null;
    }>("SELECT node, provider, token, token_hash, voip_token FROM registration_addresses");
    for (const a of addrs) {
      rowsChecked += 1;
      for (const [column, stored] of [
        ["token", a.token],
        ["voip_token", a.voip_token],
      ] as const) {
        if (stored === null) continue;
        for (const t of tokens)
          if (stored.includes(t)) dbProblems.push(`registration_addresses.${column} of ${a.node}/${a.provider} holds a plaintext token`);
        if (!stored.startsWith("enc2:"))
          dbProblems.push(`registration_addresses.${column} of ${a.node}/${a.provider} is not encrypted: ${stored.slice(0, 12)}…`);
        // Encrypted with the configured key: it opens to one of the tokens we registered.
        else if (!tokens.has(cipher.open(stored)))
          dbProblems.push(`registration_addresses.${column} of ${a.node}/${a.provider} does not open to a registered token`);
      }
    }
    expect(addrs.some((a) => a.voip_token !== null)).toBe(true);
    for (const table of ["deliveries", "delivery_jobs"]) {
      const { rows } = await client.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
      if (table === "deliveries") expect(rows.length).toBeGreaterThan(10);
      for (const row of rows) {
        rowsChecked += 1;
        const textRow = JSON.stringify(row);
        for (const [name, value] of needles)
          if (textRow.includes(value)) dbProblems.push(`${table} row ${String(row.id ?? row.node)} holds the ${name}`);
      }
    }
  } finally {
    await client.end();
  }

  const replies = scanned.filter((s) => !s.source.startsWith("server") && !s.source.startsWith("cli")).length;
  report("secret hygiene", {
    logBytes: Buffer.byteLength(log),
    replies,
    cliOutputs: scanned.filter((s) => s.source.startsWith("cli")).length,
    secretsChecked: needles.length,
    dbRowsChecked: rowsChecked,
    leaks: leaks.length + dbProblems.length,
    seconds: Math.round((Date.now() - started) / 1000),
  });
  expect(leaks).toEqual([]);
  expect(dbProblems).toEqual([]);
});
