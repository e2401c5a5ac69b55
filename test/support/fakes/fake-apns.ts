import { createPublicKey, randomUUID, verify, type KeyObject } from "node:crypto";
import {
  constants,
  createSecureServer,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { answerAfter, listenOnLoopback } from "./fake-http.js";
import { testCerts } from "./test-certs.js";

export interface RecordedApnsRequest {
  /** The `<token>` of `/3/device/<token>`; "" when the path has none. */
  token: string;
  /** All request headers, pseudo-headers (`:path`, `:method`) included, lowercased by HTTP/2. */
  headers: Record<string, string>;
  /** Parsed JSON body; the raw text if it is not JSON; undefined if empty. */
  payload: unknown;
  receivedAt: number;
  /** Decoded (not necessarily verified) ES256 provider token, when `authorization: bearer <jwt>` was sent. */
  jwt?: { kid: string; iss: string; iat: number };
}

/**
 * One scripted answer. `status: 0` sends no HTTP answer: the stream is refused (after a GOAWAY that
 * excludes it, if `goaway`), which is what a client sees for a request APNs never processed.
 */
export type ApnsScript = {
  status: number;
  reason?: string;
  timestamp?: number;
  delayMs?: number;
  goaway?: boolean;
  hang?: boolean;
  retryAfter?: number;
};

export interface FakeApns {
  readonly port: number;
  /** PEM of the self-signed server certificate; pass it as `ca`. */
  readonly ca: string;
  /** Every request received, in order (including rejected ones). */
  readonly requests: RecordedApnsRequest[];
  /** The requests answered (or, if delayed, about to be answered) 200. */
  delivered(): RecordedApnsRequest[];
  /** Per-request override; returning undefined falls back to the default. */
  script(fn: (req: RecordedApnsRequest) => ApnsScript | undefined): void;
  /** Answer for unscripted requests; initially `{ status: 200 }`. */
  setDefault(s: ApnsScript): void;
  /** Delay added before every answer (benchmarks). */
  setDelayMs(ms: number): void;
  /** Forgets requests, the script and the default, and restores the start-up delay. */
  reset(): void;
  stop(): Promise<void>;
}

export interface FakeApnsOptions {
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; default 1000, the value seen from APNs (docs/provider-internals.md, APNs). */
  maxConcurrentStreams?: number;
  delayMs?: number;
  /** SPKI PEM public key: when set, provider tokens are verified and bad ones get 403. */
  verifyJwtWith?: string;
  /**
   * Benchmarks: record only the token and the apns-id header of each request (no JWT decoding, no body
   * parsing), so the fake costs the machine as little as possible.
   */
  lean?: boolean;
}

// Bodies are recorded up to this size; larger ones are still counted so 413 stays exact.
const MAX_RECORDED_BODY = 64 * 1024;
// APNs payload limits (docs/provider-internals.md, APNs).
const MAX_PAYLOAD = 4096;
const MAX_VOIP_PAYLOAD = 5120;
// Apple: a provider token older than one hour is rejected (docs/provider-internals.md, APNs).
const JWT_MAX_AGE_S = 3600;
const PUSH_TYPES = new Set([
  "alert",
  "background",
  "voip",
  "location",
  "complication",
  "fileprovider",
  "mdm",
  "liveactivity",
  "pushtotalk",
  "controls",
  "widgets",
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Used when a script gives a status but no reason, so error bodies always carry one (docs/provider-internals.md, APNs).
const DEFAULT_REASONS: ReadonlyMap<number, string> = new Map([
  [400, "BadDeviceToken"],
  [403, "Forbidden"],
  [404, "BadPath"],
  [405, "MethodNotAllowed"],
  [410, "Unregistered"],
  [413, "PayloadTooLarge"],
  [429, "TooManyRequests"],
  [500, "InternalServerError"],
  [503, "ServiceUnavailable"],
]);

interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/** Starts an HTTP/2-over-TLS fake of APNs on 127.0.0.1 with a random port. */
export async function startFakeApns(opts: FakeApnsOptions = {}): Promise<FakeApns> {
  const certs = testCerts();
  const verifyKey = opts.verifyJwtWith === undefined ? undefined : createPublicKey(opts.verifyJwtWith);
  const requests: RecordedApnsRequest[] = [];
  const accepted = new WeakSet<RecordedApnsRequest>();
  const sessions = new Set<ServerHttp2Session>();
  const timers = new Set<NodeJS.Timeout>();
  let scriptFn: ((req: RecordedApnsRequest) => ApnsScript | undefined) | undefined;
  let defaultScript: ApnsScript = { status: 200 };
  let delayMs = opts.delayMs ?? 0;

  const server = createSecureServer({
    key: certs.tlsKey,
    cert: certs.tlsCert,
    settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 1000 },
    // nghttp2 answers ENHANCE_YOUR_CALM past 10 MB per session; a benchmark holding 1000 delayed
    // streams must not trip that in the fake.
    maxSessionMemory: 64,
  });
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    // Clients that time out or vanish reset streams or sockets; that is their test's concern, not a fake failure.
    session.on("error", () => undefined);
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_RECORDED_BODY) chunks.push(chunk);
    });
    stream.on("end", () => onRequest(stream, headers, Buffer.concat(chunks), size));
  });

  function onRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer, size: number): void {
    const jwt = opts.lean ? undefined : decodeJwt(headerValue(headers.authorization));
    const rec = opts.lean ? leanRecord(headers) : recordRequest(headers, body, jwt);
    requests.push(rec);
    const s = (opts.lean ? undefined : protocolError(headers, size, jwt, verifyKey)) ?? scriptFn?.(rec) ?? defaultScript;
    if (s.hang) return;
    // Counted when accepted, not when the answer leaves: a client that times out on a delayed 200
    // still caused a delivery, as with real APNs (docs/provider-internals.md, APNs, "a timeout may have been delivered").
    if (s.status === 200) accepted.add(rec);
    const apnsId = headerValue(headers["apns-id"]) ?? randomUUID();
    answerAfter(timers, delayMs + (s.delayMs ?? 0), () => answer(stream, s, apnsId));
  }

  function answer(stream: ServerHttp2Stream, s: ApnsScript, apnsId: string): void {
    if (stream.destroyed || stream.closed) return;
    const reason = s.reason ?? DEFAULT_REASONS.get(s.status) ?? "InternalServerError";
    if (s.status === 0) {
      if (s.goaway) sendGoaway(stream.session, Math.max(0, (stream.id ?? 0) - 2), reason);
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const retryAfter = s.retryAfter === undefined ? {} : { "retry-after": String(s.retryAfter) };
    // The GOAWAY goes out just before the answer, naming this stream as the last one processed, so the
    // answer is still delivered. Sent after it, the client can issue its next request on the old
    // connection before seeing the GOAWAY and get it refused (REFUSED_STREAM, a retry), which would make
    // "reconnects after GOAWAY" tests flaky.
    if (s.goaway) sendGoaway(stream.session, stream.id ?? 0, reason);
    if (s.status === 200) {
      stream.respond({ ":status": 200, "apns-id": apnsId, ...retryAfter }, { endStream: true });
    } else {
      // The 410 body carries the time APNs learnt the token was invalid (docs/provider-internals.md, APNs).
      const timestamp = s.timestamp ?? (s.status === 410 ? Date.now() : undefined);
      stream.respond({ ":status": s.status, "content-type": "application/json", "apns-id": apnsId, ...retryAfter });
      stream.end(JSON.stringify(timestamp === undefined ? { reason } : { reason, timestamp }));
    }
  }

  const port = await listenOnLoopback(server);

  return {
    port,
    ca: certs.tlsCert,
    requests,
    delivered: () => requests.filter((r) => accepted.has(r)),
    script: (fn) => {
      scriptFn = fn;
    },
    setDefault: (s) => {
      defaultScript = s;
    },
    setDelayMs: (ms) => {
      delayMs = ms;
    },
    reset: () => {
      requests.length = 0;
      scriptFn = undefined;
      defaultScript = { status: 200 };
      delayMs = opts.delayMs ?? 0;
    },
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // server.close() waits for open sessions; hung streams would keep them (and the process) alive.
      for (const s of sessions) s.destroy();
      await closed;
    },
  };
}

