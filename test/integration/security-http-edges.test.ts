import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadConfig } from "../../src/config/load-config.js";
import { createServer, type Server } from "../../src/main.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { testConfig } from "../support/test-config.js";
import { waitFor } from "../support/wait-for.js";

// Issue 11.2, 11.3, 11.12-11.14: the edges of the HTTP server. Slow clients are cut off, tokens are
// checked before a body is read, /metrics can require a token, the rate limit keys on the client behind
// a trusted proxy, /readyz tells the public codes only, the admin API has its own prefix.

const ADMIN = "admin-token-0123456789abcdef";
const REG = "registration-token-0123456789";
const METRICS = "metrics-token-0123456789abcd";
const NO_XMPP = { service: "xmpp://127.0.0.1:1", domain: "push.localhost" };

let db: TestDatabase;
let ownDb: TestDatabase;
let strict: Server; // short timeouts, metrics token
let proxied: Server; // behind a trusted proxy, 3 requests a minute
let direct: Server; // no trusted proxy, 3 requests a minute, 5 connections, its own database
const logs = recordingLogger("debug");

beforeAll(async () => {
  db = await freshTestDatabase();
  ownDb = await freshTestDatabase();
  strict = await createServer(
    testConfig({
      component: NO_XMPP,
      http: {
        port: 0,
        adminToken: ADMIN,
        registrationToken: REG,
        metricsToken: METRICS,
        requestsPerMinute: 10_000,
        headersTimeoutMs: 600,
        requestTimeoutMs: 1500,
        idleTimeoutMs: 1000,
      },
    }),
    { log: logs.log, db },
  );
  proxied = await createServer(testConfig({ component: NO_XMPP, http: { port: 0, requestsPerMinute: 3, trustProxy: ["127.0.0.1"] } }), {
    log: logs.log,
    db,
  });
  direct = await createServer(testConfig({ component: NO_XMPP, http: { port: 0, requestsPerMinute: 3, maxConnections: 5 } }), {
    log: logs.log,
    db: ownDb,
  });
  for (const s of [strict, proxied, direct]) await s.start();
});

afterAll(async () => {
  for (const s of [strict, proxied, direct]) await s?.stop();
  await db?.dispose();
  await ownDb?.dispose();
});

