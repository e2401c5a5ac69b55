import type { PushAttempt } from "../../ports/push-provider.js";
import type { ApnsEnvironment } from "../../domain/registration.js";
import type { JpushThirdPartyChannel } from "../../config/jpush-config-schema.js";
import { alertText, encryptedKeys, revealedContent, shortHash, trimToFit } from "../payload-text.js";

// The JPush REST v3 push body for one attempt (docs/provider-internals.md "JPush"). Pure.
//
// - platform "all": a registration id does not say whether it is an Android or an iOS device, and the
//   audience (one registration_id) already narrows the push to that one device. Both sections are sent;
//   JPush uses the one for the device's platform.
// - high priority: a visible notification. iOS gets alert + mutable-content so the app's Notification
//   Service Extension runs and fetches the real message over XMPP (docs/clients.md: every active iOS XMPP client works
//   this way); Android gets a notification at priority 2 (PRIORITY_MAX, "通知栏展示优先级" −2..2).
// - low priority (chat state, empty ejabberd notification, keepalive): nothing visible. iOS gets the
//   documented silent form `{alert: "", "content-available": true}` (docs/clients.md table), which JPush turns into an
//   APNs background push; Android gets a JPush custom message (`message`, "透传"), which reaches the app
//   without touching the notification shade. A notification with an empty Android alert would be a
//   no-op there, and a visible one would show a banner for a typing indicator.

export interface JpushIosNotification {
  readonly alert: { readonly title: string; readonly body: string } | "";
  readonly "mutable-content"?: true;
  readonly "content-available"?: true;
  readonly sound?: "default";
  readonly badge?: number;
  readonly "thread-id"?: string;
  readonly extras: Readonly<Record<string, string>>;
}

export interface JpushAndroidNotification {
  readonly alert: string;
  readonly title: string;
  readonly priority: 2;
  readonly extras: Readonly<Record<string, string>>;
}

export interface JpushMessage {
  readonly msg_content: string;
  readonly extras: Readonly<Record<string, string>>;
}

export interface JpushOptions {
  readonly sendno: number;
  readonly time_to_live: number;
  readonly apns_production: boolean;
  readonly apns_collapse_id: string;
  readonly classification?: 0 | 1;
  readonly third_party_channel?: JpushThirdPartyChannel;
}

/** The app's settings that shape every push body (config `jpush`, and the app's APNs default). */
export interface JpushPushSettings {
  readonly cid?: string;
  /** For registrations that name no environment: the app's APNs default environment. */
  readonly defaultEnvironment?: ApnsEnvironment;
  readonly classification?: 0 | 1;
  readonly thirdPartyChannel?: JpushThirdPartyChannel;
  /** Upper bound of options.time_to_live. */
  readonly timeToLiveSeconds?: number;
}

export interface JpushPushBody {
  readonly platform: "all";
  readonly audience: { readonly registration_id: readonly [string] };
  readonly notification: { readonly ios: JpushIosNotification; readonly android?: JpushAndroidNotification };
  readonly message?: JpushMessage;
  readonly options: JpushOptions;
  readonly cid?: string;
}

/** The `"ios":{…}` section JPush re-packs for APNs must stay within this (docs/provider-internals.md "JPush", else error 1005). */
export const MAX_IOS_BYTES = 2000;
/** Android notification + message (docs/provider-internals.md "JPush"). */
export const MAX_ANDROID_BYTES = 4000;
/** time_to_live: at most 10 days (docs/provider-internals.md "JPush"). */
export const MAX_TIME_TO_LIVE_S = 864_000;
/** What a silent wake-up carries to the Android app: the app only needs to know it should connect. */
export const WAKEUP_MESSAGE = "wakeup";

