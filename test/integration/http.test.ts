import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "../../src/main.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { startFakeXmppServer, type FakeXmppServer } from "../support/fake-xmpp-server.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { testConfig } from "../support/test-config.js";
import { waitFor } from "../support/wait-for.js";

// Every HTTP endpoint: authentication, bad input, what it returns; readiness following the XMPP
// connection and the database; metrics counting a real push.

const ADMIN = "admin-token-0123456789abcdef";
const REG = "registration-token-0123456789";
let db: TestDatabase;
let xmpp: FakeXmppServer;
let server: Server;
let base: string;
const logs = recordingLogger("debug");

async function start(over: Record<string, unknown> = {}): Promise<Server> {
  const s = await createServer(
    testConfig({
      component: { service: xmpp.service, domain: xmpp.componentDomain, secret: xmpp.secret, reconnectMaxDelayMs: 300 },
      http: {
        port: 0,
        adminToken: ADMIN,
        registrationToken: REG,
        bodyLimitBytes: 4096,
        requestsPerMinute: 10_000,
        metricsRefreshSeconds: 1,
      },
      ...over,
    }),
    { log: logs.log, db },
  );
  await s.start();
  return s;
}

beforeAll(async () => {
  db = await freshTestDatabase();
  xmpp = await startFakeXmppServer();
  server = await start();
  base = server.httpAddress()!;
  await xmpp.waitForComponent();
});