/** APNs sends its reason as GOAWAY opaque data (docs/provider-internals.md, APNs). */
function sendGoaway(session: Http2Session | undefined, lastStreamId: number, reason: string): void {
  if (!session || session.closed || session.destroyed) return;
  session.goaway(constants.NGHTTP2_NO_ERROR, lastStreamId, Buffer.from(JSON.stringify({ reason })));
}

/** Request-level checks APNs makes before looking at the token (docs/provider-internals.md, APNs). */
function protocolError(
  headers: IncomingHttpHeaders,
  size: number,
  jwt: DecodedJwt | undefined,
  verifyKey: KeyObject | undefined,
): ApnsScript | undefined {
  const path = headerValue(headers[":path"]) ?? "";
  if (headerValue(headers[":method"]) !== "POST") return { status: 405, reason: "MethodNotAllowed" };
  if (!path.startsWith("/3/device/") || path.slice("/3/device/".length).includes("/")) {
    return { status: 404, reason: "BadPath" };
  }
  if (path === "/3/device/") return { status: 400, reason: "MissingDeviceToken" };
  if (verifyKey) {
    const authError = providerTokenError(headers, jwt, verifyKey);
    if (authError) return { status: 403, reason: authError };
  }
  if (!headerValue(headers["apns-topic"])) return { status: 400, reason: "MissingTopic" };
  const pushType = headerValue(headers["apns-push-type"]);
  if (pushType !== undefined && !PUSH_TYPES.has(pushType)) return { status: 400, reason: "InvalidPushType" };
  const priority = headerValue(headers["apns-priority"]);
  if (priority !== undefined && !["10", "5", "1"].includes(priority)) return { status: 400, reason: "BadPriority" };
  const collapseId = headerValue(headers["apns-collapse-id"]);
  if (collapseId !== undefined && Buffer.byteLength(collapseId) > 64) return { status: 400, reason: "BadCollapseId" };
  const apnsId = headerValue(headers["apns-id"]);
  if (apnsId !== undefined && !UUID.test(apnsId)) return { status: 400, reason: "BadMessageId" };
  if (size === 0) return { status: 400, reason: "PayloadEmpty" };
  if (size > (pushType === "voip" ? MAX_VOIP_PAYLOAD : MAX_PAYLOAD)) return { status: 413, reason: "PayloadTooLarge" };
  return undefined;
}