/** `cid`: an idempotency key from JPush's cid pool, the same for every attempt of one push (see jpush-cid-pool.ts). */
export function buildJpushPush(attempt: PushAttempt, settings: JpushPushSettings, nowMs: number): JpushPushBody {
  const { notification: n, content, address } = attempt;
  const extras: Record<string, string> = { ...attempt.data, ...encryptedKeys(n) };
  const showContent = content.includeMessageContent;
  const options: JpushOptions = {
    sendno: sendnoFor(attempt.pushId, attempt.attempt),
    time_to_live: clamp(Math.floor((attempt.expiresAt.getTime() - nowMs) / 1000), 0, settings.timeToLiveSeconds ?? MAX_TIME_TO_LIVE_S),
    // The API defaults to production and the official SDKs to sandbox (docs/provider-internals.md "JPush"): always say it. The
    // registration's own environment decides; one that names none gets the app's APNs default.
    apns_production: (address.environment ?? settings.defaultEnvironment ?? "production") === "production",
    // Generic texts for one device collapse into one notification; real messages must not replace each
    // other, but the collapse id of one push is the same on every attempt (≤ 64 bytes: 32 hex chars).
    apns_collapse_id: shortHash(showContent ? `push:${attempt.pushId}` : `node:${attempt.node}`),
    // Vendors fold and cap "marketing" pushes; a chat push is a system/IM message (docs/providers.md).
    ...(settings.classification !== undefined ? { classification: settings.classification } : {}),
    ...(settings.thirdPartyChannel !== undefined && Object.keys(settings.thirdPartyChannel).length > 0
      ? { third_party_channel: settings.thirdPartyChannel }
      : {}),
  };
  const base = {
    platform: "all" as const,
    audience: { registration_id: [address.token] as const },
    options,
    // A retry of this push carries the same cid, and JPush answers it with the first result instead of
    // pushing again (docs/provider-internals.md "JPush"): that is what makes retrying after a response timeout safe.
    ...(settings.cid !== undefined ? { cid: settings.cid } : {}),
  };

  // A call is never silent, whatever the summary said.
  if (n.priority === "low" && !n.call) {
    return {
      ...base,
      notification: { ios: fitIos({ alert: "", "content-available": true, extras: { ...extras } }) },
      message: fitAndroidMessage({ msg_content: WAKEUP_MESSAGE, extras: { ...extras } }),
    };
  }

  const { sender } = revealedContent(attempt);
  const { title, body } = alertText(attempt);
  const ios: JpushIosNotification = {
    alert: { title, body },
    "mutable-content": true,
    sound: "default",
    ...(n.messageCount !== undefined ? { badge: n.messageCount } : {}),
    ...(sender !== undefined ? { "thread-id": sender } : {}),
    extras: { ...extras },
  };
  const android: JpushAndroidNotification = { alert: body, title, priority: 2, extras: { ...extras } };
  return { ...base, notification: { ios: fitIos(ios), android: fitAndroid(android) } };
}

// Trimming order when a section is too large (JPush rejects it with 1005, docs/provider-internals.md "JPush"; we never reject):
// 1. the body, down to a short prefix (the Notification Service Extension fetches the real message anyway);
// 2. the custom extras, the bulky encrypted payload first;
// 3. the body, the thread-id and the title, down to nothing (absurdly long senders).
// An alert without text does not run the NSE (docs/provider-internals.md "APNs"), so a stub of text outranks a large encrypted payload.
const MIN_TEXT_BYTES = 64;

function fitIos(ios: JpushIosNotification): JpushIosNotification {
  const over = (x: JpushIosNotification) => Buffer.byteLength(`"ios":${JSON.stringify(x)}`, "utf8") - MAX_IOS_BYTES;
  const withExtras = (x: JpushIosNotification) => ({ ...x, extras: dropExtrasToFit(x.extras, (extras) => over({ ...x, extras }) <= 0) });
  if (over(ios) <= 0) return ios;
  if (ios.alert === "") return withExtras(ios);
  const { title } = ios.alert;
  let body = trimToFit(ios.alert.body, over(ios), MIN_TEXT_BYTES);
  let out = withExtras({ ...ios, alert: { title, body } });
  body = trimToFit(body, over(out), 0);
  out = { ...out, alert: { title, body } };
  if (over(out) > 0 && out["thread-id"] !== undefined) {
    const { "thread-id": _dropped, ...rest } = out;
    out = rest;
  }
  return { ...out, alert: { title: trimToFit(title, over(out), 0), body } };
}

function fitAndroid(android: JpushAndroidNotification): JpushAndroidNotification {
  const over = (x: JpushAndroidNotification) => Buffer.byteLength(JSON.stringify(x), "utf8") - MAX_ANDROID_BYTES;
  if (over(android) <= 0) return android;
  const trimmed = { ...android, alert: trimToFit(android.alert, over(android), MIN_TEXT_BYTES) };
  let out = { ...trimmed, extras: dropExtrasToFit(trimmed.extras, (extras) => over({ ...trimmed, extras }) <= 0) };
  out = { ...out, alert: trimToFit(out.alert, over(out), 0) };
  return { ...out, title: trimToFit(out.title, over(out), 0) };
}

function fitAndroidMessage(message: JpushMessage): JpushMessage {
  const fits = (extras: Record<string, string>) => Buffer.byteLength(JSON.stringify({ ...message, extras }), "utf8") <= MAX_ANDROID_BYTES;
  return { ...message, extras: dropExtrasToFit(message.extras, fits) };
}

/** Drops the encrypted payload (with its iv: one is useless without the other), then other custom keys. */
function dropExtrasToFit(extras: Readonly<Record<string, string>>, fits: (e: Record<string, string>) => boolean): Record<string, string> {
  const out = { ...extras };
  const groups = [
    ["encrypted", "iv"],
    ...Object.keys(out)
      .filter((k) => k !== "encrypted" && k !== "iv")
      .map((k) => [k]),
  ];
  for (const keys of groups) {
    if (fits(out)) break;
    for (const k of keys) delete out[k];
  }
  return out;
}

/** sendno is echoed back by JPush; it must be a non-zero int (docs/provider-internals.md "JPush"). Derived, so the builder stays pure. */
function sendnoFor(pushId: string, attempt: number): number {
  // The first 32 bits of the SHA-256.
  const n = Number.parseInt(shortHash(`${pushId}#${attempt}`, 8), 16);
  return (n % 0x7ffffffe) + 1;
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}
