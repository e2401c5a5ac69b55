import type { PushAttempt } from "../../ports/push-provider.js";
import { truncateUtf8 } from "../../shared/truncate-utf8.js";
import { alertText, bareSender, encryptedKeys, shortHash, trimToFit } from "../payload-text.js";

// What one push looks like on the APNs wire (docs/provider-internals.md "APNs"). Pure.
//
// - alert (default): a visible notification with mutable-content, so the app's Notification Service
//   Extension runs and can fetch the real message over XMPP (Monal, Siskin, Conversations iOS).
// - background: content-available only, priority 5 ("using priority 10 is an error", Apple). Used for
//   pushes that carry nothing worth showing (chat states, keepalives) and for devices that asked for it.
// - voip: PushKit, topic <bundle>.voip, only for a call and only to a device that gave a VoIP token:
//   iOS 13+ kills apps that receive VoIP pushes they do not report to CallKit.

export type ApnsPushKind = "alert" | "background" | "voip";

export interface ApnsRequest {
  readonly token: string;
  readonly topic: string;
  readonly pushType: ApnsPushKind;
  readonly priority: 10 | 5;
  /** apns-expiration: epoch seconds (not a TTL: 300 would mean 1970). */
  readonly expiry: number;
  readonly collapseId?: string;
  /** apns-id, a UUID; the push id, so an attempt can be found in Apple's logs. */
  readonly id: string;
  readonly payload: Record<string, unknown>;
}

export interface ApnsPayloadSettings {
  readonly bundleId: string;
  readonly voip: boolean;
  readonly alertExpirySeconds: number;
}

export const MAX_PAYLOAD_BYTES = 4096;
export const MAX_VOIP_PAYLOAD_BYTES = 5120;
const VOIP_EXPIRY_SECONDS = 30; // a call nobody answers in time is over

export function buildApnsRequest(attempt: PushAttempt, settings: ApnsPayloadSettings, nowSeconds: number): ApnsRequest {
  const { notification: n, address, content } = attempt;
  const custom: Record<string, unknown> = { ...attempt.data, ...encryptedKeys(n) };

  if (n.call && address.voipToken !== undefined && settings.voip) {
    return fit({
      token: address.voipToken,
      topic: `${settings.bundleId}.voip`,
      pushType: "voip",
      priority: 10,
      expiry: nowSeconds + VOIP_EXPIRY_SECONDS,
      id: attempt.pushId,
      payload: { ...custom, call: true },
    });
  }

  const expiry = nowSeconds + settings.alertExpirySeconds;
  if (n.priority === "low" || address.pushType === "background") {
    return fit({
      token: address.token,
      topic: settings.bundleId,
      pushType: "background",
      priority: 5,
      expiry,
      id: attempt.pushId,
      payload: { aps: { "content-available": 1 }, ...custom },
    });
  }

  const sender = bareSender(attempt);
  const showContent = content.includeMessageContent;
  const { title, body } = alertText(attempt);
  const aps: Record<string, unknown> = {
    alert: { title, body },
    sound: "default",
    "mutable-content": 1,
    ...(n.messageCount !== undefined ? { badge: n.messageCount } : {}),
    // Groups a sender's notifications without telling Apple who the sender is.
    ...(sender ? { "thread-id": shortHash(sender) } : {}),
  };
  return fit({
    token: address.token,
    topic: settings.bundleId,
    pushType: "alert",
    priority: 10,
    expiry,
    // Generic texts for one device collapse into one notification; real messages must not, but a
    // retry of the same push replaces its twin instead of showing twice.
    collapseId: showContent ? attempt.pushId : collapseIdFor(attempt.node),
    id: attempt.pushId,
    payload: { aps, ...custom },
  });
}

/** Trims an oversized payload instead of letting APNs reject it (413): body first, then bulky extras. */
function fit(req: ApnsRequest): ApnsRequest {
  const limit = req.pushType === "voip" ? MAX_VOIP_PAYLOAD_BYTES : MAX_PAYLOAD_BYTES;
  const size = (p: unknown) => Buffer.byteLength(JSON.stringify(p), "utf8");
  let overflow = size(req.payload) - limit;
  if (overflow <= 0) return req;
  const payload = structuredClone(req.payload);
  const alert = (payload.aps as { alert?: { title: string; body: string } } | undefined)?.alert;
  if (alert) {
    alert.body = trimToFit(alert.body, overflow);
    overflow = size(payload) - limit;
    if (overflow > 0) alert.title = truncateUtf8(alert.title, Math.max(0, Buffer.byteLength(alert.title) - overflow));
  }
  for (const key of ["encrypted", "iv", ...Object.keys(payload).filter((k) => k !== "aps")]) {
    if (size(payload) <= limit) break;
    delete payload[key];
  }
  return { ...req, payload };
}

/** apns-collapse-id is at most 64 bytes: our nodes fit as they are; a longer client-chosen one is hashed. */
function collapseIdFor(node: string): string {
  return Buffer.byteLength(node, "utf8") <= 64 ? node : shortHash(`node:${node}`);
}
