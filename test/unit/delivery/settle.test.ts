import { describe, expect, it } from "vitest";
import type { QueuedJob } from "../../../src/ports/delivery-queue.js";
import { deliveryCore, message } from "../../support/memory/delivery-core.js";

// The settle step decides for the publish service and the worker alike: complete, retry, or expire
// (counted and logged wherever it happens).

const jobFor = (core: ReturnType<typeof deliveryCore>, node: string, over: Partial<QueuedJob> = {}): QueuedJob => {
  const now = core.clock.now();
  return {
    node,
    pushId: `push-${node}`,
    app: "chat",
    notification: message,
    receivedAt: now,
    attempts: 1,
    nextAttemptAt: now,
    expiresAt: new Date(now.getTime() + 600_000),
    ...over,
  };
};

describe("settle step", () => {
  it("puts a retry back for the attempt the retry policy names, with the provider's reason", async () => {
    const core = deliveryCore();
    const job = jobFor(core, "n-retry", { attempts: 2 });
    await core.queue.put([job]);
    expect(core.settler.settle(job, { class: "retry", reason: "ServiceUnavailable" }, { persisted: true })).toBe("rescheduled");
    await core.writes.flush();
    expect(core.queue.jobs()).toEqual([
      { ...job, nextAttemptAt: new Date(core.clock.now().getTime() + 2000), lastError: "ServiceUnavailable" },
    ]);
    expect(await core.counter("xmpp_push_jobs_expired_total", 'app="chat"')).toBe(0);
  });

  it("waits as long as the provider asked, even past retryMaxMs", async () => {
    const core = deliveryCore({ delivery: { retryMaxMs: 60_000 } });
    const job = jobFor(core, "n-asked");
    core.settler.settle(job, { class: "retry", reason: "TooManyRequests", retryAfterMs: 120_000 }, { persisted: false });
    await core.writes.flush();
    expect(core.queue.jobs()[0]?.nextAttemptAt).toEqual(new Date(core.clock.now().getTime() + 120_000));
  });

  it("expires a push whose next attempt would come after its expiry: completed, counted and logged", async () => {
    const core = deliveryCore();
    const job = jobFor(core, "n-expire", { attempts: 3, expiresAt: new Date(core.clock.now().getTime() + 3000) });
    await core.queue.put([job]);
    expect(core.settler.settle(job, { class: "retry", reason: "ServiceUnavailable" }, { persisted: true })).toBe("expired");
    await core.writes.flush();
    expect(core.queue.jobs()).toEqual([]);
    expect(await core.counter("xmpp_push_jobs_expired_total", 'app="chat"')).toBe(1);
    expect(core.lines().find((l) => l.msg === "push expired undelivered")).toMatchObject({
      node: "n-expire",
      attempts: 3,
      reason: "ServiceUnavailable",
    });
  });

  it("completes delivered, dead and refused pushes; only a delivery records the last push", async () => {
    const core = deliveryCore();
    const delivered = await core.register({ apns: "aa" });
    const dead = await core.register({ apns: "bb" });
    const refused = await core.register({ apns: "cc" });
    const jobs = [jobFor(core, delivered.node), jobFor(core, dead.node), jobFor(core, refused.node)];
    await core.queue.put(jobs);
    expect(core.settler.settle(jobs[0]!, { class: "delivered" }, { persisted: true })).toBe("completed");
    expect(core.settler.settle(jobs[1]!, { class: "token_dead", reason: "Unregistered" }, { persisted: true })).toBe("completed");
    expect(core.settler.settle(jobs[2]!, { class: "payload_error", reason: "BadTopic" }, { persisted: true })).toBe("completed");
    await core.writes.flush();
    expect(core.queue.jobs()).toEqual([]);
    expect((await core.registrations.findByNode(delivered.node))?.lastPushAtMs).toEqual(core.clock.now().getTime());
    expect((await core.registrations.findByNode(dead.node))?.lastPushAtMs).toBeUndefined();
    expect((await core.registrations.findByNode(refused.node))?.lastPushAtMs).toBeUndefined();
  });

  it("counts pushes the queue dropped at their expiry", async () => {
    const core = deliveryCore();
    core.settler.expiredInQueue([jobFor(core, "a"), jobFor(core, "b")]);
    expect(await core.counter("xmpp_push_jobs_expired_total", 'app="chat"')).toBe(2);
  });

  it("counts an expiry decided by the publish's own first attempt too (not only the worker's)", async () => {
    const core = deliveryCore({ delivery: { jobTtlSeconds: 1, retryBaseMs: 5000 }, strategy: { providers: ["apns"] } });
    core.answers.set("apns", () => ({ class: "retry", status: 503, reason: "ServiceUnavailable" }));
    const { node, secret } = await core.register({ apns: "dd" });
    await core.publishTo(node, secret);
    await core.publish.drain();
    await core.writes.flush();
    expect(await core.counter("xmpp_push_jobs_expired_total", 'app="chat"')).toBe(1);
    expect(core.queue.jobs()).toEqual([]);
  });
});
