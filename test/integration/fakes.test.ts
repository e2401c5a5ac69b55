import { sign } from "node:crypto";
import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";
import axios from "axios";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { startFakeFcm, type FakeFcm } from "../support/fakes/fake-fcm.js";
import { startFakeJpush, type FakeJpush } from "../support/fakes/fake-jpush.js";
import { testCerts } from "../support/fakes/test-certs.js";
import { withCharChanged } from "../support/tamper.js";

// Tests for the loopback provider fakes themselves: each answers with the documented bodies of
// docs/provider-internals.md (APNs, JPush, FCM), so adapter tests can trust them.

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

function signJwt(alg: "ES256" | "RS256", header: object, claims: object, key: string): string {
  const input = `${b64url({ alg, typ: "JWT", ...header })}.${b64url(claims)}`;
  const sig =
    alg === "ES256" ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }) : sign("sha256", Buffer.from(input), key);
  return `${input}.${sig.toString("base64url")}`;
}

interface H2Response {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string, timeoutMs = 2000): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":method": "POST", ...headers });
    stream.setTimeout(timeoutMs, () => {
      stream.close();
      reject(new Error("timeout"));
    });
    let status = 0;
    let resHeaders: Record<string, unknown> = {};
    let text = "";
    stream.on("response", (h) => {
      status = Number(h[":status"]);
      resHeaders = h;
    });
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => (text += d));
    stream.on("end", () => resolve({ status, headers: resHeaders, body: text }));
    stream.on("error", reject);
    stream.end(body);
  });
}

const TOKEN = "a".repeat(64);
const alert = JSON.stringify({ aps: { alert: { title: "New Message", body: "New Message" }, "mutable-content": 1 } });
const pushHeaders = (token = TOKEN): OutgoingHttpHeaders => ({
  ":path": `/3/device/${token}`,
  "apns-topic": "org.example.chat",
  "apns-push-type": "alert",
});