afterAll(async () => {
  await server?.stop();
  await xmpp?.stop();
  await db?.dispose();
});

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const json = (body: unknown, token = REG) => ({
  method: "POST",
  headers: { ...auth(token), "content-type": "application/json" },
  body: JSON.stringify(body),
});
const form = (fields: Record<string, string>, token = REG) => ({
  method: "POST",
  headers: { ...auth(token), "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(fields).toString(),
});
const TOKEN = "ab".repeat(32);

function publishIq(node: string, secret: string): string {
  return `<iq type='set' from='localhost' to='push.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${node}'><item><notification xmlns='urn:xmpp:push:0'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>${secret}</value></field></x></publish-options></pubsub></iq>`;
}

describe("health, readiness, metrics", () => {
  it("says it is alive and ready when connected to the XMPP server and the database", async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  it("is not ready while the XMPP server is away, and ready again once reconnected", async () => {
    await xmpp.pause();
    await waitFor("readiness to drop", async () => (await fetch(`${base}/readyz`)).status === 503);
    const body = (await (await fetch(`${base}/readyz`)).json()) as { reasons: string[] };
    expect(body.reasons[0]).toMatch(/^xmpp_(connecting|offline)$/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await xmpp.resume();
    await xmpp.waitForComponent();
    await waitFor("readiness to return", async () => (await fetch(`${base}/readyz`)).status === 200);
  });

  it("counts a real push in the Prometheus metrics", async () => {
    const reg = (await (
      await fetch(`${base}/v1/registrations`, json({ jid: "metrics@localhost", deviceId: "m1", provider: "apns", token: TOKEN }))
    ).json()) as { node: string; secret: string };
    const reply = await xmpp.iq(publishIq(reg.node, reg.secret));
    expect(reply.attrs.type).toBe("result");
    await server.writes.flush();
    // The registration gauge is recomputed on a timer (every second here), not per scrape.
    const text = await waitFor("the registration gauge to count the device", async () => {
      const t = await (await fetch(`${base}/metrics`)).text();
      return /xmpp_push_registrations\{app="default",provider="apns"\} [1-9]/.test(t) ? t : undefined;
    });
    expect((await fetch(`${base}/metrics`)).headers.get("content-type")).toMatch(/text\/plain/);
    expect(text).toMatch(/xmpp_push_publishes_total\{result="delivered"\} [1-9]/);
    expect(text).toMatch(/xmpp_push_pushes_total\{app="default",provider="log",outcome="delivered"\} [1-9]/);
    expect(text).toMatch(/xmpp_push_component_connected 1/);
    expect(text).toMatch(/xmpp_push_registrations\{app="default",provider="apns"\} [1-9]/);
    expect(text).toMatch(/xmpp_push_queue_depth 0/);
    expect(text).toMatch(/xmpp_push_provider_latency_seconds_bucket/);
    expect(text).toMatch(/process_resident_memory_bytes/);
  });
});

describe("registration over HTTP", () => {
  it("speaks mod_push_appserver's API: OK, node, secret; and the publish then works", async () => {
    const res = await fetch(`${base}/push_appserver/v1/register`, form({ type: "apns", node: "mpa-device-1", token: TOKEN }));
    expect(res.status).toBe(200);
    const [ok, node, secret] = (await res.text()).trim().split("\n");
    expect([ok, node]).toEqual(["OK", "mpa-device-1"]);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((await xmpp.iq(publishIq(node!, secret!))).attrs.type).toBe("result");
    const again = await fetch(`${base}/push_appserver/v1/register`, form({ type: "apns", node: "mpa-device-1", token: TOKEN }));
    // Registering again: the same node, a new secret (only hashes are stored), and the old one stops working.
    const renewed = (await again.text()).trim().split("\n");
    expect(renewed.slice(0, 2)).toEqual(["OK", "mpa-device-1"]);
    expect(renewed[2]).not.toBe(secret);
    expect((await xmpp.iq(publishIq(node!, secret!))).getChild("error")?.getChildElements()[0]?.name).toBe("not-authorized");
    expect((await xmpp.iq(publishIq(node!, renewed[2]!))).attrs.type).toBe("result");
    const un = await fetch(`${base}/push_appserver/v1/unregister`, form({ type: "apns", node: "mpa-device-1" }));
    expect((await un.text()).trim()).toBe("OK\nmpa-device-1");
    const gone = await fetch(`${base}/push_appserver/v1/unregister`, form({ type: "apns", node: "mpa-device-1" }));
    expect(gone.status).toBe(404);
    expect((await gone.text()).startsWith("ERROR\n")).toBe(true);
    expect(await (await fetch(`${base}/push_appserver/v1/health`)).text()).toBe("RUNNING");
  });

  it("answers bad mod_push_appserver input with ERROR", async () => {
    const res = await fetch(`${base}/push_appserver/v1/register`, form({ type: "carrier-pigeon", node: "x", token: TOKEN }));
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/^ERROR\n/);
  });

  it("registers, re-registers and removes a device through the JSON API", async () => {
    const first = await fetch(
      `${base}/v1/registrations`,
      json({ jid: "alice@localhost/phone", deviceId: "d1", provider: "apns", token: TOKEN, environment: "sandbox" }),
    );
    expect(first.status).toBe(201);
    const a = (await first.json()) as { jid: string; node: string; secret: string };
    expect(a.jid).toBe("push.localhost");
    const second = await fetch(
      `${base}/v1/registrations`,
      json({ jid: "alice@localhost", deviceId: "d1", provider: "apns", token: TOKEN }),
    );
    expect(second.status).toBe(200);
    const b = (await second.json()) as typeof a;
    expect({ jid: b.jid, node: b.node }).toEqual({ jid: a.jid, node: a.node });
    expect(b.secret).not.toBe(a.secret); // a new random secret on every registration
    const del = await fetch(`${base}/v1/registrations`, { ...json({ node: a.node }), method: "DELETE" });
    expect(del.status).toBe(204);
    const again = await fetch(`${base}/v1/registrations`, { ...json({ node: a.node }), method: "DELETE" });
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ error: "no such registration" });
  });

  it("rejects bad JSON input with a message, and refuses other servers' users", async () => {
    const cases: Array<[unknown, number, RegExp]> = [
      [{ deviceId: "d", provider: "apns" }, 400, /token/],
      [{ deviceId: "d", provider: "apns", token: "not hex!" }, 400, /not well-formed/],
      [{ deviceId: "d", provider: "apns", token: TOKEN, surprise: 1 }, 400, /^unknown field$/],
      [{ jid: "eve@elsewhere.example", deviceId: "d", provider: "apns", token: TOKEN }, 403, /may not register for the JID's domain/],
    ];
    for (const [body, status, message] of cases) {
      const res = await fetch(`${base}/v1/registrations`, json(body));
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: string }).error).toMatch(message);
    }
    const notJson = await fetch(`${base}/v1/registrations`, {
      method: "POST",
      headers: { ...auth(REG), "content-type": "application/json" },
      body: "{not json",
    });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({ error: "the body is not valid JSON" });
    const huge = await fetch(`${base}/v1/registrations`, json({ deviceId: "d", provider: "fcm", token: "x".repeat(10_000) }));
    expect(huge.status).toBe(413);
  });

  it("requires the registration bearer token", async () => {
    for (const headers of [{}, auth("wrong-token-wrong-token"), { authorization: REG }, auth(ADMIN)]) {
      const res = await fetch(`${base}/v1/registrations`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: "{}",
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: "missing or wrong bearer token" });
    }
    expect(
      (
        await fetch(`${base}/push_appserver/v1/register`, {
          ...form({ type: "apns", node: "n", token: TOKEN }),
          headers: { "content-type": "application/x-www-form-urlencoded" },
        })
      ).status,
    ).toBe(401);
  });
});

