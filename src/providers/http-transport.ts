import type { Agent } from "node:http";
import axios, { AxiosError, type AxiosBasicCredentials, type AxiosInstance } from "axios";
import type { DeliveryOutcome } from "../domain/delivery-outcome.js";
import type { OutboundProxy } from "../config/config-schema.js";
import { tokenFingerprint } from "../domain/secret.js";
import { createOutboundAgents } from "./outbound-agents.js";

// The axios setup the JPush and FCM adapters share (docs/provider-internals.md "Clients"): keep-alive agents, a hard
// timeout, every HTTP status handed back as a value (validateStatus), the body as raw text (JSON.parse
// would corrupt JPush's msg_id above 2^53), no redirects and no retries of its own (one request
// per attempt; retrying is delivery/retry-policy's job). The proxy is only ever the one configured
// (httpsProxy): `proxy: false` stops axios from picking up HTTPS_PROXY / HTTP_PROXY from the
// environment on its own, which @parse/node-apn never does, so no provider silently differs.

export interface HttpClient {
  readonly http: AxiosInstance;
  /** The agent for a URL, for other HTTP clients that must take the same way out (google-auth-library). */
  agentFor(url: URL): Agent;
  /** Destroys the keep-alive sockets. */
  close(): void;
}

// Bounded, like every queue and pool here; one device per request, so this caps concurrent pushes per app and provider.
const MAX_SOCKETS = 64;
const MAX_RESPONSE_BYTES = 256 * 1024;

export function createHttpClient({
  baseURL,
  auth,
  timeoutMs,
  proxy,
}: {
  baseURL?: string;
  auth?: AxiosBasicCredentials;
  timeoutMs: number;
  proxy: OutboundProxy | undefined;
}): HttpClient {
  const agents = createOutboundAgents({ proxy, maxSockets: MAX_SOCKETS });
  const { httpAgent, httpsAgent } = agents;
  const client = axios.create({
    ...(baseURL !== undefined ? { baseURL } : {}),
    ...(auth !== undefined ? { auth } : {}),
    timeout: timeoutMs,
    // The agents only apply to the Node http adapter; never let axios pick fetch.
    adapter: "http",
    httpAgent,
    httpsAgent,
    proxy: false,
    responseType: "text",
    transformResponse: [(data: unknown) => data],
    validateStatus: () => true,
    maxRedirects: 0,
    maxContentLength: MAX_RESPONSE_BYTES,
    headers: { Accept: "application/json" },
  });
  // A refused tunnel is no answer from the provider: it becomes a transport error, and nothing was sent.
  client.interceptors.response.use((res) => {
    const status = agents.tunnelRefusal(res.request);
    if (status === undefined) return res;
    throw new AxiosError(`the outbound proxy refused the tunnel (HTTP ${status})`, PROXY_REFUSED, res.config, res.request);
  });
  return {
    http: client,
    agentFor: (url) => (url.protocol === "https:" ? httpsAgent : httpAgent),
    close: agents.destroy,
  };
}

const PROXY_REFUSED = "EPROXYREFUSED";

// Errors that happen before a byte of the request can have reached the provider: nothing was pushed, a
// retry cannot duplicate. Everything else (timeouts, resets, our own abort) may have been accepted.
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "ERR_INVALID_URL",
  "CERT_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  PROXY_REFUSED,
]);

/**
 * A request that got no HTTP answer: always retry (docs/provider-internals.md "Clients", "APNs": "network error,
 * timeout"). After a timeout or abort the provider may have accepted it: maybeDelivered, so the retry
 * policy only resends with the idempotency key (JPush cid) or accepts a possible duplicate wake-up.
 */
export function transportOutcome(err: unknown): DeliveryOutcome {
  const code = errorCode(err);
  if (axios.isCancel(err) || code === "ERR_CANCELED") return { class: "retry", reason: "aborted", maybeDelivered: true };
  if (code === "ECONNABORTED" || code === "ETIMEDOUT") return { class: "retry", reason: "timeout", maybeDelivered: true };
  if (code !== undefined && NOT_SENT_CODES.has(code)) return { class: "retry", reason: `network error ${code}` };
  return { class: "retry", reason: `network error ${code ?? "unknown"}`, maybeDelivered: true };
}

/** Reads a response header as a number of seconds; undefined when absent or not a number. */
export function headerSeconds(value: unknown): number | undefined {
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const n = Number(value);
  return Number.isFinite(n) && String(value).trim() !== "" ? n : undefined;
}

/** The body as JSON, or undefined when it is not JSON (a gateway's HTML page, an empty 502). */
export function parseJsonBody(data: unknown): unknown {
  if (typeof data !== "string") return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A provider's error text with the device token replaced by its fingerprint: the text goes into logs and
 * the audit reason, and tokens never do, whatever a provider chooses to echo.
 */
export function scrubToken(text: string | undefined, token: string): string | undefined {
  return text === undefined || token === "" ? text : text.split(token).join(`[token ${tokenFingerprint(token)}]`);
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}
