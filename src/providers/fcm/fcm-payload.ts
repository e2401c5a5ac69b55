import type { PushAttempt } from "../../ports/push-provider.js";
import { encryptedKeys, revealedContent, shortHash, trimToFit } from "../payload-text.js";

// The FCM HTTP v1 message for one attempt (docs/provider-internals.md "FCM"). Pure. Data-only: XMPP
// Android clients (Conversations, p2) wake on the data, connect, and fetch the messages over XMPP; a
// notification block would show a banner the app cannot filter or replace.

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

export function buildFcmMessage(attempt: PushAttempt, nowMs: number): FcmMessage {
  const { notification: n, content } = attempt;
  const high = n.priority === "high" || n.call;
  const data: Record<string, string> = { ...attempt.data, priority: n.priority, ...encryptedKeys(n) };
  // Only a push worth showing carries who wrote what, and only as far as the admin lets it leave.
  if (high) Object.assign(data, revealedContent(attempt));
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
      ...(content.includeMessageContent ? {} : { collapse_key: shortHash(`node:${attempt.node}`, 16) }),
    },
  };
  return fit(message);
}

/** Trims an oversized message instead of letting FCM reject it: the body first, then the encrypted payload. */
function fit(message: FcmMessage): FcmMessage {
  const size = (m: FcmMessage) => Buffer.byteLength(JSON.stringify({ message: m }), "utf8");
  if (size(message) <= MAX_MESSAGE_BYTES) return message;
  const data = { ...message.data };
  if (data.body !== undefined) data.body = trimToFit(data.body, size(message) - MAX_MESSAGE_BYTES);
  for (const key of ["encrypted", "iv", "sender", "body"]) {
    if (size({ ...message, data }) <= MAX_MESSAGE_BYTES) break;
    delete data[key];
  }
  return { ...message, data };
}
