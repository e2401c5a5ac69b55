import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { HttpsProxyAgent } from "https-proxy-agent";
import { Agent, Pool, ProxyAgent, type Dispatcher } from "undici";
import type { OutboundProxy } from "../config/config-schema.js";
import { withCode } from "./http-exchange.js";

// The way out for every HTTP provider client (JPush, FCM, FCM's OAuth token requests), and the one
// place that decides whether it goes through the outbound proxy (docs/operations.md, "Outbound
// proxy"). With a proxy, every connection is a CONNECT tunnel, for http:// and https:// targets alike,
// as APNs is tunnelled: the proxy relays bytes and never sees a request or a
// credential. Two shapes of the same way out: an undici dispatcher for our own requests
// (http-transport), and node http.Agents for google-auth-library, which only takes those;
// https-proxy-agent is the agent that library's HTTP client uses for the same job.

/** Nothing left for the provider: the proxy answered the CONNECT with this status instead of a tunnel. */
export const PROXY_REFUSED = "EPROXYREFUSED";

export interface OutboundDispatcherOptions {
  readonly proxy: OutboundProxy | undefined;
  /** Connections per origin. */
  readonly connections: number;
  readonly maxResponseBytes: number;
}

/**
 * undici's plain Agent and its ProxyAgent: neither reads HTTPS_PROXY / HTTP_PROXY / NO_PROXY (only
 * EnvHttpProxyAgent would), so the configured proxy is the only one, as for APNs.
 */
export function createOutboundDispatcher({ proxy, connections, maxResponseBytes }: OutboundDispatcherOptions): Dispatcher {
  const options = {
    connections,
    maxResponseSize: maxResponseBytes,
    // One request at a time per connection (undici pipelines no POST unless told it is idempotent).
    // Pipelining would be unsafe: when a connection drops, every request queued behind the first may
    // or may not have been processed, and FCM has no idempotency key (nor has a JPush push that got
    // no cid); and one slow answer would hold up the rest.
    pipelining: 1,
  };
  if (proxy === undefined) return new Agent(options);
  return new ProxyAgent({
    ...options,
    uri: proxyUrl(proxy),
    // Tunnel plain-http targets too (the fakes, a provider's http URL), instead of forward-proxying them.
    proxyTunnel: true,
    clientFactory: (origin, opts) => tunnelRefusalsAsErrors(new Pool(origin, opts)),
  });
}

/**
 * undici hands a refused CONNECT (a proxy's 403 or 407) to the request as UND_ERR_ABORTED, the code of
 * an abort. The pool that sends the CONNECTs turns it into its own error first: nothing reached the
 * provider, and the text names the proxy's answer.
 */
function tunnelRefusalsAsErrors(pool: Pool): Pool {
  const connect = pool.connect.bind(pool) as (options: Dispatcher.ConnectOptions) => Promise<Dispatcher.ConnectData>;
  return Object.assign(pool, {
    connect: async (options: Dispatcher.ConnectOptions) => {
      const data = await connect(options);
      if (data.statusCode === 200) return data;
      data.socket.destroy();
      throw proxyRefused(data.statusCode);
    },
  });
}

/**
 * A CONNECT tunnel through the proxy to host:port: the socket to run TLS over. A refusal (the proxy's
 * 403 or 407) rejects with PROXY_REFUSED, the proxy's status in the text.
 */
export function openTunnel(proxy: OutboundProxy, host: string, port: number): Promise<Socket> {
  const target = `${hostForUrl(host)}:${port}`;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: "CONNECT",
      path: target,
      headers: { host: target },
      agent: false,
    });
    req.once("connect", (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(proxyRefused(res.statusCode));
    });
    req.once("error", reject);
    req.end();
  });
}

export interface OutboundAgents {
  readonly httpAgent: http.Agent;
  readonly httpsAgent: http.Agent;
  /** Destroys the keep-alive sockets (and tunnels). */
  destroy(): void;
}

/** node http.Agents for clients that take nothing else (google-auth-library's gaxios). */
export function createOutboundAgents({ proxy, maxSockets }: { proxy: OutboundProxy | undefined; maxSockets: number }): OutboundAgents {
  const options = { keepAlive: true, maxSockets };
  const url = proxy === undefined ? undefined : proxyUrl(proxy);
  const httpAgent = url === undefined ? new http.Agent(options) : new HttpsProxyAgent(url, options);
  const httpsAgent = url === undefined ? new https.Agent(options) : new HttpsProxyAgent(url, options);
  return {
    httpAgent,
    httpsAgent,
    destroy() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** `host:port`, for logs; the config admits no credentials in a proxy URL, so there are none to hide. */
export function describeProxy(proxy: OutboundProxy): string {
  return `${hostForUrl(proxy.host)}:${proxy.port}`;
}

function proxyUrl(proxy: OutboundProxy): string {
  return `http://${describeProxy(proxy)}`;
}

function proxyRefused(status: number | undefined): Error {
  return withCode(PROXY_REFUSED, `the outbound proxy refused the tunnel (HTTP ${status})`);
}

/** A host as it stands in a URL or a CONNECT target: an IPv6 address in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
