import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { answerAfter, listenOnLoopback } from "./fake-http.js";

export interface RecordedJpushRequest {
  method: string;
  /** Request target as sent, query included (e.g. `/v3/push/cid?count=2`). */
  path: string;
  /** Decoded Basic credentials, whether or not they were right. */
  auth?: { appKey: string; masterSecret: string };
  /** Parsed JSON body; the raw text if it is not JSON; undefined if empty. */
  body: unknown;
  receivedAt: number;
  /** The msg_id a 200 from `/v3/push` carried. */
  msgId?: string;
}

/**
 * What the Report API says about one pushed message, like JPush's per-channel counters: received (through
 * JPush's own connection, a phone maker's channel, APNs or HarmonyOS), after `delayMs` from the push,
 * or never (all counters stay 0).
 */
export type JpushReceiptScript = { received: true; channel?: "jpush" | "vendor" | "apns" | "hmos"; delayMs?: number } | { received: false };

/** One scripted answer for the Report API (rate limiting, outages). */
export type JpushReportScript = { httpStatus: number; code?: number; rateLimitReset?: number; rateLimitRemaining?: number };

/** One scripted answer for `/v3/push` or `/v3/push/validate`; `code`/`message` default from `httpStatus`. */
export type JpushScript = {
  httpStatus: number;
  code?: number;
  message?: string;
  delayMs?: number;
  rateLimitReset?: number;
  rateLimitRemaining?: number;
  /** Decimal digits are written as a bare JSON number, like JPush's own ids above 2^53. */
  msgId?: string;
};

export interface FakeJpush {
  /** `http://127.0.0.1:PORT`, to use as the push base URL. */
  readonly url: string;
  /** Every request received, in order (including rejected ones and cid replays). */
  readonly requests: RecordedJpushRequest[];
  /** `POST /v3/push` requests accepted with 200, excluding cid replays and validate calls. */
  delivered(): RecordedJpushRequest[];
  script(fn: (req: RecordedJpushRequest) => JpushScript | undefined): void;
  setDefault(s: JpushScript): void;
  setDelayMs(ms: number): void;
  /** The receipt every pushed message gets unless scripted per message (default: never received). */
  setDefaultReceipt(s: JpushReceiptScript): void;
  /** Decides a message's receipt when it is accepted (by the push request that carried it). */
  scriptReceipts(fn: (req: RecordedJpushRequest) => JpushReceiptScript | undefined): void;
  /** Changes what the Report API says about an accepted message from now on (a receipt arriving late). */
  setReceipt(msgId: string, s: JpushReceiptScript): void;
  /** Answers the next Report API calls with this instead of counters (undefined: back to normal). */
  scriptReport(fn: (() => JpushReportScript | undefined) | undefined): void;
  /** Requests to the Report API (`/v3/received/detail`, `/v3/status/message`), in order. */
  reportRequests(): RecordedJpushRequest[];
  /** Forgets requests, cid results, the script and the default, and restores the start-up delay. */
  reset(): void;
  stop(): Promise<void>;
}

export interface FakeJpushOptions {
  appKey: string;
  masterSecret: string;
  delayMs?: number;
}

// Bodies above this get 1005 (JPush's "body too large"); also bounds the fake's memory.
const MAX_BODY = 1024 * 1024;
// The sample id from docs/provider-internals.md, JPush: above 2^53, so JSON.parse would corrupt it.
const MSG_ID_BASE = 18103083292408631n;
// The free-tier push quota, 600 per minute (docs/provider-internals.md, JPush).
const DEFAULT_QUOTA = 600;
const DEFAULT_RESET_S = 60;
// The Report API's free-tier quota, 2400 per minute (docs/providers.md, Quotas), and its batch limit.
const REPORT_QUOTA = 2400;
const MAX_REPORT_IDS = 100;
// Default code per HTTP status for scripts that give only `httpStatus` (docs/provider-internals.md, JPush).
const DEFAULT_CODES: ReadonlyMap<number, number> = new Map([
  [400, 1003],
  [401, 1004],
  [403, 2003],
  [404, 1020],
  [405, 1001],
  [429, 2002],
  [500, 1000],
  [503, 1030],
]);
const MESSAGES: ReadonlyMap<number, string> = new Map([
  [1000, "Server error"],
  [1001, "Only support HTTP POST method"],
  [1002, "Missing parameter"],
  [1003, "Parameter value is invalid"],
  [1004, "Authen failed"],
  [1005, "Msg content too long"],
  [1008, "app_key is invalid"],
  [1009, "Unsupported key in payload"],
  [1011, "cannot find user by this audience or has been inactive for more than 255 days"],
  [1012, "Push rate exceeded"],
  [1020, "Only support HTTPS request"],
  [1030, "Internal service timeout"],
  [2002, "Rate limit exceeded"],
  [2003, "The appKey is blacklisted"],
]);

