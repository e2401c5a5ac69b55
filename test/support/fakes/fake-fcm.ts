import { createPublicKey, randomBytes, randomUUID, verify } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { testCerts } from "./test-certs.js";
import { answerAfter, listenOnLoopback } from "./fake-http.js";

export interface RecordedFcmRequest {
  /** Request target as sent, e.g. `/v1/projects/p/messages:send`. */
  path: string;
  /** From the path; "" when the path is not a send URL. */
  projectId: string;
  /** The `Authorization: Bearer` value, valid or not. */
  accessToken?: string;
  /** Parsed JSON body; the raw text if it is not JSON; undefined if empty. */
  body: unknown;
  receivedAt: number;
}

/** One scripted answer; `status`/`message` default from `httpStatus`, `details` only appear with `errorCode`. */
export type FcmScript = {
  httpStatus: number;
  status?: string;
  errorCode?: string;
  message?: string;
  delayMs?: number;
  retryAfter?: number;
};

export interface FakeFcm {
  readonly url: string;
  /** `url + '/token'`; the generated service account's `token_uri`. */
  readonly tokenUrl: string;
  /** Every request to the FCM API, in order (token exchanges are only counted, in `tokenRequests`). */
  readonly requests: RecordedFcmRequest[];
  readonly tokenRequests: number;
  /** Sends accepted with 200, excluding `validate_only` ones. */
  delivered(): RecordedFcmRequest[];
  script(fn: (req: RecordedFcmRequest) => FcmScript | undefined): void;
  setDefault(s: FcmScript): void;
  setDelayMs(ms: number): void;
  /**
   * Mints an access token the fake accepts, as Google's other token sources do (the GCE/GKE metadata
   * server, workload identity): for fakes of those sources.
   */
  issueAccessToken(): { accessToken: string; expiresIn: number };
  /** Invalidates every access token issued so far: sends with them get 401 UNAUTHENTICATED. */
  expireTokens(): void;
  /** Forgets requests, the token-request count, the script and the default; issued tokens stay valid. */
  reset(): void;
  stop(): Promise<void>;
  serviceAccountJson(projectId?: string): string;
}

export interface FakeFcmOptions {
  /** Delay added before every send answer (not token answers). */
  delayMs?: number;
  /** `expires_in` of issued access tokens; default 3599 like Google's token endpoint. */
  tokenTtlSeconds?: number;
}

const MAX_BODY = 1024 * 1024;
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
// Either scope grants FCM sends (docs/provider-internals.md, FCM).
const FCM_SCOPES = ["https://www.googleapis.com/auth/firebase.messaging", "https://www.googleapis.com/auth/cloud-platform"];
// Google caps assertion lifetime at one hour (docs/provider-internals.md, FCM); the slack absorbs clock skew.
const MAX_ASSERTION_LIFETIME_S = 3600;
const CLOCK_SLACK_S = 60;
const SEND_PATH = /^\/v1\/projects\/([^/]+)\/messages:send$/;
const DEFAULT_PROJECT = "xmpp-push-test";
// google.rpc status names and Google's usual texts for scripts that give only `httpStatus`.
const STATUS_NAMES: ReadonlyMap<number, string> = new Map([
  [400, "INVALID_ARGUMENT"],
  [401, "UNAUTHENTICATED"],
  [403, "PERMISSION_DENIED"],
  [404, "NOT_FOUND"],
  [429, "RESOURCE_EXHAUSTED"],
  [500, "INTERNAL"],
  [503, "UNAVAILABLE"],
]);
const STATUS_MESSAGES: ReadonlyMap<number, string> = new Map([
  [400, "Request contains an invalid argument."],
  [401, "Request had invalid authentication credentials."],
  [403, "SenderId mismatch"],
  [404, "Requested entity was not found."],
  [429, "Quota exceeded."],
  [500, "Internal error encountered."],
  [503, "The service is currently unavailable."],
]);

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  delayMs?: number;
}

