import { connect as http2Connect, constants, type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";
import { isIP } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { OutboundProxy } from "../../config/config-schema.js";
import { raceAbort } from "../../shared/race-abort.js";
import { REFUSED_STREAM, TIMED_OUT, withCode } from "../http-exchange.js";
import { hostForUrl, openTunnel } from "../outbound-agents.js";

// One HTTP/2 connection to APNs, on node:http2 directly (docs/provider-internals.md "Clients", "APNs").
// It was @parse/node-apn; measured against this on the same fake APNs, node-apn cost 15-50 µs more CPU
// per request (its Notification object, header merging, a promise and closures per request, VError),
// about a tenth of a whole push at everyday rates, and it retried behind our back, ignored Retry-After,
// opened unbounded streams and lost reasons, which the adapter had to work around. What stays with the
// adapter: the pool, the in-flight bound and the outcome table. What this module does:
// - one session at a time, opened on first use and again after a GOAWAY, an error or a close (requests
//   already on a closing session finish there);
// - through the outbound proxy as a CONNECT tunnel, TLS end to end with APNs (the proxy relays bytes);
// - every request answered: the HTTP status and body, or a rejection with the reason it got none;
// - the caller's signal cancels the stream (RST_STREAM CANCEL), so its slot frees at once;
// - a PING every minute on an idle-looking connection, so a dead one is noticed before a push waits on it.

export interface ApnsHttpRequest {
  /** With the pseudo-headers :method and :path. */
  readonly headers: OutgoingHttpHeaders;
  readonly body: string;
}

export interface ApnsHttpAnswer {
  readonly status: number;
  readonly headers: { readonly apnsId?: string; readonly retryAfter?: string };
  /** Apple's JSON error body, `{"reason": …}`; "" for a 200. */
  readonly body: string;
}

export interface ApnsConnection {
  /** The current session has answered a request: APNs then takes its announced number of streams. */
  readonly warm: boolean;
  /**
   * Rejects only when no HTTP answer came, with an error whose code says why: TIMED_OUT when the
   * signal fired first, REFUSED_STREAM when APNs refused the stream (never processed), else Node's own
   * (ECONNREFUSED, ERR_HTTP2_STREAM_ERROR, …) or the proxy's refusal (http-transport's transportOutcome).
   */
  request(req: ApnsHttpRequest, signal: AbortSignal): Promise<ApnsHttpAnswer>;
  close(): Promise<void>;
}

export interface ApnsConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** TLS: a CA to trust instead of the default ones (local fakes), and a client certificate (certificate auth). */
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly passphrase?: string | undefined;
  readonly proxy?: OutboundProxy | undefined;
}

// APNs's error bodies are a few dozen bytes; anything larger is not APNs and is cut.
const MAX_BODY_CHARS = 4096;
const PING_INTERVAL_MS = 60_000;
const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = constants;

export function createApnsConnection(options: ApnsConnectionOptions): ApnsConnection {
  const { host, port, proxy } = options;
  const authority = `https://${hostForUrl(host)}:${port}`;
  const tls = {
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.cert !== undefined ? { cert: options.cert } : {}),
    ...(options.key !== undefined ? { key: options.key } : {}),
    ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}),
    // SNI takes names only.
    ...(isIP(host) === 0 ? { servername: host } : {}),
  };
  let session: ClientHttp2Session | undefined;
  let answered = false;
  let opening: Promise<ClientHttp2Session> | undefined;
  let closed = false;

  const adopt = (s: ClientHttp2Session): ClientHttp2Session => {
    session = s;
    answered = false;
    const forget = () => {
      if (session === s) session = undefined;
    };
    // A GOAWAY closes the session once its streams are done; new requests go to a new one.
    s.on("goaway", forget);
    s.on("close", () => {
      forget();
      clearInterval(ping);
    });
    // The requests on it fail with the error themselves; here it only must not crash the process.
    s.on("error", forget);
    const ping = setInterval(() => {
      if (!s.closed && !s.destroyed) s.ping((err) => err && s.destroy());
    }, PING_INTERVAL_MS);
    ping.unref();
    return s;
  };

  const open = (): Promise<ClientHttp2Session> => {
    if (proxy === undefined) return Promise.resolve(adopt(http2Connect(authority, tls)));
    opening ??= openTunnel(proxy, host, port)
      .then((socket) => {
        if (closed) {
          socket.destroy();
          throw withCode("ERR_HTTP2_INVALID_SESSION", "the APNs connection is closed");
        }
        return adopt(http2Connect(authority, { ...tls, createConnection: () => tlsConnect({ ...tls, socket, ALPNProtocols: ["h2"] }) }));
      })
      .finally(() => {
        opening = undefined;
      });
    return opening;
  };

  const exchange = (s: ClientHttp2Session, req: ApnsHttpRequest, signal: AbortSignal): Promise<ApnsHttpAnswer> =>
    new Promise((resolve, reject) => {
      const stream = s.request(req.headers, { endStream: false });
      let status = 0;
      let apnsId: string | undefined;
      let retryAfter: string | undefined;
      let body = "";
      let failure: Error | undefined;
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        if (status !== 0) {
          resolve({
            status,
            headers: { ...(apnsId !== undefined ? { apnsId } : {}), ...(retryAfter !== undefined ? { retryAfter } : {}) },
            body,
          });
        } else if (stream.rstCode === NGHTTP2_REFUSED_STREAM) {
          reject(withCode(REFUSED_STREAM, "APNs refused the stream: never processed"));
        } else {
          reject(
            failure ?? withCode("ERR_HTTP2_STREAM_ERROR", `the stream closed without an answer (HTTP/2 code ${stream.rstCode ?? "none"})`),
          );
        }
      };
      const onAbort = () => {
        failure = withCode(TIMED_OUT, "no answer before the deadline");
        status = 0;
        stream.close(NGHTTP2_CANCEL);
        settle();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      stream.on("response", (headers) => {
        status = Number(headers[":status"]);
        answered = session === s || answered;
        const id = headers["apns-id"];
        if (typeof id === "string") apnsId = id;
        const after = headers["retry-after"];
        if (typeof after === "string") retryAfter = after;
      });
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        if (body.length < MAX_BODY_CHARS) body += chunk.slice(0, MAX_BODY_CHARS - body.length);
      });
      stream.on("error", (err: Error) => {
        failure = err;
      });
      stream.on("end", settle);
      stream.on("close", settle);
      stream.end(req.body);
    });

  return {
    get warm() {
      return answered && session !== undefined;
    },
    request(req, signal) {
      if (closed) return Promise.reject(withCode("ERR_HTTP2_INVALID_SESSION", "the APNs connection is closed"));
      if (signal.aborted) return Promise.reject(withCode(TIMED_OUT, "no answer before the deadline"));
      const live = session !== undefined && !session.closed && !session.destroyed ? session : undefined;
      if (live !== undefined) return exchange(live, req, signal);
      return raceAbort(signal, open()).then((s) =>
        s === "aborted" ? Promise.reject(withCode(TIMED_OUT, "no connection before the deadline")) : exchange(s, req, signal),
      );
    },
    async close() {
      closed = true;
      const s = session ?? (await opening?.catch(() => undefined));
      session = undefined;
      if (s === undefined || s.destroyed) return;
      // Its streams may finish, briefly. Waiting on 'close' rather than close()'s callback: close() on a
      // session already closing returns without ever calling back.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => s.destroy(), 2000);
        s.once("close", () => {
          clearTimeout(force);
          resolve();
        });
        s.close();
      });
    },
  };
}