interface Reply {
  status: number;
  text: string;
  script?: { rateLimitReset?: number; rateLimitRemaining?: number; delayMs?: number };
  quota?: number;
}

/** Starts a plain-HTTP fake of the JPush REST v3 push API on 127.0.0.1 with a random port. */
export async function startFakeJpush(opts: FakeJpushOptions): Promise<FakeJpush> {
  const requests: RecordedJpushRequest[] = [];
  const accepted = new WeakSet<RecordedJpushRequest>();
  // JPush cid idempotency: a repeated cid gets the first successful result back, undelivered (§3.6).
  const cidResults = new Map<string, string>();
  // JPush's docs: cids must come from its pool (GET /v3/push/cid); anything else is refused.
  const issuedCids = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let scriptFn: ((req: RecordedJpushRequest) => JpushScript | undefined) | undefined;
  let defaultScript: JpushScript = { httpStatus: 200 };
  let delayMs = opts.delayMs ?? 0;
  let msgSeq = 0n;
  // Receipts of accepted messages: msg_id → when it arrived at the phone (undefined: never).
  const receipts = new Map<string, { at: number | undefined; channel: string; regid: string | undefined }>();
  let defaultReceipt: JpushReceiptScript = { received: false };
  let receiptFn: ((req: RecordedJpushRequest) => JpushReceiptScript | undefined) | undefined;
  let reportFn: (() => JpushReportScript | undefined) | undefined;
  const nextMsgId = (): string => String(MSG_ID_BASE + msgSeq++);

  function errorText(code: number, message: string | undefined, msgId: string | undefined): string {
    const error = JSON.stringify({ code, message: message ?? MESSAGES.get(code) ?? "error" });
    return msgId === undefined ? `{"error":${error}}` : `{"error":${error},"msg_id":${rawNumber(msgId)}}`;
  }

  function decide(req: IncomingMessage, rec: RecordedJpushRequest, raw: Buffer, tooLarge: boolean): Reply {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (rec.auth?.appKey !== opts.appKey || rec.auth.masterSecret !== opts.masterSecret) {
      return { status: 401, text: errorText(1004, undefined, undefined) };
    }
    if (url.pathname === "/v3/push/cid") return cidReply(req.method, url);
    if (url.pathname === "/v3/received/detail") return receivedDetail(req.method, url);
    if (url.pathname === "/v3/status/message") return statusMessage(req.method, rec.body, raw);
    if (url.pathname !== "/v3/push" && url.pathname !== "/v3/push/validate") {
      return { status: 404, text: errorText(1000, "Not found", undefined) };
    }
    if (req.method !== "POST") return { status: 405, text: errorText(1001, undefined, undefined) };
    if (tooLarge) return { status: 400, text: errorText(1005, undefined, nextMsgId()) };
    const body = rec.body;
    if (raw.length === 0 || !isRecord(body)) return { status: 400, text: errorText(1003, undefined, nextMsgId()) };
    if (body.platform === undefined || body.audience === undefined) {
      return { status: 400, text: errorText(1002, undefined, nextMsgId()) };
    }
    const isPush = url.pathname === "/v3/push";
    const cid = typeof body.cid === "string" ? body.cid : undefined;
    if (cid !== undefined && !issuedCids.has(cid)) return { status: 400, text: errorText(1003, "cid is invalid", nextMsgId()) };
    const replay = isPush && cid !== undefined ? cidResults.get(cid) : undefined;
    if (replay !== undefined) return { status: 200, text: replay };
    const s = scriptFn?.(rec) ?? defaultScript;
    const msgId = s.msgId ?? nextMsgId();
    if (s.httpStatus !== 200) {
      const code = s.code ?? DEFAULT_CODES.get(s.httpStatus) ?? 1000;
      return { status: s.httpStatus, text: errorText(code, s.message, msgId), script: s };
    }
    const options = isRecord(body.options) ? body.options : {};
    const sendno = JSON.stringify(String(options.sendno ?? 0));
    const text = `{"sendno":${sendno},"msg_id":${rawNumber(msgId)}}`;
    if (isPush) {
      // Counted at acceptance: a client that times out on a delayed 200 has still pushed (§3.5).
      accepted.add(rec);
      rec.msgId = msgId;
      const r = receiptFn?.(rec) ?? defaultReceipt;
      const regid =
        isRecord(body.audience) && Array.isArray(body.audience.registration_id) ? String(body.audience.registration_id[0]) : undefined;
      receipts.set(msgId, {
        at: r.received ? Date.now() + (r.delayMs ?? 0) : undefined,
        channel: r.received ? (r.channel ?? "jpush") : "jpush",
        regid,
      });
      if (cid !== undefined) cidResults.set(cid, text);
    }
    return { status: 200, text, script: s };
  }

  // GET /v3/received/detail?msg_ids=a,b: per message, counters per channel (JPush's Report API v3).
  function receivedDetail(method: string | undefined, url: URL): Reply {
    if (method !== "GET") return { status: 405, text: errorText(1001, "Only support HTTP GET method", undefined) };
    const scripted = reportFn?.();
    if (scripted !== undefined) {
      const code = scripted.code ?? DEFAULT_CODES.get(scripted.httpStatus) ?? 1000;
      return { status: scripted.httpStatus, text: errorText(code, undefined, undefined), script: scripted, quota: REPORT_QUOTA };
    }
    const ids = (url.searchParams.get("msg_ids") ?? "").split(",").filter((x) => x !== "");
    // Report errors are 3xxx: 3002 for bad parameters.
    if (ids.length === 0 || ids.length > MAX_REPORT_IDS || !ids.every((id) => /^\d+$/.test(id))) {
      return { status: 400, text: errorText(3002, "Parameter value is invalid", undefined), quota: REPORT_QUOTA };
    }
    const now = Date.now();
    const rows = ids.map((id) => {
      const r = receipts.get(id);
      const got = r?.at !== undefined && r.at <= now ? 1 : 0;
      const on = (channel: string) => (got === 1 && r?.channel === channel ? 1 : 0);
      return (
        `{"msg_id":${id},"jpush_received":${on("jpush")},"android_pns_sent":${on("vendor")},"android_pns_received":${on("vendor")},` +
        `"ios_apns_sent":${on("apns")},"ios_apns_received":${on("apns")},"ios_msg_received":0,"hmos_hmpns_sent":${on("hmos")},"hmos_hmpns_received":${on("hmos")}}`
      );
    });
    return { status: 200, text: `[${rows.join(",")}]`, quota: REPORT_QUOTA };
  }

  // POST /v3/status/message {msg_id, registration_ids}: per device 0 delivered, 1 not delivered,
  // 3 not a target of this message (JPush's Report API v3).
  function statusMessage(method: string | undefined, body: unknown, raw: Buffer): Reply {
    if (method !== "POST") return { status: 405, text: errorText(1001, undefined, undefined) };
    const scripted = reportFn?.();
    if (scripted !== undefined) {
      const code = scripted.code ?? DEFAULT_CODES.get(scripted.httpStatus) ?? 1000;
      return { status: scripted.httpStatus, text: errorText(code, undefined, undefined), script: scripted, quota: REPORT_QUOTA };
    }
    const ids = isRecord(body) && Array.isArray(body.registration_ids) ? body.registration_ids.map(String) : [];
    // msg_id must arrive as the exact digits: read from the raw text, since JSON.parse rounds ids above 2^53.
    const msgId = /"msg_id"\s*:\s*"?(\d+)"?/.exec(raw.toString("utf8"))?.[1] ?? "";
    if (ids.length === 0 || ids.length > 1000 || !/^\d+$/.test(msgId))
      return { status: 400, text: errorText(3002, "Parameter value is invalid", undefined), quota: REPORT_QUOTA };
    const r = receipts.get(msgId);
    const now = Date.now();
    const out: Record<string, { status: number }> = {};
    for (const id of ids) out[id] = { status: r === undefined || r.regid !== id ? 3 : r.at !== undefined && r.at <= now ? 0 : 1 };
    return { status: 200, text: JSON.stringify(out), quota: REPORT_QUOTA };
  }

  function cidReply(method: string | undefined, url: URL): Reply {
    if (method !== "GET") return { status: 405, text: errorText(1001, "Only support HTTP GET method", undefined) };
    const count = Number(url.searchParams.get("count") ?? "1");
    // JPush hands out 1..1000 cids per call (docs/provider-internals.md, JPush).
    if (!Number.isInteger(count) || count < 1 || count > 1000) {
      return { status: 400, text: errorText(1003, undefined, undefined) };
    }
    const cidlist = Array.from({ length: count }, () => `${opts.appKey}-${randomUUID()}`);
    for (const c of cidlist) issuedCids.add(c);
    return { status: 200, text: JSON.stringify({ cidlist }) };
  }

  function send(res: ServerResponse, reply: Reply): void {
    if (res.destroyed) return;
    res.writeHead(reply.status, {
      "Content-Type": "application/json",
      // Every JPush response carries these (docs/provider-internals.md, JPush).
      "X-Rate-Limit-Quota": String(reply.quota ?? DEFAULT_QUOTA),
      "X-Rate-Limit-Remaining": String(reply.script?.rateLimitRemaining ?? (reply.quota ?? DEFAULT_QUOTA) - 1),
      "X-Rate-Limit-Reset": String(reply.script?.rateLimitReset ?? DEFAULT_RESET_S),
    });
    res.end(reply.text);
  }

  const server = createServer((req, res) => {
    req.on("error", () => undefined);
    void readBody(req).then(({ raw, tooLarge }) => {
      const rec = recordRequest(req, raw);
      requests.push(rec);
      const reply = decide(req, rec, raw, tooLarge);
      answerAfter(timers, delayMs + (reply.script?.delayMs ?? 0), () => send(res, reply));
    });
  });

  const port = await listenOnLoopback(server);

  return {
    url: `http://127.0.0.1:${port}`,
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
    setDefaultReceipt: (r) => {
      defaultReceipt = r;
    },
    scriptReceipts: (fn) => {
      receiptFn = fn;
    },
    setReceipt: (msgId, r) => {
      const known = receipts.get(msgId);
      receipts.set(msgId, {
        at: r.received ? Date.now() + (r.delayMs ?? 0) : undefined,
        channel: r.received ? (r.channel ?? "jpush") : "jpush",
        regid: known?.regid,
      });
    },
    scriptReport: (fn) => {
      reportFn = fn;
    },
    reportRequests: () => requests.filter((r) => r.path.startsWith("/v3/received/detail") || r.path.startsWith("/v3/status/message")),
    reset: () => {
      requests.length = 0;
      cidResults.clear();
      scriptFn = undefined;
      defaultScript = { httpStatus: 200 };
      receipts.clear();
      defaultReceipt = { received: false };
      receiptFn = undefined;
      reportFn = undefined;
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
  };
}

/** Digits go in unquoted, as JPush writes big msg_ids (docs/provider-internals.md, JPush); anything else is quoted. */
function rawNumber(id: string): string {
  return /^\d+$/.test(id) ? id : JSON.stringify(id);
}

function recordRequest(req: IncomingMessage, raw: Buffer): RecordedJpushRequest {
  const rec: RecordedJpushRequest = {
    method: req.method ?? "",
    path: req.url ?? "",
    body: parseBody(raw),
    receivedAt: Date.now(),
  };
  const auth = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  if (auth?.[1] !== undefined) {
    const decoded = Buffer.from(auth[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon >= 0) rec.auth = { appKey: decoded.slice(0, colon), masterSecret: decoded.slice(colon + 1) };
  }
  return rec;
}

async function readBody(req: IncomingMessage): Promise<{ raw: Buffer; tooLarge: boolean }> {
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
  return { raw: Buffer.concat(chunks), tooLarge: size > MAX_BODY };
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
