import { hash } from "node:crypto";
import type { PushAttempt } from "../ports/push-provider.js";
import { bareJid } from "../domain/jid.js";
import { truncateUtf8 } from "../shared/truncate-utf8.js";

// What the three payload builders (apns-payload, jpush-payload, fcm-payload) decide alike: the keys of an
// encrypted push, which text a push may show, how an oversized text is shortened, and how an identifier is hashed into a short key.
// Privacy: who wrote what leaves for Apple, JPush or Google only when the admin opted in
// (config-schema `includeMessageContent`); otherwise the app's generic title and body are all they see.

export const ELLIPSIS = "…";
const ELLIPSIS_BYTES = Buffer.byteLength(ELLIPSIS, "utf8");

/**
 * The keys an end-to-end-encrypted push carries for the app's notification extension (tigase:push:encrypt:0;
 * Siskin's NSE and Siskin-style Android clients read `encrypted` and `iv`), or none.
 */
export function encryptedKeys(n: PushAttempt["notification"]): { encrypted?: string; iv?: string } {
  return n.encrypted ? { encrypted: n.encrypted.payload, iv: n.encrypted.iv } : {};
}

/** The sender's bare JID (XEP-0357 `last-message-sender` may carry a resource): one thread per contact, not per device. */
export function bareSender(attempt: Pick<PushAttempt, "notification">): string | undefined {
  const sender = attempt.notification.lastMessageSender;
  return sender === undefined ? undefined : bareJid(sender);
}

/** Sender and body as far as the admin lets them leave; each undefined when withheld or absent. */
export function revealedContent(attempt: Pick<PushAttempt, "notification" | "content">): { sender?: string; body?: string } {
  if (!attempt.content.includeMessageContent) return {};
  const sender = bareSender(attempt);
  const body = attempt.notification.lastMessageBody;
  return { ...(sender ? { sender } : {}), ...(body ? { body } : {}) };
}

/** A visible notification's texts: the sender as title and the message as body when revealed, the generic texts otherwise. */
export function alertText(attempt: Pick<PushAttempt, "notification" | "content">): { title: string; body: string } {
  const shown = revealedContent(attempt);
  return { title: shown.sender ?? attempt.content.title, body: shown.body ?? attempt.content.body };
}

/**
 * `s` shortened so its JSON form is `overflowBytes` smaller, but never below `floorBytes` of text, and
 * marked with an ellipsis. Cutting k bytes of text shrinks the JSON by at least k (escapes only grow),
 * so the result always makes up the overflow unless the floor stops it. Never splits a character.
 */
export function trimToFit(s: string, overflowBytes: number, floorBytes = 0): string {
  const length = Buffer.byteLength(s, "utf8");
  if (overflowBytes <= 0 || length <= floorBytes) return s;
  const keep = Math.max(floorBytes, length - overflowBytes - ELLIPSIS_BYTES);
  if (keep <= 0) return "";
  return truncateUtf8(s, keep) + ELLIPSIS;
}

/**
 * A stable short key for an identifier (collapse ids, thread ids): the first `hexChars` hex digits of its
 * SHA-256. 32 fits apns-collapse-id and JPush's apns_collapse_id (≤ 64 bytes); it also hides the input.
 */
export function shortHash(s: string, hexChars = 32): string {
  // The one-shot hash: no Hash object per call (it runs for every push).
  return hash("sha256", s).slice(0, hexChars);
}
