import { createHash } from "node:crypto";
import { truncateUtf8 } from "../shared/truncate-utf8.js";
import { z } from "zod";
import type { FcmConfig } from "../config/config-schema.js";
import type { DeliveryOutcome } from "../domain/delivery-outcome.js";
import type { PushAttempt, PushProvider } from "../ports/push-provider.js";
import { createAdcFcmAuth } from "./fcm-adc-auth.js";
import { createFcmAuth, type FcmAuth } from "./fcm-auth.js";
import { classifyFcm, isInvalidTokenVerdict, isStaleAccessToken, type FcmAnswer } from "./fcm-outcomes.js";
import { createProvenSetup } from "./proven-setup.js";
import { createHttpClient, headerSeconds, parseJsonBody, scrubToken, transportOutcome } from "./http-transport.js";
import type { ProviderDeps } from "./provider-deps.js";

// FCM HTTP v1, hand-rolled (docs/provider-internals.md "Clients", "FCM"): firebase-admin hard-codes the host (no fakes) and v14
// needs Node ≥ 22. Data-only messages: XMPP Android clients (Conversations, p2) wake on the data,
// connect, and fetch the messages over XMPP; a notification block would show a banner the app cannot
// filter or replace.

export interface FcmMessage {
  readonly token: string;
  /** FCM wants every data value as a string (docs/provider-internals.md "FCM"). */
  readonly data: Readonly<Record<string, string>>;
  readonly android: { readonly priority: "HIGH" | "NORMAL"; readonly ttl: string; readonly collapse_key?: string };
}

/** The whole message must stay within 4096 bytes (docs/provider-internals.md "FCM"). */
export const MAX_MESSAGE_BYTES = 4096;
/** ttl: at most four weeks (docs/provider-internals.md "FCM"). */
export const MAX_TTL_S = 4 * 7 * 24 * 3600;
const ELLIPSIS = "…";

export function buildFcmMessage(attempt: PushAttempt, nowMs: number): FcmMessage {
  const { notification: n, content } = attempt;
  const high = n.priority === "high" || n.call;
  const data: Record<string, string> = { ...attempt.data, priority: n.priority };
  if (n.encrypted) {
    data.encrypted = n.encrypted.payload;
    data.iv = n.encrypted.iv;
  }
  const sender = n.lastMessageSender?.split("/")[0];
  // Privacy: sender and body go to Google only when the admin opted in (config-schema includeMessageContent).
  if (content.includeMessageContent && high) {
    if (sender) data.sender = sender;
    if (n.lastMessageBody) data.body = n.lastMessageBody;
  }
  const ttlS = Math.min(MAX_TTL_S, Math.max(0, Math.floor((attempt.expiresAt.getTime() - nowMs) / 1000)));
  const message: FcmMessage = {
    token: attempt.address.token,
    data,
    android: {
      // HIGH wakes the device from Doze at once; Android may demote HIGH pushes that show nothing, which is
      // why low-priority (chat state) wake-ups ask for NORMAL (FCM AndroidConfig).
      priority: high ? "HIGH" : "NORMAL",
      ttl: `${ttlS}s`,
      // One pending wake-up per node is enough while the device is offline: the client fetches everything
      // once it connects. Pushes carrying a message body must not replace each other.
      ...(content.includeMessageContent ? {} : { collapse_key: shortHash(`node:${attempt.node}`) }),
    },
  };
  return fit(message);
}

/** Trims an oversized message instead of letting FCM reject it: the body first, then the encrypted payload. */
function fit(message: FcmMessage): FcmMessage {
  const size = (m: FcmMessage) => Buffer.byteLength(JSON.stringify({ message: m }), "utf8");
  if (size(message) <= MAX_MESSAGE_BYTES) return message;
  const data = { ...message.data };
  if (data.body !== undefined) {
    const keep = Buffer.byteLength(data.body, "utf8") - (size(message) - MAX_MESSAGE_BYTES) - Buffer.byteLength(ELLIPSIS, "utf8");
    data.body = keep > 0 ? truncateUtf8(data.body, keep) + ELLIPSIS : "";
  }
  for (const key of ["encrypted", "iv", "sender", "body"]) {
    if (size({ ...message, data }) <= MAX_MESSAGE_BYTES) break;
    delete data[key];
  }
  return { ...message, data };
}

const errorSchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.object({ "@type": z.string().optional(), errorCode: z.string().optional() })).optional(),
  }),
});
const successSchema = z.object({ name: z.string() });

export function createFcmProvider({ app, config, log, proxy, now = Date.now }: ProviderDeps<FcmConfig>): PushProvider {
  const { http, agentFor, close } = createHttpClient({ timeoutMs: config.timeoutMs, proxy });
  const { auth: credentials, timeoutMs } = config;
  const auth: FcmAuth =
    credentials.kind === "application-default"
      ? createAdcFcmAuth({ agentFor, timeoutMs, projectId: config.projectId })
      : createFcmAuth({ clientEmail: credentials.clientEmail, privateKey: credentials.privateKey, tokenUrl: credentials.tokenUrl, timeoutMs, http, now });
  const sendUrl = `${config.baseUrl.replace(/\/+$/, "")}/v1/projects/${encodeURIComponent(config.projectId)}/messages:send`;
  let closed = false;
  const setup = createProvenSetup<"send">(now);

  /** One POST; `staleToken` when FCM refused our access token and a fresh one may help. */
  const post = async (message: FcmMessage, signal: AbortSignal): Promise<{ outcome: DeliveryOutcome; staleToken?: string }> => {
    const token = await auth.accessToken(signal);
    if (!token.ok) return { outcome: token.outcome };
    let res;
    try {
      res = await http.post<unknown>(sendUrl, { message }, { signal, headers: { Authorization: `Bearer ${token.accessToken}`, "Content-Type": "application/json" } });
    } catch (err) {
      return { outcome: transportOutcome(err) };
    }
    const body = parseJsonBody(res.data);
    if (res.status === 200) {
      const ok = successSchema.safeParse(body);
      return { outcome: { class: "delivered", status: 200, ...(ok.success ? { messageId: ok.data.name } : {}) } };
    }
    const answer = fcmAnswer(res.status, body, retryAfterSeconds(res.headers["retry-after"], now()), message.token);
    return { outcome: classifyFcm(answer), ...(isStaleAccessToken(answer) ? { staleToken: token.accessToken } : {}) };
  };

  const send = async (attempt: PushAttempt): Promise<DeliveryOutcome> => {
    if (closed) return { class: "retry", reason: "provider closed" };
    if (attempt.signal.aborted) return { class: "retry", reason: "aborted before sending" };
    const message = buildFcmMessage(attempt, now());
    let result = await post(message, attempt.signal);
    if (result.staleToken !== undefined) {
      // An expired or revoked access token is an auth refresh, not a delivery retry (docs/provider-internals.md "FCM"): once, then config.
      auth.invalidate(result.staleToken);
      result = await post(message, attempt.signal);
    }
    let { outcome } = result;
    if (outcome.class === "delivered") setup.succeeded("send");
    // "Not a valid registration token" is believed only once this app's messages are known to be good.
    if (isInvalidTokenVerdict(outcome) && !setup.proven("send")) {
      outcome = { ...outcome, class: "payload_error", reason: `${outcome.reason} (no FCM push has succeeded yet: not disabling the device)` };
    }
    if (outcome.class === "config_error" || outcome.class === "payload_error") {
      log.error({ app, node: attempt.node, pushId: attempt.pushId, status: outcome.status, reason: outcome.reason }, "FCM refused the push");
    }
    return outcome;
  };

  return {
    kind: "fcm",
    name: `fcm:${app}`,
    send,
    async close() {
      closed = true;
      close();
    },
  };
}

function fcmAnswer(httpStatus: number, body: unknown, retryAfter: number | undefined, deviceToken: string): FcmAnswer {
  const parsed = errorSchema.safeParse(body);
  const error = parsed.success ? parsed.data.error : undefined;
  const errorCode = error?.details?.find((d) => d.errorCode !== undefined)?.errorCode;
  const message = scrubToken(error?.message, deviceToken);
  return {
    httpStatus,
    ...(errorCode !== undefined ? { errorCode } : {}),
    ...(error?.status !== undefined ? { status: error.status } : {}),
    ...(message !== undefined ? { message } : {}),
    ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
  };
}

/** Retry-After is delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function retryAfterSeconds(value: unknown, nowMs: number): number | undefined {
  const seconds = headerSeconds(value);
  if (seconds !== undefined) return seconds;
  if (typeof value !== "string") return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - nowMs) / 1000);
}



function shortHash(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("hex").slice(0, 16);
}