/** Starts a plain-HTTP fake of FCM HTTP v1 and Google's OAuth token endpoint on 127.0.0.1. */
export async function startFakeFcm(opts: FakeFcmOptions = {}): Promise<FakeFcm> {
  const certs = testCerts();
  const publicKey = createPublicKey(certs.fcmPublicKey);
  const ttl = opts.tokenTtlSeconds ?? 3599;
  const requests: RecordedFcmRequest[] = [];
  const accepted = new WeakSet<RecordedFcmRequest>();
  const accessTokens = new Map<string, number>(); // token → expiry (ms)
  const serviceAccounts = new Set<string>(); // client_email values handed out
  const timers = new Set<NodeJS.Timeout>();
  let scriptFn: ((req: RecordedFcmRequest) => FcmScript | undefined) | undefined;
  let defaultScript: FcmScript = { httpStatus: 200 };
  let delayMs = opts.delayMs ?? 0;
  let tokenRequests = 0;
  let messageSeq = 0;
  let tokenUrl = "";

  function tokenReply(raw: Buffer): Reply {
    tokenRequests += 1;
    const form = new URLSearchParams(raw.toString("utf8"));
    if (form.get("grant_type") !== JWT_BEARER) {
      return { status: 400, body: { error: "unsupported_grant_type", error_description: "Invalid grant_type" } };
    }
    const problem = assertionProblem(form.get("assertion") ?? "");
    if (problem) return { status: 400, body: { error: "invalid_grant", error_description: problem } };
    const { accessToken, expiresIn } = issueAccessToken();
    return { status: 200, body: { access_token: accessToken, expires_in: expiresIn, token_type: "Bearer" } };
  }

  function issueAccessToken(): { accessToken: string; expiresIn: number } {
    const accessToken = `ya29.fake-${randomBytes(24).toString("base64url")}`;
    accessTokens.set(accessToken, Date.now() + ttl * 1000);
    return { accessToken, expiresIn: ttl };
  }

  /** The RS256 service-account assertion checks of Google's token endpoint (docs/provider-internals.md, FCM). */
  function assertionProblem(assertion: string): string | undefined {
    const jwt = decodeJwt(assertion);
    if (!jwt || jwt.header.alg !== "RS256") return "Invalid JWT";
    if (!verify("sha256", Buffer.from(jwt.signingInput), publicKey, jwt.signature)) return "Invalid JWT Signature.";
    const { iss, scope, aud, iat, exp } = jwt.claims;
    const now = Date.now() / 1000;
    if (typeof iss !== "string" || !serviceAccounts.has(iss)) return "Invalid issuer";
    const scopes = typeof scope === "string" ? scope.split(" ") : [];
    if (!scopes.some((s) => FCM_SCOPES.includes(s))) return "Invalid scope";
    if (aud !== tokenUrl) return "Invalid audience";
    if (typeof iat !== "number" || typeof exp !== "number") return "Missing iat or exp";
    if (exp <= now) return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe";
    if (iat > now + CLOCK_SLACK_S || exp - iat > MAX_ASSERTION_LIFETIME_S) return "Invalid JWT: bad iat/exp";
    return undefined;
  }

  function sendReply(req: IncomingMessage, raw: Buffer): Reply {
    const rec = recordRequest(req, raw);
    requests.push(rec);
    if (req.method !== "POST" || rec.projectId === "") return errorReply({ httpStatus: 404 });
    const expiry = rec.accessToken === undefined ? undefined : accessTokens.get(rec.accessToken);
    if (expiry === undefined || expiry <= Date.now()) return errorReply({ httpStatus: 401 });
    const body = rec.body;
    if (!isRecord(body) || !isRecord(body.message)) {
      return errorReply({ httpStatus: 400, errorCode: "INVALID_ARGUMENT", message: "Invalid JSON payload received." });
    }
    const m = body.message;
    if (m.token === undefined && m.topic === undefined && m.condition === undefined) {
      return errorReply({ httpStatus: 400, errorCode: "INVALID_ARGUMENT", message: "Recipient of the message is not set." });
    }
    const s = scriptFn?.(rec) ?? defaultScript;
    if (s.httpStatus !== 200) return errorReply(s);
    // validate_only checks the message without sending it (docs/provider-internals.md, FCM).
    if (body.validate_only !== true) accepted.add(rec);
    messageSeq += 1;
    const name = `projects/${rec.projectId}/messages/0:${Date.now()}%${messageSeq.toString(16).padStart(16, "0")}`;
    return { status: 200, body: { name }, headers: retryAfterHeader(s), delayMs: s.delayMs };
  }

  function send(res: ServerResponse, reply: Reply): void {
    if (res.destroyed) return;
    res.writeHead(reply.status, { "Content-Type": "application/json; charset=UTF-8", ...reply.headers });
    res.end(JSON.stringify(reply.body));
  }

  const server = createServer((req, res) => {
    req.on("error", () => undefined);
    void readBody(req).then((raw) => {
      const isToken = new URL(req.url ?? "/", "http://127.0.0.1").pathname === "/token" && req.method === "POST";
      if (isToken) return send(res, tokenReply(raw));
      const reply = sendReply(req, raw);
      answerAfter(timers, delayMs + (reply.delayMs ?? 0), () => send(res, reply));
    });
  });

  const url = `http://127.0.0.1:${await listenOnLoopback(server)}`;
  tokenUrl = `${url}/token`;

  return {
    url,
    tokenUrl,
    requests,
    get tokenRequests() {
      return tokenRequests;
    },
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
    issueAccessToken,
    expireTokens: () => accessTokens.clear(),
    reset: () => {
      requests.length = 0;
      tokenRequests = 0;
      scriptFn = undefined;
      defaultScript = { httpStatus: 200 };
      delayMs = opts.delayMs ?? 0;
    },
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets (axios agents) would otherwise hold server.close() open.
      server.closeAllConnections();
      await closed;
    },
    serviceAccountJson: (projectId = DEFAULT_PROJECT) => {
      const clientEmail = `fake-fcm@${projectId}.iam.gserviceaccount.com`;
      serviceAccounts.add(clientEmail);
      return JSON.stringify({
        type: "service_account",
        project_id: projectId,
        private_key_id: randomBytes(20).toString("hex"),
        private_key: certs.fcmKey,
        client_email: clientEmail,
        client_id: randomUUID(),
        auth_uri: `${url}/auth`,
        token_uri: tokenUrl,
      });
    },
  };
}