/** A raw client: what it wrote, what it got, when the server closed it. */
async function rawClient(server: Server): Promise<{ socket: Socket; received: () => string; closedAfterMs: () => number | undefined }> {
  const { port } = new URL(server.httpAddress()!);
  const socket = connect(Number(port), "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const opened = Date.now();
  let data = "";
  let closedAt: number | undefined;
  socket.on("data", (d) => (data += String(d)));
  socket.on("error", () => undefined);
  socket.on("close", () => (closedAt = Date.now()));
  return { socket, received: () => data, closedAfterMs: () => (closedAt === undefined ? undefined : closedAt - opened) };
}

describe("slow clients", () => {
  it("closes a client that drips its headers once the header deadline passes", async () => {
    const c = await rawClient(strict);
    c.socket.write("GET /healthz HTTP/1.1\r\nHost: a\r\n");
    for (let i = 0; i < 30 && c.closedAfterMs() === undefined; i++) {
      c.socket.write(`X-Drip-${i}: 1\r\n`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const closedAfter = await waitFor("the server to close the dripping client", () => c.closedAfterMs(), 5000);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(closedAfter).toBeLessThan(2800); // 600 ms deadline, checked every second
  });

  it("closes a client that drips its body once the request deadline passes", async () => {
    const c = await rawClient(strict);
    c.socket.write(
      `POST /v1/registrations HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${REG}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
    );
    for (let i = 0; i < 40 && c.closedAfterMs() === undefined; i++) {
      c.socket.write(" ");
      await new Promise((r) => setTimeout(r, 100));
    }
    const closedAfter = await waitFor("the server to close the slow body", () => c.closedAfterMs(), 6000);
    expect(closedAfter).toBeLessThan(3800); // 1500 ms deadline, checked every second
  });

  it("answers 401 before reading the body of a request without the token", async () => {
    const c = await rawClient(strict);
    // Headers announce a body that never comes: the answer must not wait for it.
    c.socket.write("POST /v1/registrations HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n");
    const answer = await waitFor("an answer", () => (c.received().includes("\r\n\r\n") ? c.received() : undefined), 5000);
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
    c.socket.destroy();
  });

  it("accepts at most maxConnections sockets at once", async () => {
    const held = await Promise.all(Array.from({ length: 5 }, () => rawClient(direct)));
    await expect(fetch(`${direct.httpAddress()}/healthz`)).rejects.toThrow();
    for (const c of held) c.socket.destroy();
    await waitFor("a free connection", async () => (await fetch(`${direct.httpAddress()}/healthz`).catch(() => undefined))?.status === 200);
  });
});

describe("metrics", () => {
  it("requires the metrics token when one is configured; probes stay open", async () => {
    expect((await fetch(`${strict.httpAddress()}/metrics`)).status).toBe(401);
    expect((await fetch(`${strict.httpAddress()}/metrics`, { headers: { authorization: `Bearer ${REG}` } })).status).toBe(401);
    const ok = await fetch(`${strict.httpAddress()}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/xmpp_push_http_requests_total/);
    expect((await fetch(`${strict.httpAddress()}/healthz`)).status).toBe(200);
  });

  it("answers a scrape from memory: no registration count runs per scrape", async () => {
    const counts: string[] = [];
    const onQuery = (q: { sql: string }) => {
      if (/count/i.test(q.sql)) counts.push(q.sql);
    };
    db.knex.on("query", onQuery);
    try {
      for (let i = 0; i < 20; i++)
        expect((await fetch(`${strict.httpAddress()}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).status).toBe(200);
    } finally {
      db.knex.removeListener("query", onQuery);
    }
    // The timer (every 30 s by default) may have fired once meanwhile, never 20 times.
    expect(counts.length).toBeLessThanOrEqual(2);
  });
});

describe("behind a reverse proxy", () => {
  const hit = (server: Server, forwardedFor: string) =>
    fetch(`${server.httpAddress()}/admin/v1/deliveries`, { headers: { "x-forwarded-for": forwardedFor } });

  it("limits each client behind a trusted proxy on its own", async () => {
    for (let i = 0; i < 3; i++) expect((await hit(proxied, "203.0.113.1")).status).toBe(404);
    const limited = await hit(proxied, "203.0.113.1");
    expect(limited.status).toBe(429);
    expect(await limited.json()).toEqual({ error: expect.stringMatching(/^too many requests; retry in \d+ s$/) });
    expect((await hit(proxied, "203.0.113.2")).status).toBe(404);
  });

  it("ignores X-Forwarded-For from a peer it does not trust", async () => {
    for (let i = 0; i < 3; i++) await hit(direct, `198.51.100.${i}`);
    expect((await hit(direct, "198.51.100.99")).status).toBe(429);
  });

  it("takes the trusted proxies from XMPP_PUSH_HTTP_TRUST_PROXY", () => {
    const config = loadConfig({ env: { XMPP_PUSH_HTTP_TRUST_PROXY: "10.0.0.0/8, loopback" } });
    expect(config.http.trustProxy).toEqual(["10.0.0.0/8", "loopback"]);
    expect(() => loadConfig({ env: { XMPP_PUSH_HTTP_TRUST_PROXY: "true" } })).toThrow(
      /http\.trustProxy\[0\] \(XMPP_PUSH_HTTP_TRUST_PROXY\)|http\.trustProxy\[0\]: must be an IP address/,
    );
    expect(() => loadConfig({ env: { XMPP_PUSH_HTTP_TRUST_PROXY: "10.0.0.0/33" } })).toThrow(/must be an IP address/);
  });
});

describe("admin API", () => {
  it("has its own prefix; the old paths still answer behind the admin token, marked deprecated", async () => {
    const base = strict.httpAddress()!;
    const reg = (await (
      await fetch(`${base}/v1/registrations`, {
        method: "POST",
        headers: { authorization: `Bearer ${REG}`, "content-type": "application/json" },
        body: JSON.stringify({ deviceId: "adm", provider: "apns", token: "ab".repeat(32) }),
      })
    ).json()) as { node: string };
    const now = await fetch(`${base}/admin/v1/registrations/${reg.node}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(now.status).toBe(200);
    expect(now.headers.get("deprecation")).toBeNull();
    const old = await fetch(`${base}/v1/registrations/${reg.node}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(old.status).toBe(200);
    expect(old.headers.get("deprecation")).toBe("true");
    expect(await old.json()).toEqual(
      await (await fetch(`${base}/admin/v1/registrations/${reg.node}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json(),
    );
    for (const path of [`/admin/v1/registrations/${reg.node}`, `/v1/registrations/${reg.node}`, "/admin/v1/deliveries", "/v1/deliveries"]) {
      expect((await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${REG}` } })).status).toBe(401);
    }
    expect((await fetch(`${base}/admin/v1/deliveries`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
  });

  it("is not among the chart's default ingress paths", () => {
    const values = parseYaml(readFileSync(new URL("../../helm/xmpp-push/values.yaml", import.meta.url), "utf8")) as {
      ingress: { hosts: Array<{ paths: Array<{ path: string; pathType: string }> }> };
    };
    const paths = values.ingress.hosts.flatMap((h) => h.paths);
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) {
      expect(p.path.startsWith("/admin")).toBe(false);
      // A Prefix /v1/registrations would expose GET /v1/registrations/<node> (the deprecated admin path).
      if (p.path === "/v1/registrations") expect(p.pathType).toBe("Exact");
    }
  });
});

describe("readiness", () => {
  it("tells the public short codes; the details go to the log", async () => {
    const url = `${direct.httpAddress()}/readyz`;
    await ownDb.close(); // the database goes away under the running server
    const res = await fetch(url);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { reasons: string[] };
    expect(body.reasons).toContain("database_unavailable");
    for (const r of body.reasons) expect(r).toMatch(/^[a-z_]+$/);
    const logged = logs.lines().find((l) => l.msg === "not ready" && JSON.stringify(l.reasons).includes("database_unavailable"));
    expect(JSON.stringify(logged?.reasons)).toMatch(/"detail":"[^"]{8,}/);
  });
});
