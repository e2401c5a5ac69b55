import http from "node:http";
import https from "node:https";
import { HttpsProxyAgent } from "https-proxy-agent";
import type { OutboundProxy } from "../config/config-schema.js";

// The sockets every HTTP provider client (JPush, FCM, FCM's OAuth token requests) connects with, and
// the one place that decides whether they go through the outbound proxy (docs/operations.md, "Outbound
// proxy"). With a proxy, every connection is a CONNECT tunnel, for http:// and https:// targets alike,
// the way @parse/node-apn tunnels APNs: the proxy relays bytes and never sees a request or a
// credential. https-proxy-agent is the agent google-auth-library's HTTP client uses for the same job.

export interface OutboundAgents {
  readonly httpAgent: http.Agent;
  readonly httpsAgent: http.Agent;
  /**
   * The proxy's status when it refused to open the tunnel for this request. https-proxy-agent then
   * hands the proxy's own answer (a 403 page, a 407) to the HTTP client as if the provider had sent it.
   */
  tunnelRefusal(request: unknown): number | undefined;
  /** Destroys the keep-alive sockets (and tunnels). */
  destroy(): void;
}

export function createOutboundAgents({ proxy, maxSockets }: { proxy: OutboundProxy | undefined; maxSockets: number }): OutboundAgents {
  const options = { keepAlive: true, maxSockets };
  const url = proxy === undefined ? undefined : proxyUrl(proxy);
  const httpAgent = url === undefined ? new http.Agent(options) : new HttpsProxyAgent(url, options);
  const httpsAgent = url === undefined ? new https.Agent(options) : new HttpsProxyAgent(url, options);
  const refused = new WeakMap<object, number>();
  for (const agent of [httpAgent, httpsAgent]) {
    agent.on("proxyConnect", (answer: { statusCode: number }, request: object) => {
      if (answer.statusCode !== 200) refused.set(request, answer.statusCode);
    });
  }
  return {
    httpAgent,
    httpsAgent,
    tunnelRefusal: (request) => (typeof request === "object" && request !== null ? refused.get(request) : undefined),
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

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
