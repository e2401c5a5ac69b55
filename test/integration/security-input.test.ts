import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "../../src/main.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { testConfig } from "../support/test-config.js";

// Issue 11.11: hostile input gets a 400 (or 403/404) that does not repeat it, never a 500 and never an
// ERROR log line. An answer that echoes input ends up in someone's admin page or log viewer.

const ADMIN = "admin-token-0123456789abcdef";
const REG = "registration-token-0123456789";
const MARKUP = "<img src=x onerror=alert(1)>";

let db: TestDatabase;
let server: Server;
let base: string;
const logs = recordingLogger("debug");

beforeAll(async () => {
  db = await freshTestDatabase();
  server = await createServer(
    testConfig({
      component: { service: "xmpp://127.0.0.1:1", domain: "push.localhost" },
      http: { port: 0, adminToken: ADMIN, registrationToken: REG, requestsPerMinute: 10_000 },
    }),
    { log: logs.log, db },
  );
  await server.start();
  base = server.httpAddress()!;
});

afterAll(async () => {
  await server?.stop();
  await db?.dispose();
});

const send = (method: string, path: string, body: string, contentType = "application/json", token = REG) =>
  fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": contentType }, body });
const adminGet = (path: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
const errorLines = () => logs.lines().filter((l) => Number(l.level) >= 50 || l.level === "error");

async function expectRefusal(res: Response, status: number): Promise<string> {
  const text = await res.text();
  expect(res.status).toBe(status);
  expect(text).not.toContain("<img");
  expect(text).not.toContain("onerror");
  return text;
}

describe("answers without echoing the client's input", () => {
  it("does not repeat a JID's domain it does not serve", async () => {
    const res = await send(
      "POST",
      "/v1/registrations",
      JSON.stringify({ jid: `eve@${MARKUP}`, deviceId: "d", provider: "apns", token: "ab".repeat(32) }),
    );
    expect(JSON.parse(await expectRefusal(res, 403))).toEqual({ error: "this token may not register for the JID's domain" });
  });

  it("does not repeat the domain from the registration service either (XMPP and CLI callers)", async () => {
    const r = await server.registrations.register({
      ownerJid: `eve@${MARKUP}`,
      deviceId: "d",
      dialect: "p2",
      provider: "apns",
      token: "ab".repeat(32),
      withSecret: true,
    });
    expect(r).toMatchObject({ ok: false, reason: "domain" });
    expect(JSON.stringify(r)).not.toContain("onerror");
  });

  it("does not repeat unknown field names, a broken JSON body or a content type", async () => {
    const unknown = await send(
      "POST",
      "/v1/registrations",
      JSON.stringify({ deviceId: "d", provider: "apns", token: "ab".repeat(32), [MARKUP]: 1 }),
    );
    expect(JSON.parse(await expectRefusal(unknown, 400))).toEqual({ error: "unknown field" });
    const broken = await send("POST", "/v1/registrations", `{"deviceId": ${MARKUP}`);
    expect(JSON.parse(await expectRefusal(broken, 400))).toEqual({ error: "the body is not valid JSON" });
    const type = await send("POST", "/v1/registrations", "x", `text/${MARKUP}`);
    expect(JSON.parse(await expectRefusal(type, 415))).toEqual({ error: "unsupported content type" });
  });
});

describe("validates instead of failing with a 500", () => {
  it("refuses a node with a NUL byte in a delete", async () => {
    const res = await send("DELETE", "/v1/registrations", JSON.stringify({ node: "a\u0000" }));
    expect(JSON.parse(await expectRefusal(res, 400))).toEqual({ error: "node: must be 1 to 256 URL-safe characters" });
    const form = await send(
      "POST",
      "/push_appserver/v1/unregister",
      new URLSearchParams({ type: "apns", node: "a\u0000" }).toString(),
      "application/x-www-form-urlencoded",
    );
    expect(form.status).toBe(400);
    const device = await send("DELETE", "/v1/registrations", JSON.stringify({ jid: "a\u0000@localhost", deviceId: "d\u0000" }));
    expect(device.status).toBe(404);
    expect(errorLines()).toEqual([]);
  });

  it("refuses an admin lookup of a node with a NUL byte, and impossible times", async () => {
    expect((await adminGet("/admin/v1/registrations/a%00b")).status).toBe(400);
    expect((await adminGet("/v1/registrations/a%00b")).status).toBe(400);
    for (const since of ["99999999999999d", "9999999999d", "+275760-09-13T00:00:00Z", "-000001-01-01", "1e400", "2026-02-31T99:99"]) {
      const res = await adminGet(`/admin/v1/deliveries?since=${encodeURIComponent(since)}`);
      expect(JSON.parse(await expectRefusal(res, 400))).toEqual({
        error: "since: an ISO time or a duration such as 1h or 7d, within 100 years",
      });
    }
    expect((await adminGet(`/admin/v1/deliveries?node=${encodeURIComponent("a\u0000")}`)).status).toBe(400);
    expect((await adminGet("/admin/v1/deliveries?since=7d")).status).toBe(200);
    expect((await adminGet("/admin/v1/deliveries?since=2026-01-01T00:00:00Z")).status).toBe(200);
    expect(errorLines()).toEqual([]);
  });
});