describe("fake APNs", () => {
  let fake: FakeApns;
  let session: ClientHttp2Session;
  const open = () => connect(`https://localhost:${fake.port}`, { ca: fake.ca });
  beforeAll(async () => {
    fake = await startFakeApns();
  });
  afterEach(() => {
    session?.destroy();
    fake.reset();
  });
  afterAll(async () => {
    await fake.stop();
  });

  it("answers 200 with the request's apns-id and records the push", async () => {
    session = open();
    const id = "0d3b4c1e-8f6a-4a57-9d2b-2f7c0b1a9e33";
    const jwt = signJwt("ES256", { kid: "ABC123DEFG" }, { iss: "DEF123GHIJ", iat: 1_700_000_000 }, testCerts().apnsKey);
    const res = await h2Request(session, { ...pushHeaders(), "apns-id": id, authorization: `bearer ${jwt}` }, alert);
    expect(res).toMatchObject({ status: 200, body: "" });
    expect(res.headers["apns-id"]).toBe(id);
    expect(fake.delivered()).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({
      token: TOKEN,
      headers: { "apns-topic": "org.example.chat", "apns-push-type": "alert" },
      payload: JSON.parse(alert) as unknown,
      jwt: { kid: "ABC123DEFG", iss: "DEF123GHIJ", iat: 1_700_000_000 },
    });
  });

  it("answers a scripted 410 Unregistered with a timestamp and a fresh apns-id", async () => {
    session = open();
    fake.script((r) => (r.token === "dead" ? { status: 410, reason: "Unregistered", timestamp: 1_700_000_000_000 } : undefined));
    const res = await h2Request(session, pushHeaders("dead"), alert);
    expect(res.status).toBe(410);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.headers["apns-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(res.body)).toEqual({ reason: "Unregistered", timestamp: 1_700_000_000_000 });
    expect((await h2Request(session, pushHeaders(), alert)).status).toBe(200);
    expect(fake.delivered().map((r) => r.token)).toEqual([TOKEN]);
  });

  it("sends GOAWAY with a scripted answer and serves the client's next connection", async () => {
    session = open();
    fake.setDefault({ status: 503, reason: "Shutdown", goaway: true, retryAfter: 1 });
    const goaway = new Promise<string>((resolve) => session.once("goaway", (_code, _last, data?: Buffer) => resolve(String(data))));
    const res = await h2Request(session, pushHeaders(), alert);
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("1");
    expect(JSON.parse(await goaway)).toEqual({ reason: "Shutdown" });
    fake.setDefault({ status: 200 });
    session.destroy();
    session = open();
    expect((await h2Request(session, pushHeaders(), alert)).status).toBe(200);
  });

  it("refuses the stream of a status-0 script, so the client knows it was never processed", async () => {
    session = open();
    fake.setDefault({ status: 0, goaway: true, reason: "Shutdown" });
    await expect(h2Request(session, pushHeaders(), alert)).rejects.toThrow(/REFUSED_STREAM/);
  });

  it("rejects bad requests the way APNs does", async () => {
    session = open();
    const big = JSON.stringify({ aps: { alert: "x".repeat(4100) } });
    const voip = JSON.stringify({ aps: {}, blob: "x".repeat(5000) });
    const cases: Array<[OutgoingHttpHeaders, string | undefined, number, string | undefined]> = [
      [pushHeaders(), big, 413, "PayloadTooLarge"],
      [{ ...pushHeaders(), "apns-push-type": "voip", "apns-topic": "org.example.chat.voip" }, voip, 200, undefined],
      [{ ...pushHeaders(), ":method": "PUT" }, alert, 405, "MethodNotAllowed"],
      [{ ...pushHeaders(), ":path": "/3/devices/x" }, alert, 404, "BadPath"],
      [{ ":path": `/3/device/${TOKEN}` }, alert, 400, "MissingTopic"],
      [pushHeaders(), undefined, 400, "PayloadEmpty"],
    ];
    for (const [headers, body, status, reason] of cases) {
      const res = await h2Request(session, headers, body);
      expect(res.status, reason).toBe(status);
      if (reason) expect(JSON.parse(res.body)).toEqual({ reason });
    }
  });

  it("never answers a hung stream, and still stops cleanly", async () => {
    const own = await startFakeApns();
    const client = connect(`https://127.0.0.1:${own.port}`, { ca: own.ca });
    own.setDefault({ status: 200, hang: true });
    await expect(h2Request(client, pushHeaders(), alert, 200)).rejects.toThrow("timeout");
    expect(own.delivered()).toHaveLength(0);
    await own.stop();
    client.destroy();
  });

  it("verifies provider tokens when given the public key", async () => {
    const own = await startFakeApns({ verifyJwtWith: testCerts().apnsPublicKey });
    const client = connect(`https://localhost:${own.port}`, { ca: own.ca });
    const now = Math.floor(Date.now() / 1000);
    const good = signJwt("ES256", { kid: "ABC123DEFG" }, { iss: "DEF123GHIJ", iat: now }, testCerts().apnsKey);
    const reason = async (auth?: string) => {
      const res = await h2Request(client, { ...pushHeaders(), ...(auth && { authorization: auth }) }, alert);
      return res.status === 200 ? "ok" : (JSON.parse(res.body) as { reason: string }).reason;
    };
    expect(await reason(`bearer ${good}`)).toBe("ok");
    expect(await reason(`bearer ${withCharChanged(good)}`)).toBe("InvalidProviderToken");
    expect(await reason()).toBe("MissingProviderToken");
    const old = signJwt("ES256", { kid: "ABC123DEFG" }, { iss: "DEF123GHIJ", iat: now - 7200 }, testCerts().apnsKey);
    expect(await reason(`bearer ${old}`)).toBe("ExpiredProviderToken");
    client.destroy();
    await own.stop();
  });
});

describe("fake JPush", () => {
  const creds = { appKey: "a".repeat(24), masterSecret: "s".repeat(24) };
  let fake: FakeJpush;
  const client = () =>
    axios.create({
      baseURL: fake.url,
      auth: { username: creds.appKey, password: creds.masterSecret },
      responseType: "text",
      transformResponse: [(t: unknown) => t],
      validateStatus: () => true,
    });
  const push = { platform: ["ios"], audience: { registration_id: ["regid-1"] }, options: { sendno: 7 } };
  beforeAll(async () => {
    fake = await startFakeJpush(creds);
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await fake.stop();
  });

  it("answers 200 with msg_id as a bare number above 2^53 and rate-limit headers", async () => {
    const res = await client().post<string>("/v3/push", push);
    expect(res.status).toBe(200);
    expect(res.data).toMatch(/^\{"sendno":"7","msg_id":\d{17,}\}$/);
    const msgId = /"msg_id":(\d+)/.exec(res.data)?.[1] ?? "0";
    expect(BigInt(msgId) > 2n ** 53n).toBe(true);
    expect(res.headers).toMatchObject({ "x-rate-limit-quota": "600", "x-rate-limit-remaining": "599", "x-rate-limit-reset": "60" });
    expect(fake.delivered()).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({ method: "POST", path: "/v3/push", auth: creds, body: push });
  });

  it("answers 401 code 1004 to wrong credentials", async () => {
    const res = await client().post<string>("/v3/push", push, { auth: { username: creds.appKey, password: "wrong" } });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.data)).toEqual({ error: { code: 1004, message: "Authen failed" } });
    expect(res.headers["x-rate-limit-remaining"]).toBeDefined();
  });

  it("answers a scripted 1011 with a bare msg_id and the scripted rate-limit headers", async () => {
    fake.setDefault({ httpStatus: 400, code: 1011, rateLimitRemaining: 0, rateLimitReset: 42 });
    const res = await client().post<string>("/v3/push", push);
    expect(res.status).toBe(400);
    expect(res.data).toMatch(/"msg_id":\d+\}$/);
    expect(JSON.parse(res.data)).toMatchObject({
      error: { code: 1011, message: "cannot find user by this audience or has been inactive for more than 255 days" },
    });
    expect(res.headers).toMatchObject({ "x-rate-limit-remaining": "0", "x-rate-limit-reset": "42" });
    expect(fake.delivered()).toHaveLength(0);
  });

  it("replays the first result for a repeated cid without delivering twice", async () => {
    const cids = await client().get<string>("/v3/push/cid?count=2");
    const { cidlist } = JSON.parse(cids.data) as { cidlist: string[] };
    expect(cidlist).toHaveLength(2);
    expect(cidlist[0]).toMatch(new RegExp(`^${creds.appKey}-[0-9a-f-]{36}$`));
    const first = await client().post<string>("/v3/push", { ...push, cid: cidlist[0] });
    const again = await client().post<string>("/v3/push", { ...push, cid: cidlist[0] });
    expect(again.status).toBe(200);
    expect(again.data).toBe(first.data);
    expect(fake.delivered()).toHaveLength(1);
  });

  it("validates without delivering, and rejects missing fields and non-JSON", async () => {
    expect((await client().post<string>("/v3/push/validate", push)).status).toBe(200);
    const missing = await client().post<string>("/v3/push", { platform: "all" });
    expect([missing.status, (JSON.parse(missing.data) as { error: { code: number } }).error.code]).toEqual([400, 1002]);
    const garbage = await client().post<string>("/v3/push", "not json", { headers: { "content-type": "application/json" } });
    expect([garbage.status, (JSON.parse(garbage.data) as { error: { code: number } }).error.code]).toEqual([400, 1003]);
    expect(fake.delivered()).toHaveLength(0);
  });
});

