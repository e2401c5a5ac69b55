import type { Agent } from "node:http";
import type { DeliveryOutcome } from "../domain/delivery-outcome.js";
import type { OutboundProxy } from "../config/config-schema.js";
import { tokenFingerprint } from "../domain/secret.js";
import { CANCELED, exchange, REFUSED_STREAM, TIMED_OUT, type HttpAnswer } from "./http-exchange.js";
import { createOutboundAgents, createOutboundDispatcher, PROXY_REFUSED, type OutboundAgents } from "./outbound-agents.js";

// The HTTP client the JPush and FCM adapters share (docs/provider-internals.md "Clients"): undici, the
// client behind Node's own fetch, on keep-alive connections. It was axios, whose per-request work
// (merged configs, header objects, node:http's request machinery) was the largest single cost of a
// JPush push. Not fetch itself: it adds WHATWG Request/Response/Headers objects to every request, and
// the size limit and connection bound need an undici dispatcher anyway.
// What it guarantees: a hard timeout per request on top of the caller's signal, every HTTP status
// handed back as a value, the body as raw text (JSON.parse would corrupt JPush's msg_id above 2^53), a
// bounded response size, no redirects (undici follows none unless asked) and no retries of its own
// (one request per attempt; retrying is delivery/retry-policy's job). The proxy is only ever the one
// configured (outbound-agents).

export interface HttpRequest {
  readonly method: "GET" | "POST";
  /** A path (with its query) under the client's baseUrl, or an absolute http(s) URL. */
  readonly url: string;
  /** Already serialised; say what it is in `headers["content-type"]`. */
  readonly body?: string;
  /** Lower-case names; added to the client's own (accept, Basic authorization). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export type { HttpAnswer };

export interface HttpClient {
  /** The provider's answer; rejects only when there is none (see transportOutcome). */
  request(req: HttpRequest): Promise<HttpAnswer>;
  /** A node agent for a URL, for other HTTP clients that must take the same way out (google-auth-library). */
  agentFor(url: URL): Agent;
  /** Destroys the keep-alive connections (and tunnels). */
  close(): Promise<void>;
}

// Bounded, like every queue and pool here; one device per request, so this caps concurrent pushes per app and provider.
const MAX_CONNECTIONS = 64;
const MAX_RESPONSE_BYTES = 256 * 1024;

export function createHttpClient({
  baseUrl,
  basicAuth,
  timeoutMs,
  proxy,
}: {
  baseUrl?: string;
  basicAuth?: { readonly username: string; readonly password: string };
  timeoutMs: number;
  proxy: OutboundProxy | undefined;
}): HttpClient {
  const dispatcher = createOutboundDispatcher({ proxy, connections: MAX_CONNECTIONS, maxResponseBytes: MAX_RESPONSE_BYTES });
  // Built once: the Basic credentials never change, and a request only adds what it needs.
  const ownHeaders: Record<string, string> = {
    accept: "application/json",
    ...(basicAuth !== undefined ? { authorization: basicAuthorization(basicAuth) } : {}),
  };
  const base = baseUrl === undefined ? undefined : new URL(baseUrl);
  // Read once: URL's getters build a new string on every read.
  const baseOrigin = base?.origin;
  const basePath = base?.pathname.replace(/\/+$/, "") ?? "";
  // The merged headers of the last request's own headers: an adapter passes the same constant object
  // on every push (JPush's content-type), so they are merged once, not per request. undici only reads them.
  let mergedFor: Readonly<Record<string, string>> | undefined;
  let merged = ownHeaders;
  const withOwnHeaders = (headers: Readonly<Record<string, string>>) => {
    if (headers !== mergedFor) {
      merged = { ...ownHeaders, ...headers };
      mergedFor = headers;
    }
    return merged;
  };
  // Only google-auth-library needs node agents: made on its first token request.
  let agents: OutboundAgents | undefined;

  const target = (url: string): { origin: string; path: string } => {
    if (/^https?:\/\//i.test(url)) {
      const u = new URL(url);
      return { origin: u.origin, path: `${u.pathname}${u.search}` };
    }
    if (baseOrigin === undefined) throw new Error(`a relative URL (${url}) needs a baseUrl`);
    return { origin: baseOrigin, path: `${basePath}${url}` };
  };

  return {
    request({ method, url, body, headers, signal }) {
      const request = {
        ...target(url),
        method,
        headers: headers === undefined ? ownHeaders : withOwnHeaders(headers),
        body: body ?? null,
      };
      return exchange(dispatcher, request, { timeoutMs, signal });
    },
    agentFor(url) {
      agents ??= createOutboundAgents({ proxy, maxSockets: MAX_CONNECTIONS });
      return url.protocol === "https:" ? agents.httpsAgent : agents.httpAgent;
    },
    async close() {
      agents?.destroy();
      await dispatcher.destroy();
    },
  };
}

function basicAuthorization({ username, password }: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
}

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
  // undici: no connection within its connect timeout; the proxy dropped or failed the tunnel's set-up.
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_PRX_CONN",
  "UND_ERR_PRX_TLS",
  PROXY_REFUSED,
  // HTTP/2 (APNs): a stream the server refused, or one that could not be opened on a closing session.
  REFUSED_STREAM,
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_INVALID_SESSION",
]);

// undici's own timeouts (response headers, a stalled body): the request was sent.
const TIMEOUT_CODES: ReadonlySet<string> = new Set([TIMED_OUT, "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/**
 * A request that got no HTTP answer: always retry (docs/provider-internals.md "Clients", "APNs": "network error,
 * timeout"). After a timeout or abort the provider may have accepted it: maybeDelivered, so the retry
 * policy only resends with the idempotency key (JPush cid) or accepts a possible duplicate wake-up.
 */
export function transportOutcome(err: unknown): DeliveryOutcome {
  const code = errorCode(err);
  if (code === CANCELED) return { class: "retry", reason: "aborted", maybeDelivered: true };
  if (code !== undefined && TIMEOUT_CODES.has(code)) return { class: "retry", reason: "timeout", maybeDelivered: true };
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
