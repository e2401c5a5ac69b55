import { describe, expect, it } from "vitest";
import type { Notification } from "../../../src/domain/notification.js";
import type { PushAttempt } from "../../../src/ports/push-provider.js";
import {
  buildJpushPush,
  MAX_ANDROID_BYTES,
  MAX_IOS_BYTES,
  MAX_TIME_TO_LIVE_S,
  WAKEUP_MESSAGE,
} from "../../../src/providers/jpush/jpush-payload.js";

const NOW = 1_800_000_000_000;
const APP_KEY = "0123456789abcdefABCDEF01";
const CID = `${APP_KEY}-3f2a0c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b`;
const settings = { cid: CID };
const REGID = "1a0018970a8a2b0c3d4";
const attempt = (n: Partial<Notification> = {}, over: Partial<PushAttempt> = {}): PushAttempt => ({
  pushId: "0b8f1c5e-2f35-4e1b-9d7a-3c1e2b4a5d6f",
  node: "node-1",
  attempt: 1,
  address: { provider: "jpush", token: REGID, environment: "production", updatedAtMs: Date.now() },
  notification: {
    priority: "high",
    call: false,
    messageCount: 1,
    lastMessageSender: "bob@example.org/phone",
    lastMessageBody: "secret plans",
    ...n,
  },
  content: { title: "New message", body: "New message", includeMessageContent: false },
  data: { account: "f00d" },
  expiresAt: new Date(NOW + 600_000),
  signal: new AbortController().signal,
  ...over,
});
const showing = { content: { title: "t", body: "b", includeMessageContent: true } };
const bytes = (x: unknown) => Buffer.byteLength(JSON.stringify(x), "utf8");

