import { describe, expect, it } from "vitest";
import { deliveryCore, message } from "../../support/memory/delivery-core.js";

// The worker on the in-memory queue and a driven clock: due jobs only, expiry through the settle step.

describe("delivery worker", () => {
  const queued = async (over: Parameters<typeof deliveryCore>[0] = {}) => {
    const core = deliveryCore({ strategy: { providers: ["apns"] }, ...over });
    core.answers.set("apns", () => ({ class: "retry", status: 503, reason: "ServiceUnavailable" }));
    const { node, secret } = await core.register({ apns: "a1" });
    expect(await core.publishTo(node, secret)).toBe("queued");
    await core.publish.drain();
    await core.writes.flush();
    return { core, node };
  };
  const round = async (core: ReturnType<typeof deliveryCore>) => {
    const n = await core.worker.runOnce();
    await core.worker.stop();
    await core.writes.flush();
    return n;
  };

  it("backs off between its own attempts and expires the push when the next one would be too late", async () => {
    const { core, node } = await queued({ delivery: { jobTtlSeconds: 5 } });
    core.clock.advance(1000);
    expect(await round(core)).toBe(1); // attempt 2 fails: next in 2 s
    expect(core.queue.jobs()[0]).toMatchObject({ attempts: 2, nextAttemptAt: new Date(core.clock.now().getTime() + 2000) });
    core.clock.advance(2000);
    expect(await round(core)).toBe(1); // attempt 3 fails: 4 s more would pass the 5 s TTL
    expect(core.queue.jobs()).toEqual([]);
    expect(await core.counter("xmpp_push_jobs_expired_total", 'app="chat"')).toBe(1);
    expect((await core.audit.list({ node, limit: 10 })).map((r) => r.attempt)).toEqual([3, 2, 1]);
  });

  it("drops a push whose device went away while it waited, without calling the provider", async () => {
    const { core, node } = await queued();
    await core.registrations.remove(node);
    core.cache.invalidate(node);
    core.clock.advance(1000);
    expect(await round(core)).toBe(1);
    expect(core.queue.jobs()).toEqual([]);
    expect(core.sent).toHaveLength(1);
  });

  it("sweeps and counts pushes that expired in the queue before anyone took them", async () => {
    const core = deliveryCore();
    const now = core.clock.now();
    await core.queue.put([
      {
        node: "stale",
        pushId: "s",
        app: "chat",
        notification: message,
        receivedAt: now,
        attempts: 1,
        nextAttemptAt: new Date(now.getTime() + 60_000),
        expiresAt: new Date(now.getTime() + 30_000),
      },
    ]);
    core.clock.advance(31_000);
    expect(await round(core)).toBe(0);
    expect(core.queue.jobs()).toEqual([]);
    expect(await core.counter("xmpp_push_jobs_expired_total", 'app="chat"')).toBe(1);
  });
});