describe("fake FCM", () => {
  let fake: FakeFcm;
  const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
  const message = { message: { token: "fcm-token-1", data: { account: "h" }, android: { priority: "HIGH" } } };

  async function accessToken(overrides: object = {}): Promise<Response> {
    const sa = JSON.parse(fake.serviceAccountJson("proj-1")) as { client_email: string; private_key: string; token_uri: string };
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: sa.client_email, scope: FCM_SCOPE, aud: sa.token_uri, iat: now, exp: now + 3600, ...overrides };
    const assertion = signJwt("RS256", {}, claims, sa.private_key);
    return fetch(sa.token_uri, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }),
    });
  }
  const sendWith = (token: string) =>
    fetch(`${fake.url}/v1/projects/proj-1/messages:send`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(message),
    });
  const freshToken = async () => ((await (await accessToken()).json()) as { access_token: string }).access_token;

  beforeAll(async () => {
    fake = await startFakeFcm();
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await fake.stop();
  });

  it("exchanges a signed service-account assertion for a token that can send", async () => {
    const tokenRes = await accessToken();
    expect(tokenRes.status).toBe(200);
    const token = (await tokenRes.json()) as { access_token: string; expires_in: number; token_type: string };
    expect(token).toMatchObject({ expires_in: 3599, token_type: "Bearer" });
    const res = await sendWith(token.access_token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { name: string }).name).toMatch(/^projects\/proj-1\/messages\/.+/);
    expect(fake.tokenRequests).toBe(1);
    expect(fake.delivered()).toEqual([expect.objectContaining({ projectId: "proj-1", accessToken: token.access_token, body: message })]);
  });

  it("rejects assertions with a wrong audience or an expiry in the past", async () => {
    for (const overrides of [{ aud: "https://oauth2.googleapis.com/token" }, { exp: Math.floor(Date.now() / 1000) - 10 }]) {
      const res = await accessToken(overrides);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_grant");
    }
  });

  it("answers a scripted 404 UNREGISTERED in the FcmError shape", async () => {
    fake.setDefault({ httpStatus: 404, errorCode: "UNREGISTERED" });
    const res = await sendWith(await freshToken());
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        code: 404,
        message: "Requested entity was not found.",
        status: "NOT_FOUND",
        details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "UNREGISTERED" }],
      },
    });
    expect(fake.delivered()).toHaveLength(0);
  });

  it("answers 401 UNAUTHENTICATED once tokens are expired", async () => {
    const token = await freshToken();
    fake.expireTokens();
    const res = await sendWith(token);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" },
    });
    expect((await sendWith(await freshToken())).status).toBe(200);
  });
});
