import { describe, expect, it } from "vitest";
import type { Registration } from "../../../src/domain/registration.js";
import { pushDataFor } from "../../../src/delivery/push-data.js";

// The account keys a push carries, computed once per loaded registration and kept out of sight.

const registration = (): Registration => ({
  node: "n1",
  app: "chat",
  ownerJid: "juliet@example.org",
  deviceId: "phone",
  channel: "",
  dialect: "p2",
  addresses: [{ provider: "apns", token: "a".repeat(64), updatedAtMs: 0 }],
  createdAtMs: 0,
  updatedAtMs: 0,
});

describe("push data", () => {
  it("is computed once per registration object, and the registration looks unchanged", () => {
    const reg = registration();
    const before = { keys: Reflect.ownKeys(reg), json: JSON.stringify(reg) };
    const first = pushDataFor(reg);
    expect(first).toEqual({ account: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect(pushDataFor(reg)).toBe(first);
    expect(Object.keys(reg)).toEqual(before.keys);
    expect(JSON.stringify(reg)).toBe(before.json);
    expect(reg).toEqual(registration());
  });

  it("is the same for an equal registration loaded again, and works on a frozen one", () => {
    const frozen = Object.freeze(registration());
    expect(pushDataFor(frozen)).toEqual(pushDataFor(registration()));
  });
});
