import { describe, expect, it } from "vitest";
import { deliveryCore } from "../../support/memory/delivery-core.js";

// One delivery attempt over a device's addresses: the provider chain, the audit of every call, dead
// addresses disabled, and the breaker in front of each provider (on the driven clock).

const setup = async (over: Parameters<typeof deliveryCore>[0] = {}) => {
  const core = deliveryCore(over);
  const { node } = await core.register({ apns: "a1", jpush: "j1" });
  const reg = (await core.registrations.findByNode(node))!;
  const app = core.config.apps[0]!;
  const dispatch = (attempt = 1) =>
    core.dispatcher.dispatch(
      reg,
      app,
      { pushId: `p${attempt}`, node, app: "chat", notification: { priority: "high", call: false }, receivedAt: core.clock.now() },
      attempt,
      new Date(core.clock.now().getTime() + 600_000),
    );
  const rows = async () => {
    await core.writes.flush();
    return core.audit.list({ node, limit: 100 });
  };
  return { core, node, dispatch, rows };
};

describe("dispatcher", () => {
  it("falls back down the chain and audits every provider call", async () => {
    const { core, dispatch, rows } = await setup();
    core.answers.set("apns", () => ({ class: "retry", status: 503, reason: "ServiceUnavailable" }));
    expect(await dispatch()).toEqual({ class: "delivered" });
    expect((await rows()).map((r) => `${r.provider}:${r.outcome}`).reverse()).toEqual(["apns:retry", "jpush:delivered"]);
    expect(await core.counter("xmpp_push_pushes_total", 'app="chat",provider="apns",outcome="retry"')).toBe(1);
  });

  it("sums a push nothing delivered: retry wins over payload_error, and keeps the longest wait asked", async () => {
    const { core, dispatch } = await setup();
    core.answers.set("apns", () => ({ class: "payload_error", status: 400, reason: "BadTopic" }));
    core.answers.set("jpush", () => ({ class: "retry", status: 429, reason: "TooManyRequests", retryAfterMs: 7000 }));
    expect(await dispatch()).toEqual({ class: "retry", reason: "TooManyRequests", retryAfterMs: 7000 });
    core.answers.set("jpush", () => ({ class: "payload_error", status: 400, reason: "too long" }));
    expect(await dispatch(2)).toEqual({ class: "payload_error", reason: "BadTopic; too long" });
  });

  it("disables dead addresses, and answers token_dead when none is left", async () => {
    const { core, node, dispatch } = await setup();
    core.answers.set("apns", () => ({ class: "token_dead", status: 410, reason: "Unregistered" }));
    core.answers.set("jpush", () => ({ class: "token_dead", status: 400, reason: "1011" }));
    expect(await dispatch()).toEqual({ class: "token_dead", reason: "Unregistered; 1011" });
    const reg = await core.registrations.findByNode(node);
    expect(reg?.disabledAtMs).toEqual(core.clock.now().getTime());
    expect(await core.counter("xmpp_push_addresses_disabled_total", 'app="chat",provider="apns"')).toBe(1);
  });

  it("stops calling a provider whose credentials fail, and probes it again after the cooldown", async () => {
    const { core, dispatch, rows } = await setup({ strategy: { providers: ["apns"] }, delivery: { breakerCooldownMs: 30_000 } });
    core.answers.set("apns", () => ({ class: "config_error", status: 403, reason: "InvalidProviderToken" }));
    expect((await dispatch()).class).toBe("retry");
    expect((await dispatch(2)).class).toBe("retry");
    expect(core.sent).toHaveLength(1);
    expect((await rows())[0]).toMatchObject({ outcome: "retry", reason: "circuit-open", latencyMs: 0 });
    core.answers.delete("apns");
    core.clock.advance(30_000);
    expect(await dispatch(3)).toEqual({ class: "delivered" });
    expect(core.sent).toHaveLength(2);
    expect(core.breakerChanges.map((c) => c.state)).toEqual(["open", "half-open", "closed"]);
  });

  it("gives up on a provider that does not answer within providerTimeoutMs, as a retry that may have arrived", async () => {
    const { core, dispatch, rows } = await setup({ strategy: { providers: ["apns"] }, delivery: { providerTimeoutMs: 50 } });
    core.answers.set("apns", () => new Promise(() => undefined));
    expect(await dispatch()).toEqual({ class: "retry", reason: "timeout" });
    expect((await rows())[0]).toMatchObject({ outcome: "retry", reason: "timeout" });
  });
});