function providerTokenError(headers: IncomingHttpHeaders, jwt: DecodedJwt | undefined, key: KeyObject): string | undefined {
  if (headerValue(headers.authorization) === undefined) return "MissingProviderToken";
  if (!jwt || jwt.header.alg !== "ES256") return "InvalidProviderToken";
  // JWS ES256 signatures are raw r||s (IEEE P1363), not DER.
  const ok = verify("sha256", Buffer.from(jwt.signingInput), { key, dsaEncoding: "ieee-p1363" }, jwt.signature);
  if (!ok) return "InvalidProviderToken";
  const iat = jwt.claims.iat;
  if (typeof iat !== "number") return "InvalidProviderToken";
  if (Date.now() / 1000 - iat > JWT_MAX_AGE_S) return "ExpiredProviderToken";
  return undefined;
}

function leanRecord(headers: IncomingHttpHeaders): RecordedApnsRequest {
  const path = headerValue(headers[":path"]) ?? "";
  const id = headerValue(headers["apns-id"]);
  return {
    token: path.slice("/3/device/".length),
    headers: id === undefined ? {} : { "apns-id": id },
    payload: undefined,
    receivedAt: Date.now(),
  };
}

function recordRequest(headers: IncomingHttpHeaders, body: Buffer, jwt: DecodedJwt | undefined): RecordedApnsRequest {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const v = Array.isArray(value) ? value.join(", ") : value;
    if (v !== undefined) flat[name] = String(v);
  }
  const path = flat[":path"] ?? "";
  const rec: RecordedApnsRequest = {
    token: path.startsWith("/3/device/") ? path.slice("/3/device/".length) : "",
    headers: flat,
    payload: parseBody(body),
    receivedAt: Date.now(),
  };
  const { kid } = jwt?.header ?? {};
  const { iss, iat } = jwt?.claims ?? {};
  if (typeof kid === "string" && typeof iss === "string" && typeof iat === "number") rec.jwt = { kid, iss, iat };
  return rec;
}

function parseBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const text = body.toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function decodeJwt(authorization: string | undefined): DecodedJwt | undefined {
  const match = /^bearer\s+([\w-]+)\.([\w-]+)\.([\w-]+)$/i.exec(authorization ?? "");
  if (!match) return undefined;
  const [, h = "", c = "", sig = ""] = match;
  try {
    const header: unknown = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    const claims: unknown = JSON.parse(Buffer.from(c, "base64url").toString("utf8"));
    if (!isRecord(header) || !isRecord(claims)) return undefined;
    return { header, claims, signingInput: `${h}.${c}`, signature: Buffer.from(sig, "base64url") };
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(", ") : v;
}
