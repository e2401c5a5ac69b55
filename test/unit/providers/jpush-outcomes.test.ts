import { describe, expect, it } from "vitest";
import { classifyJpush, isMalformedRegistrationId, JPUSH_CODES } from "../../../src/providers/jpush/jpush-outcomes.js";

// JPush "Push API v3" error table, every documented (HTTP status, code) row (docs/provider-internals.md, JPush) and the
// class we give it.
const ROWS: Array<[number, number, string]> = [
  [500, 1000, "retry"],
  [405, 1001, "payload_error"],
  [400, 1002, "payload_error"],
  [400, 1003, "payload_error"],
  [401, 1004, "config_error"],
  [400, 1005, "payload_error"],
  [400, 1008, "config_error"],
  [400, 1009, "payload_error"],
  [400, 1011, "token_dead"],
  [400, 1012, "retry"],
  [404, 1020, "config_error"],
  [503, 1030, "retry"],
  [429, 2001, "retry"],
  [429, 2002, "retry"],
  [403, 2003, "config_error"],
  [403, 2004, "config_error"],
  [403, 2005, "retry"],
  [403, 2006, "config_error"],
  [403, 2007, "config_error"],
];

describe("JPush outcome table", () => {
  for (const [httpStatus, code, cls] of ROWS) {
    it(`${httpStatus} ${code} → ${cls}`, () => {
      const o = classifyJpush({ httpStatus, code, message: "whatever JPush said" });
      expect(o).toMatchObject({ class: cls, status: code });
      expect(o.reason).toMatch(new RegExp(`^${code} `));
      expect(o).not.toHaveProperty("messageId");
    });
  }

  it("covers every code in the table", () => {
    const tested = new Set(ROWS.map(([, c]) => c));
    expect([...JPUSH_CODES.keys()].filter((k) => !tested.has(k))).toEqual([]);
  });

  it("answers 200 with delivered", () => {
    expect(classifyJpush({ httpStatus: 200 })).toEqual({ class: "delivered", status: 200 });
  });

  it("keeps the reason short and stable instead of echoing JPush's long text", () => {
    const o = classifyJpush({
      httpStatus: 400,
      code: 1011,
      message: "cannot find user by this audience or has been inactive for more than 255 days",
    });
    expect(o).toEqual({ class: "token_dead", status: 1011, reason: "1011 cannot find user by this audience" });
  });

  it("waits for the rate-limit window to reset on 2002 and 2001", () => {
    expect(classifyJpush({ httpStatus: 429, code: 2002, rateLimitResetSeconds: 30 })).toMatchObject({
      class: "retry",
      retryAfterMs: 30_000,
    });
    expect(classifyJpush({ httpStatus: 429, code: 2001, rateLimitResetSeconds: 7 })).toMatchObject({ class: "retry", retryAfterMs: 7_000 });
    expect(classifyJpush({ httpStatus: 429, rateLimitResetSeconds: 12 })).toMatchObject({ class: "retry", retryAfterMs: 12_000 });
  });

  it("ignores X-Rate-Limit-Reset on answers that are not about the rate limit (every response carries it)", () => {
    expect(classifyJpush({ httpStatus: 503, code: 1030, rateLimitResetSeconds: 60 })).not.toHaveProperty("retryAfterMs");
    expect(classifyJpush({ httpStatus: 400, code: 1011, rateLimitResetSeconds: 60 })).not.toHaveProperty("retryAfterMs");
  });

  it("scopes a per-target volume limit (2005) to the device", () => {
    expect(classifyJpush({ httpStatus: 403, code: 2005 })).toMatchObject({ class: "retry", perDevice: true });
    expect(classifyJpush({ httpStatus: 429, code: 2002 })).not.toHaveProperty("perDevice");
  });

  it("retries 5xx without a code and treats 401 without a code as our credentials", () => {
    for (const s of [500, 502, 503, 504]) expect(classifyJpush({ httpStatus: s })).toMatchObject({ class: "retry", status: s });
    expect(classifyJpush({ httpStatus: 401 })).toMatchObject({ class: "config_error", status: 401 });
  });

  it("never kills a token over an undocumented answer", () => {
    expect(classifyJpush({ httpStatus: 400, code: 4242, message: "new thing" })).toMatchObject({
      class: "payload_error",
      status: 4242,
      reason: "4242 new thing",
    });
    expect(classifyJpush({ httpStatus: 418 })).toMatchObject({ class: "payload_error", reason: "HTTP 418" });
    expect(classifyJpush({ httpStatus: 599 }).class).toBe("retry");
  });

  it("kills a registration only on a 1003 about a registration_id that cannot be one", () => {
    const message = "registration_id is invalid";
    expect(classifyJpush({ httpStatus: 400, code: 1003, message, registrationIdMalformed: true })).toMatchObject({
      class: "token_dead",
      status: 1003,
    });
    expect(classifyJpush({ httpStatus: 400, code: 1003, message, registrationIdMalformed: false }).class).toBe("payload_error");
    expect(
      classifyJpush({ httpStatus: 400, code: 1003, message: "options.time_to_live invalid", registrationIdMalformed: true }).class,
    ).toBe("payload_error");
    expect(isMalformedRegistrationId("1a0018970a8a2b0c3d4")).toBe(false);
    expect(isMalformedRegistrationId("")).toBe(true);
    expect(isMalformedRegistrationId("not a regid!")).toBe(true);
  });
});