/** Google API error body; FCM puts its own code in `details[].errorCode` (docs/provider-internals.md, FCM). */
function errorReply(s: FcmScript): Reply {
  const error = {
    code: s.httpStatus,
    message: s.message ?? STATUS_MESSAGES.get(s.httpStatus) ?? "Error",
    status: s.status ?? STATUS_NAMES.get(s.httpStatus) ?? "UNKNOWN",
    ...(s.errorCode === undefined
      ? {}
      : { details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: s.errorCode }] }),
  };
  return { status: s.httpStatus, body: { error }, headers: retryAfterHeader(s), delayMs: s.delayMs };
}

function retryAfterHeader(s: FcmScript): Record<string, string> {
  return s.retryAfter === undefined ? {} : { "Retry-After": String(s.retryAfter) };
}

function recordRequest(req: IncomingMessage, raw: Buffer): RecordedFcmRequest {
  const path = req.url ?? "";
  const rec: RecordedFcmRequest = {
    path,
    projectId: SEND_PATH.exec(new URL(path, "http://127.0.0.1").pathname)?.[1] ?? "",
    body: parseBody(raw),
    receivedAt: Date.now(),
  };
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
  if (bearer !== undefined) rec.accessToken = bearer;
  return rec;
}

interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

function decodeJwt(jwt: string): DecodedJwt | undefined {
  const match = /^([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(jwt);
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

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size <= MAX_BODY) chunks.push(buf);
    }
  } catch {
    // An aborted upload is answered (if anyone still listens) with what arrived.
  }
  return Buffer.concat(chunks);
}

function parseBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
