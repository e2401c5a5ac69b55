import { describe, expect, it } from "vitest";
import { deliveryCore, message } from "../../support/memory/delivery-core.js";

// What a publish answers (the reply the user's server acts on) and what it leaves behind, on the
// in-memory delivery core: the audit, the durable job, the registration.

describe("publish service", () => {
  it("answers delivered, audits the attempt and leaves no job behind", async () => {
    const core = deliveryCore();
    const { node, secret } = await core.register({ apns: "a1" });
    expect(await core.publishTo(node, secret)).toBe("delivered");
    await core.writes.flush();
    expect(core.queue.jobs()).toEqual([]);
    expect((await core.audit.list({ node, limit: 10 })).map((r) => r.outcome)).toEqual(["delivered"]);
    expect((await core.registrations.findByNode(node))?.lastPushAtMs).toEqual(core.clock.now().getTime());
  });

  it("refuses the wrong sender, the wrong secret and an unknown node without calling a provider", async () => {
    const core = deliveryCore();
    const { node, secret } = await core.register({ apns: "a1" });
    expect(
      await core.publish.publish({ fromDomain: "evil.example", node, options: new Map([["secret", secret]]), notification: message }),
    ).toBe("forbidden");
    expect(await core.publishTo(node, `${secret}x`)).toBe("not-authorized");
    expect(await core.publishTo("no-such-node", secret)).toBe("unknown-node");
    expect(core.sent).toEqual([]);
  });

  it("answers token-dead once, then unknown-node", async () => {
    const core = deliveryCore({ strategy: { providers: ["apns"] } });
    core.answers.set("apns", () => ({ class: "token_dead", status: 410, reason: "Unregistered" }));
    const { node, secret } = await core.register({ apns: "a1" });
    expect(await core.publishTo(node, secret)).toBe("token-dead");
    expect(await core.publishTo(node, secret)).toBe("unknown-node");
  });

  it("answers payload-error (wait) when only our own request was refused", async () => {
    const core = deliveryCore({ strategy: { providers: ["apns"] } });
    core.answers.set("apns", () => ({ class: "payload_error", status: 400, reason: "BadTopic" }));
    const { node, secret } = await core.register({ apns: "a1" });
    expect(await core.publishTo(node, secret)).toBe("payload-error");
  });

  it("queues a push the provider cannot take now, and the worker delivers it when it is due", async () => {
    const core = deliveryCore({ strategy: { providers: ["apns"] } });
    core.answers.set("apns", () => ({ class: "retry", status: 503, reason: "ServiceUnavailable" }));
    const { node, secret } = await core.register({ apns: "a1" });
    expect(await core.publishTo(node, secret)).toBe("queued");
    await core.publish.drain();
    await core.writes.flush();
    const [job] = core.queue.jobs();
    expect(job).toMatchObject({
      node,
      attempts: 1,
      lastError: "ServiceUnavailable",
      nextAttemptAt: new Date(core.clock.now().getTime() + 1000),
    });

    core.answers.delete("apns");
    expect(await core.worker.runOnce()).toBe(0); // not due yet
    core.clock.advance(1000);
    expect(await core.worker.runOnce()).toBe(1);
    await core.worker.stop();
    await core.writes.flush();
    expect(core.queue.jobs()).toEqual([]);
    expect((await core.audit.list({ node, limit: 10 })).map((r) => `${r.attempt}:${r.outcome}`)).toEqual(["2:delivered", "1:retry"]);
  });

  it("answers overloaded beyond maxInFlight instead of queueing without bound", async () => {
    const core = deliveryCore({ delivery: { maxInFlight: 1, syncDeadlineMs: 20 }, strategy: { providers: ["apns"] } });
    let release: (() => void) | undefined;
    core.answers.set("apns", () => new Promise((resolve) => (release = () => resolve({ class: "delivered" }))));
    const { node, secret } = await core.register({ apns: "a1" });
    expect(await core.publishTo(node, secret)).toBe("queued");
    expect(await core.publishTo(node, secret)).toBe("overloaded");
    release?.();
    await core.publish.drain();
  });
});
