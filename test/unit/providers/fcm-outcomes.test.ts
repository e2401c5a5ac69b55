import { describe, expect, it } from "vitest";
import {
  classifyFcm,
  classifyTokenError,
  FCM_ERROR_CODES,
  isStaleAccessToken,
  OAUTH_ERRORS,
} from "../../../src/providers/fcm/fcm-outcomes.js";

// FCM HTTP v1 ErrorCode reference, every documented (HTTP status, errorCode) row (docs/provider-internals.md, FCM).
const ROWS: Array<[number, string, string]> = [
  [404, "UNREGISTERED", "token_dead"],
  [400, "INVALID_ARGUMENT", "payload_error"],
  [403, "SENDER_ID_MISMATCH", "token_dead"],
  [401, "THIRD_PARTY_AUTH_ERROR", "config_error"],
  [429, "QUOTA_EXCEEDED", "retry"],
  [503, "UNAVAILABLE", "retry"],
  [500, "INTERNAL", "retry"],
  [500, "UNSPECIFIED_ERROR", "retry"],
];

describe("FCM outcome table", () => {
  for (const [httpStatus, errorCode, cls] of ROWS) {
    it(`${httpStatus} ${errorCode} → ${cls}`, () => {
      expect(classifyFcm({ httpStatus, errorCode, message: "m" })).toMatchObject({ class: cls, status: httpStatus });
      expect(classifyFcm({ httpStatus, errorCode }).reason).toMatch(new RegExp(`^${errorCode}`));
    });
  }

  it("covers every errorCode in the table", () => {
    const tested = new Set(ROWS.map(([, c]) => c));
    expect([...FCM_ERROR_CODES.keys()].filter((k) => !tested.has(k))).toEqual([]);
  });

  it("treats INVALID_ARGUMENT about the registration token as a dead token, any other as our bug", () => {
    expect(
      classifyFcm({
        httpStatus: 400,
        errorCode: "INVALID_ARGUMENT",
        message: "The registration token is not a valid FCM registration token",
      }),
    ).toMatchObject({ class: "token_dead", status: 400 });
    expect(
      classifyFcm({ httpStatus: 400, errorCode: "INVALID_ARGUMENT", message: "Invalid value at 'message.android.ttl'" }),
    ).toMatchObject({
      class: "payload_error",
      reason: "INVALID_ARGUMENT: Invalid value at 'message.android.ttl'",
    });
  });

  it("waits at least a minute on QUOTA_EXCEEDED unless Retry-After says otherwise", () => {
    expect(classifyFcm({ httpStatus: 429, errorCode: "QUOTA_EXCEEDED" })).toMatchObject({ class: "retry", retryAfterMs: 60_000 });
    expect(classifyFcm({ httpStatus: 429, errorCode: "QUOTA_EXCEEDED", retryAfterSeconds: 90 })).toMatchObject({ retryAfterMs: 90_000 });
    expect(classifyFcm({ httpStatus: 429, errorCode: "QUOTA_EXCEEDED" })).not.toHaveProperty("perDevice");
  });

  it("honours Retry-After on UNAVAILABLE", () => {
    expect(classifyFcm({ httpStatus: 503, errorCode: "UNAVAILABLE", retryAfterSeconds: 5 })).toMatchObject({
      class: "retry",
      retryAfterMs: 5000,
    });
    expect(classifyFcm({ httpStatus: 503, errorCode: "UNAVAILABLE" })).not.toHaveProperty("retryAfterMs");
  });

  it("falls back to Google's status name, then to the HTTP status", () => {
    expect(classifyFcm({ httpStatus: 401, status: "UNAUTHENTICATED" }).class).toBe("config_error");
    expect(classifyFcm({ httpStatus: 403, status: "PERMISSION_DENIED" }).class).toBe("config_error");
    // A 404 without UNREGISTERED is a wrong project id, not a dead device.
    expect(classifyFcm({ httpStatus: 404, status: "NOT_FOUND" }).class).toBe("config_error");
    expect(classifyFcm({ httpStatus: 502 }).class).toBe("retry");
    expect(classifyFcm({ httpStatus: 418 }).class).toBe("payload_error");
  });

  it("refreshes the access token only for a bare 401, not for THIRD_PARTY_AUTH_ERROR", () => {
    expect(isStaleAccessToken({ httpStatus: 401, status: "UNAUTHENTICATED" })).toBe(true);
    expect(isStaleAccessToken({ httpStatus: 401, errorCode: "THIRD_PARTY_AUTH_ERROR" })).toBe(false);
    expect(isStaleAccessToken({ httpStatus: 404, errorCode: "UNREGISTERED" })).toBe(false);
  });
});

describe("FCM token endpoint errors", () => {
  for (const error of OAUTH_ERRORS.keys()) {
    it(`${error} → config_error`, () => {
      expect(classifyTokenError({ httpStatus: 400, error, description: "d" })).toMatchObject({ class: "config_error", status: 400 });
    });
  }

  it("retries when Google's token endpoint is down or rate limited", () => {
    expect(classifyTokenError({ httpStatus: 503 }).class).toBe("retry");
    expect(classifyTokenError({ httpStatus: 429 }).class).toBe("retry");
    expect(classifyTokenError({ httpStatus: 403 }).class).toBe("config_error");
  });

  it("names the failure and Google's description", () => {
    expect(classifyTokenError({ httpStatus: 400, error: "invalid_grant", description: "Invalid JWT Signature." }).reason).toBe(
      "token endpoint invalid_grant: Invalid JWT Signature.",
    );
  });
});
