import { createServer, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { listenOnLoopback } from "./fakes/fake-http.js";

// A recording HTTP CONNECT proxy on loopback, for the outbound-proxy tests. It relays tunnels to
// loopback targets only (anything else gets 403) and records what it was asked to do: each CONNECT
// target, the request lines it can read inside plain-HTTP tunnels (the fakes speak plain HTTP, so
// "POST /token" and "POST /v1/.../messages:send" are visible; APNs's TLS is not), and any request
// sent to it as a forward proxy, which a client that only tunnels never makes.

export interface ConnectProxy {
  /** `http://127.0.0.1:<port>`, the value for httpsProxy / HTTPS_PROXY. */
  readonly url: string;
  readonly port: number;
  /** `host:port` of every CONNECT request, in order. */
  readonly connects: string[];
  /** `METHOD /path` of every HTTP/1.1 request line seen inside a tunnel. */
  readonly tunnelledRequests: string[];
  /** `METHOD url` of every request sent to the proxy itself (forward-proxy style). */
  readonly forwarded: string[];
  /** Answer every CONNECT with 403, as a proxy does for a host it does not allow. */
  refuseTunnels(refuse: boolean): void;
  reset(): void;
  stop(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
const REQUEST_LINE = /(?:^|\r\n)(GET|POST|PUT|DELETE|PATCH|HEAD) (\S+) HTTP\/1\.[01]\r\n/g;

export async function startConnectProxy(): Promise<ConnectProxy> {
  const connects: string[] = [];
  const tunnelledRequests: string[] = [];
  const forwarded: string[] = [];
  const sockets = new Set<Socket>();
  let refuseAll = false;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };

  const server = createServer((req, res) => {
    forwarded.push(`${req.method ?? "?"} ${req.url ?? ""}`);
    res.writeHead(405, { "Content-Type": "text/plain" }).end("this test proxy only tunnels (CONNECT)\n");
  });
  server.on("connect", (req: IncomingMessage, client: Socket, head: Buffer) => {
    track(client);
    const target = req.url ?? "";
    connects.push(target);
    const { host, port } = splitTarget(target);
    if (refuseAll || !LOOPBACK.has(host) || !Number.isInteger(port) || port < 1 || port > 65535) {
      const page = "<html><body>Access Denied</body></html>\n";
      client.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: ${page.length}\r\n\r\n${page}`);
      return;
    }
    const upstream = connect({ host: host.replace(/^\[|\]$/g, ""), port });
    track(upstream);
    upstream.once("connect", () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) upstream.write(head);
      client.on("data", (chunk: Buffer) => {
        for (const m of chunk.toString("latin1").matchAll(REQUEST_LINE)) tunnelledRequests.push(`${m[1]} ${m[2]}`);
      });
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.once("error", () => {
      if (upstream.connecting) client.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      else client.destroy();
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  server.on("connection", track);

  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connects,
    tunnelledRequests,
    forwarded,
    refuseTunnels(refuse) {
      refuseAll = refuse;
    },
    reset() {
      refuseAll = false;
      connects.length = 0;
      tunnelledRequests.length = 0;
      forwarded.length = 0;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitTarget(target: string): { host: string; port: number } {
  const at = target.lastIndexOf(":");
  return at <= 0 ? { host: target, port: Number.NaN } : { host: target.slice(0, at), port: Number(target.slice(at + 1)) };
}
