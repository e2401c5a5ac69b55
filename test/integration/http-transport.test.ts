import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createHttpClient, transportOutcome, type HttpClient } from "../../src/providers/http-transport.js";
import { startConnectProxy, type ConnectProxy } from "../support/connect-proxy.js";
import { listenOnLoopback } from "../support/fakes/fake-http.js";

// What the JPush and FCM adapters rely on from their shared HTTP client, against a loopback server
// whose every answer the test scripts: statuses as values, raw text, the bounds (time, size), no
// redirects, and the way out (the configured proxy only, never the environment's).

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let base: string;
let handler: Handler;
let proxy: ConnectProxy;
const requests: Array<{ method: string; url: string; headers: IncomingMessage["headers"]; body: string }> = [];
let client: HttpClient | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      handler(req, res, body);
    });
  });
  base = `http://127.0.0.1:${await listenOnLoopback(server)}`;
  proxy = await startConnectProxy();
});
afterEach(async () => {
  await client?.close();
  client = undefined;
  requests.length = 0;
  proxy.reset();
  vi.unstubAllEnvs();
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await proxy.stop();
});

function http(options: { timeoutMs?: number; proxy?: boolean; baseUrl?: string } = {}): HttpClient {
  client = createHttpClient({
    baseUrl: options.baseUrl ?? `${base}/v3`,
    basicAuth: { username: "appKey", password: "secret" },
    timeoutMs: options.timeoutMs ?? 5000,
    proxy: options.proxy ? { host: "127.0.0.1", port: proxy.port } : undefined,
  });
  return client;
}

describe("the providers' HTTP client", () => {
  it("sends the path under the base URL with Basic auth and the caller's headers and body", async () => {
    handler = (_req, res) => res.end("{}");
    await http().request({ method: "POST", url: "/push?x=1", body: '{"a":1}', headers: { "content-type": "application/json" } });

    expect(requests).toEqual([
      expect.objectContaining({
        method: "POST",
        url: "/v3/push?x=1",
        body: '{"a":1}',
        headers: expect.objectContaining({
          authorization: `Basic ${Buffer.from("appKey:secret").toString("base64")}`,
          "content-type": "application/json",
          accept: "application/json",
        }),
      }),
    ]);
  });

  it("hands back every status as a value, with the body as raw text and the headers", async () => {
    handler = (_req, res) => res.writeHead(503, { "Retry-After": "7" }).end('{"msg_id":18446744073709551615}');
    const res = await http().request({ method: "GET", url: "/x" });

    expect(res).toMatchObject({ status: 503, body: '{"msg_id":18446744073709551615}' });
    expect(res.headers["retry-after"]).toBe("7");
  });

  it("does not follow a redirect", async () => {
    handler = (req, res) => (req.url === "/v3/moved" ? res.writeHead(302, { Location: "/v3/elsewhere" }).end() : res.end("elsewhere"));
    const res = await http().request({ method: "POST", url: "/moved", body: "{}" });

    expect(res.status).toBe(302);
    expect(requests.map((r) => r.url)).toEqual(["/v3/moved"]);
  });

  it("gives up at its own timeout: retry, maybe delivered", async () => {
    handler = (_req, res) => setTimeout(() => res.end("late"), 1000);
    const started = Date.now();
    const err = await http({ timeoutMs: 100 })
      .request({ method: "POST", url: "/slow", body: "{}" })
      .catch((e: unknown) => e);

    // The outcome says which came first; the bound is the late answer's own time, not a guess at how
    // slow a loaded CI machine may be.
    expect(transportOutcome(err)).toEqual({ class: "retry", reason: "timeout", maybeDelivered: true });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("gives up on a request still waiting for a free connection at once, and then never sends it", async () => {
    handler = () => undefined; // never answers: every connection stays busy
    const client = http({ timeoutMs: 600 });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "answered",
        (e: unknown) => transportOutcome(e).reason,
      );
    const busy = Array.from({ length: 64 }, () => outcome(client.request({ method: "POST", url: "/push", body: "{}" })));
    const started = Date.now();
    const queued = await outcome(client.request({ method: "POST", url: "/queued", body: "{}", signal: AbortSignal.timeout(50) }));

    // "aborted", not the client's own "timeout" at 600 ms: the caller's signal ended it while it waited.
    expect(queued).toBe("aborted");
    expect(Date.now() - started).toBeLessThan(600);
    expect(new Set(await Promise.all(busy))).toEqual(new Set(["timeout"]));
    await new Promise((r) => setTimeout(r, 200));
    expect(requests.map((r) => r.url)).not.toContain("/v3/queued");
  });

  it("gives up at the caller's abort: retry, maybe delivered", async () => {
    handler = (_req, res) => setTimeout(() => res.end("late"), 1000);
    const err = await http()
      .request({ method: "POST", url: "/slow", body: "{}", signal: AbortSignal.timeout(100) })
      .catch((e: unknown) => e);

    expect(transportOutcome(err)).toEqual({ class: "retry", reason: "aborted", maybeDelivered: true });
  });

  it("refuses an answer above 256 KiB", async () => {
    handler = (_req, res) => res.end("x".repeat(300 * 1024));
    const err = await http()
      .request({ method: "GET", url: "/big" })
      .catch((e: unknown) => e);

    expect(transportOutcome(err)).toEqual({ class: "retry", reason: "network error UND_ERR_RES_EXCEEDED_MAX_SIZE", maybeDelivered: true });
  });

  it("says nothing was sent when the connection is refused", async () => {
    const err = await http({ baseUrl: "http://127.0.0.1:1" })
      .request({ method: "POST", url: "/push", body: "{}" })
      .catch((e: unknown) => e);

    expect(transportOutcome(err)).toEqual({ class: "retry", reason: "network error ECONNREFUSED" });
  });

  it("goes direct whatever HTTPS_PROXY and HTTP_PROXY say", async () => {
    for (const name of ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]) vi.stubEnv(name, proxy.url);
    handler = (_req, res) => res.end("ok");

    expect((await http().request({ method: "GET", url: "/x" })).body).toBe("ok");
    expect({ connects: proxy.connects, forwarded: proxy.forwarded }).toEqual({ connects: [], forwarded: [] });
  });

  it("tunnels through the configured proxy, and a refused tunnel is an error that sent nothing", async () => {
    handler = (_req, res) => res.end("ok");
    expect((await http({ proxy: true }).request({ method: "GET", url: "/x" })).body).toBe("ok");
    expect(proxy.tunnelledRequests).toEqual(["GET /v3/x"]);
    await client?.close();

    proxy.refuseTunnels(true);
    const err = await http({ proxy: true })
      .request({ method: "POST", url: "/push", body: "{}" })
      .catch((e: unknown) => e);
    proxy.refuseTunnels(false);

    expect(transportOutcome(err)).toEqual({ class: "retry", reason: "network error EPROXYREFUSED" });
    expect(requests).toHaveLength(1);
  });
});