describe("JPush push body", () => {
  it("targets exactly one registration id on every platform, with a generic text by default (privacy)", () => {
    const b = buildJpushPush(attempt(), settings, NOW);
    expect(b.platform).toBe("all");
    expect(b.audience).toEqual({ registration_id: [REGID] });
    expect(b.notification.ios).toEqual({
      alert: { title: "New message", body: "New message" },
      "mutable-content": true,
      sound: "default",
      badge: 1,
      extras: { account: "f00d" },
    });
    expect(b.notification.android).toEqual({ alert: "New message", title: "New message", priority: 2, extras: { account: "f00d" } });
    expect(b.message).toBeUndefined();
    expect(JSON.stringify(b)).not.toContain("bob@example.org");
    expect(JSON.stringify(b)).not.toContain("secret plans");
  });

  it("shows sender and body when the app opts in, one thread per sender", () => {
    const b = buildJpushPush(attempt({}, showing), settings, NOW);
    expect(b.notification.ios).toMatchObject({ alert: { title: "bob@example.org", body: "secret plans" }, "thread-id": "bob@example.org" });
    expect(b.notification.android).toMatchObject({ alert: "secret plans", title: "bob@example.org" });
  });

  it("says apns_production explicitly, both ways, production when the registration does not say", () => {
    const env = (environment: "sandbox" | "production" | undefined) =>
      buildJpushPush(
        attempt({}, { address: { provider: "jpush", token: REGID, ...(environment ? { environment } : {}), updatedAtMs: Date.now() } }),
        settings,
        NOW,
      ).options.apns_production;
    expect(env("production")).toBe(true);
    expect(env("sandbox")).toBe(false);
    expect(env(undefined)).toBe(true);
  });

  it("follows the registration's environment first, then the app's APNs default", () => {
    const unnamed = attempt({}, { address: { provider: "jpush", token: REGID, updatedAtMs: Date.now() } });
    expect(buildJpushPush(unnamed, { ...settings, defaultEnvironment: "sandbox" }, NOW).options.apns_production).toBe(false);
    expect(buildJpushPush(unnamed, { ...settings, defaultEnvironment: "production" }, NOW).options.apns_production).toBe(true);
    expect(buildJpushPush(attempt(), { ...settings, defaultEnvironment: "sandbox" }, NOW).options.apns_production).toBe(true);
  });

  it("passes vendor-channel options and classification on unchanged, and caps time_to_live at the app's limit", () => {
    const thirdPartyChannel = { xiaomi: { channel_id: "chat" }, vivo: { classification: 1 as const, category: "IM" } };
    const b = buildJpushPush(attempt(), { ...settings, thirdPartyChannel, classification: 1, timeToLiveSeconds: 90 }, NOW);
    expect(b.options.third_party_channel).toEqual(thirdPartyChannel);
    expect(b.options.classification).toBe(1);
    expect(b.options.time_to_live).toBe(90);
    // An empty vendor block sends no third_party_channel at all.
    expect(buildJpushPush(attempt(), { ...settings, thirdPartyChannel: {} }, NOW).options).not.toHaveProperty("third_party_channel");
  });

  it("carries the cid it is given, and none when the pool had none", () => {
    expect(buildJpushPush(attempt(), settings, NOW).cid).toBe(CID);
    expect(buildJpushPush(attempt(), {}, NOW)).not.toHaveProperty("cid");
  });

  it("sets a positive sendno, a time to live from the deadline and a short collapse id", () => {
    const { options } = buildJpushPush(attempt(), settings, NOW);
    expect(Number.isInteger(options.sendno) && options.sendno > 0 && options.sendno <= 0x7fffffff).toBe(true);
    expect(options.time_to_live).toBe(600);
    expect(Buffer.byteLength(options.apns_collapse_id)).toBeLessThanOrEqual(64);
    expect(buildJpushPush(attempt({}, { expiresAt: new Date(NOW - 5000) }), settings, NOW).options.time_to_live).toBe(0);
    expect(buildJpushPush(attempt({}, { expiresAt: new Date(NOW + 30 * 86_400_000) }), settings, NOW).options.time_to_live).toBe(
      MAX_TIME_TO_LIVE_S,
    );
  });

  it("collapses generic pushes per device, never pushes that show a message", () => {
    const collapse = (o: Partial<PushAttempt>) => buildJpushPush(attempt({}, o), settings, NOW).options.apns_collapse_id;
    expect(collapse({ pushId: "a" })).toBe(collapse({ pushId: "b" }));
    expect(collapse({ pushId: "a", node: "node-2" })).not.toBe(collapse({ pushId: "a" }));
    expect(collapse({ pushId: "a", ...showing })).not.toBe(collapse({ pushId: "b", ...showing }));
  });

  it("is a silent push for a chat state: content-available on iOS, a custom message on Android", () => {
    const b = buildJpushPush(attempt({ priority: "low", lastMessageBody: undefined, messageCount: undefined }), settings, NOW);
    expect(b.notification).toEqual({ ios: { alert: "", "content-available": true, extras: { account: "f00d" } } });
    expect(b.message).toEqual({ msg_content: WAKEUP_MESSAGE, extras: { account: "f00d" } });
    expect(b.options.apns_production).toBe(true);
  });

  it("never makes a call silent", () => {
    const b = buildJpushPush(attempt({ priority: "low", call: true }), settings, NOW);
    expect(b.notification.ios["mutable-content"]).toBe(true);
    expect(b.message).toBeUndefined();
  });

  it("passes a server-encrypted payload through in the extras", () => {
    const b = buildJpushPush(attempt({ encrypted: { payload: "c2VjcmV0", iv: "aXY=" } }), settings, NOW);
    expect(b.notification.ios.extras).toEqual({ account: "f00d", encrypted: "c2VjcmV0", iv: "aXY=" });
    expect(b.notification.android?.extras).toEqual({ account: "f00d", encrypted: "c2VjcmV0", iv: "aXY=" });
  });

  it("trims a long body to keep the iOS section within 2000 bytes (never rejects)", () => {
    const long = "ü".repeat(3000);
    const b = buildJpushPush(attempt({ lastMessageBody: long }, showing), settings, NOW);
    const ios = b.notification.ios;
    expect(Buffer.byteLength(`"ios":${JSON.stringify(ios)}`)).toBeLessThanOrEqual(MAX_IOS_BYTES);
    expect(bytes(b.notification.android)).toBeLessThanOrEqual(MAX_ANDROID_BYTES);
    const body = typeof ios.alert === "object" ? ios.alert.body : "";
    expect(body.endsWith("…")).toBe(true);
    expect(long.startsWith(body.slice(0, -1))).toBe(true);
    // Trimming took only what it had to.
    expect(Buffer.byteLength(`"ios":${JSON.stringify(ios)}`)).toBeGreaterThan(MAX_IOS_BYTES - 10);
    expect(ios.extras).toEqual({ account: "f00d" });
  });

  it("drops a bulky encrypted payload only when trimming the texts is not enough", () => {
    const b = buildJpushPush(attempt({ encrypted: { payload: "x".repeat(2500), iv: "aXY=" } }), settings, NOW);
    expect(Buffer.byteLength(`"ios":${JSON.stringify(b.notification.ios)}`)).toBeLessThanOrEqual(MAX_IOS_BYTES);
    expect(b.notification.ios.extras).toEqual({ account: "f00d" });
    // The alert keeps its text, or the Notification Service Extension would not run.
    expect(b.notification.ios.alert).toEqual({ title: "New message", body: "New message" });
    // Android's limit is larger: it keeps the payload.
    expect(b.notification.android?.extras.encrypted).toHaveLength(2500);
  });

  it("fits even an absurd sender and body", () => {
    const b = buildJpushPush(
      attempt({ lastMessageSender: `${"a".repeat(3000)}@example.org`, lastMessageBody: "b".repeat(5000) }, showing),
      settings,
      NOW,
    );
    expect(Buffer.byteLength(`"ios":${JSON.stringify(b.notification.ios)}`)).toBeLessThanOrEqual(MAX_IOS_BYTES);
    expect(bytes(b.notification.android)).toBeLessThanOrEqual(MAX_ANDROID_BYTES);
  });
});