describe("admin API", () => {
  it("shows a registration without its secret or token, and its delivery history", async () => {
    const registeredFrom = Date.now();
    const reg = (await (
      await fetch(`${base}/v1/registrations`, json({ jid: "bob@localhost", deviceId: "b1", provider: "apns", token: TOKEN }))
    ).json()) as { node: string; secret: string };
    await xmpp.iq(publishIq(reg.node, reg.secret));
    await server.writes.flush();
    const res = await fetch(`${base}/v1/registrations/${reg.node}`, { headers: auth(ADMIN) });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(reg.secret);
    expect(text).not.toContain(TOKEN);
    expect(JSON.parse(text)).toMatchObject({
      node: reg.node,
      jid: "bob@localhost",
      hasSecret: true,
      addresses: [{ provider: "apns", tokenFingerprint: expect.stringMatching(/^[0-9a-f]{12}$/) }],
    });
    // Times as ISO 8601 in UTC with milliseconds, as a Date's JSON is, whatever the server holds them as.
    const shown = JSON.parse(text) as { createdAt: string; updatedAt: string; disabledAt: null; addresses: Array<{ updatedAt: string }> };
    for (const time of [shown.createdAt, shown.updatedAt, shown.addresses[0]!.updatedAt]) {
      expect(time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(Date.parse(time)).toBeGreaterThanOrEqual(registeredFrom);
      expect(Date.parse(time)).toBeLessThanOrEqual(Date.now());
    }
    expect(shown.disabledAt).toBeNull();
    const d = (await (await fetch(`${base}/v1/deliveries?node=${reg.node}&since=1h`, { headers: auth(ADMIN) })).json()) as {
      deliveries: Array<{ outcome: string }>;
    };
    expect(d.deliveries.map((r) => r.outcome)).toEqual(["delivered"]);
    expect((await fetch(`${base}/v1/deliveries?since=yesterday-ish`, { headers: auth(ADMIN) })).status).toBe(400);
    expect((await fetch(`${base}/v1/deliveries?limit=0`, { headers: auth(ADMIN) })).status).toBe(400);
    expect((await fetch(`${base}/v1/registrations/nope`, { headers: auth(ADMIN) })).status).toBe(404);
  });

  it("requires the admin bearer token, not the registration one", async () => {
    for (const headers of [{}, auth(REG)]) {
      expect((await fetch(`${base}/v1/deliveries`, { headers })).status).toBe(401);
      expect((await fetch(`${base}/v1/registrations/x`, { headers })).status).toBe(401);
    }
  });

  it("answers unknown paths with JSON", async () => {
    const res = await fetch(`${base}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not found" });
  });
});

describe("limits and switches", () => {
  it("keeps the APIs off when no token is configured, and limits requests per client", async () => {
    const s = await start({
      component: { service: "xmpp://127.0.0.1:1", domain: "push.localhost" },
      http: { port: 0, requestsPerMinute: 5 },
    });
    try {
      const b = s.httpAddress()!;
      const off = await fetch(`${b}/v1/registrations`, json({}));
      expect(off.status).toBe(404);
      expect(((await off.json()) as { error: string }).error).toMatch(/registration API is disabled/);
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await fetch(`${b}/v1/deliveries`)).status);
      expect(statuses.filter((x) => x === 429).length).toBeGreaterThanOrEqual(3);
      // Probes are never limited.
      for (let i = 0; i < 10; i++) expect((await fetch(`${b}/healthz`)).status).toBe(200);
    } finally {
      await s.stop();
    }
  });

  it("is not ready when the database is gone", async () => {
    const own = await freshTestDatabase();
    const s = await createServer(
      testConfig({ component: { service: "xmpp://127.0.0.1:1", domain: "push.localhost" }, http: { port: 0 } }),
      { log: logs.log, db: own },
    );
    await s.start();
    try {
      const before = (await (await fetch(`${s.httpAddress()}/readyz`)).json()) as { reasons?: string[] };
      expect(before.reasons ?? []).not.toContainEqual(expect.stringMatching(/^database/));
      await own.close(); // the database goes away under the running server
      const res = await fetch(`${s.httpAddress()}/readyz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { reasons: string[] }).reasons).toContain("database_unavailable");
      expect((await fetch(`${s.httpAddress()}/healthz`)).status).toBe(200);
    } finally {
      await s.stop();
      await own.dispose();
    }
  });
});
