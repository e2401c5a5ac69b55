import { describe, expect, it } from "vitest";
import { APNS_REASONS, classifyApns } from "../../../src/providers/apns/apns-outcomes.js";

// Apple, "Handling notification responses from APNs", every documented (status, reason) row
// (docs/provider-internals.md, APNs) and the class we give it.
const ROWS: Array<[number, string, string]> = [
  [400, "BadCollapseId", "payload_error"],
  [400, "BadDeviceToken", "token_dead"],
  [400, "BadExpirationDate", "payload_error"],
  [400, "BadMessageId", "payload_error"],
  [400, "BadPriority", "payload_error"],
  [400, "BadTopic", "payload_error"],
  [400, "DeviceTokenNotForTopic", "token_dead"],
  [400, "DuplicateHeaders", "payload_error"],
  [400, "IdleTimeout", "retry"],
  [400, "InvalidPushType", "payload_error"],
  [400, "MissingDeviceToken", "payload_error"],
  [400, "MissingTopic", "payload_error"],
  [400, "PayloadEmpty", "payload_error"],
  [400, "TopicDisallowed", "config_error"],
  [403, "BadCertificate", "config_error"],
  [403, "BadCertificateEnvironment", "config_error"],
  [403, "ExpiredProviderToken", "retry"],
  [403, "Forbidden", "config_error"],
  [403, "InvalidProviderToken", "config_error"],
  [403, "MissingProviderToken", "config_error"],
  [403, "UnrelatedKeyIdInToken", "config_error"],
  [403, "BadEnvironmentKeyIdInToken", "config_error"],
  [403, "BadEnvironmentKeyInToken", "config_error"],
  [404, "BadPath", "payload_error"],
  [405, "MethodNotAllowed", "payload_error"],
  [410, "ExpiredToken", "token_dead"],
  [410, "Unregistered", "token_dead"],
  [413, "PayloadTooLarge", "payload_error"],
  [429, "TooManyProviderTokenUpdates", "config_error"],
  [429, "TooManyRequests", "retry"],
  [500, "InternalServerError", "retry"],
  [503, "ServiceUnavailable", "retry"],
  [503, "Shutdown", "retry"],
];

describe("APNs outcome table", () => {
  for (const [status, reason, cls] of ROWS) {
    it(`${status} ${reason} → ${cls}`, () => {
      expect(classifyApns({ status, reason })).toMatchObject({ class: cls, status, reason });
    });
  }

  it("covers every reason in the table", () => {
    const tested = new Set(ROWS.map(([, r]) => r.toLowerCase()));
    expect([...APNS_REASONS.keys()].filter((k) => !tested.has(k))).toEqual([]);
  });

  it("normalises spelling variants ('Service Unavailable')", () => {
    expect(classifyApns({ status: 503, reason: "Service Unavailable" }).class).toBe("retry");
  });

  it("keeps the 410 timestamp so a token registered again later is not disabled", () => {
    expect(classifyApns({ status: 410, reason: "Unregistered", timestamp: 1_700_000_000_000 })).toMatchObject({
      class: "token_dead",
      invalidatedAt: new Date(1_700_000_000_000),
    });
  });

  it("marks a per-device rate limit as device-scoped and carries Retry-After", () => {
    expect(classifyApns({ status: 429, reason: "TooManyRequests", retryAfterSeconds: 5 })).toMatchObject({
      class: "retry",
      perDevice: true,
      retryAfterMs: 5000,
    });
  });

  it("retries transport failures; a timeout may have been delivered, a refused stream was not", () => {
    expect(classifyApns({ reason: "apn write timeout" })).toEqual({ class: "retry", reason: "apn write timeout", maybeDelivered: true });
    expect(classifyApns({ reason: "apn write failed: Stream closed with error code NGHTTP2_REFUSED_STREAM" })).toEqual({
      class: "retry",
      reason: "apn write failed: Stream closed with error code NGHTTP2_REFUSED_STREAM",
    });
    expect(classifyApns({ reason: "client session is either closed or destroyed" }).class).toBe("retry");
  });

  it("never kills a token over an undocumented answer", () => {
    expect(classifyApns({ status: 418, reason: "Teapot" }).class).toBe("payload_error");
    expect(classifyApns({ status: 599 }).class).toBe("retry");
    expect(classifyApns({ status: 500, reason: "Error 500, stream ended unexpectedly" }).class).toBe("retry");
  });
});
