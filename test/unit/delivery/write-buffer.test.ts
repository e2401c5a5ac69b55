import { describe, expect, it } from "vitest";
import type { QueuedJob } from "../../../src/ports/delivery-queue.js";
import { deliveryCore, message } from "../../support/memory/delivery-core.js";
import { waitFor } from "../../support/wait-for.js";

// The group commit: what reaches the (in-memory) database, what never needs to, and what survives an outage.

const jobFor = (core: ReturnType<typeof deliveryCore>, node: string): QueuedJob => {
  const now = core.clock.now();
  return {
    node,
    pushId: `push-${node}`,
    app: "chat",
    notification: message,
    receivedAt: now,
    attempts: 1,
    nextAttemptAt: now,
    expiresAt: new Date(now.getTime() + 60_000),
  };
};

describe("write buffer", () => {
  it("never writes a job whose push was done before its batch went out", async () => {
    const core = deliveryCore();
    const job = jobFor(core, "quick");
    const durable = core.writes.putJob(job);
    core.writes.completeJob(job);
    expect(await durable).toBe(true);
    await core.writes.flush();
    expect(core.database.commits).toBe(0);
    expect(core.queue.jobs()).toEqual([]);
  });

  it("deletes a job it did write once the push completes", async () => {
    const core = deliveryCore();
    const job = jobFor(core, "slow");
    expect(await core.writes.putJob(job)).toBe(true);
    expect(core.queue.jobs()).toEqual([job]);
    core.writes.completeJob(job);
    await core.writes.flush();
    expect(core.queue.jobs()).toEqual([]);
  });

  it("says a job is not durable while the database is away, and keeps audit rows for when it is back", async () => {
    const core = deliveryCore();
    core.database.failing = true;
    const durable = core.writes.putJob(jobFor(core, "outage"));
    core.writes.recordAttempt({
      pushId: "p",
      node: "outage",
      app: "chat",
      provider: "apns",
      outcome: "retry",
      attempt: 1,
      latencyMs: 3,
      createdAt: core.clock.now(),
    });
    await core.writes.flush();
    expect(await durable).toBe(false);
    expect(core.lines().some((l) => l.msg === "database writes failing; pushes answer wait until they work again")).toBe(true);
    core.database.failing = false;
    await core.writes.flush();
    expect((await core.audit.list({ node: "outage", limit: 10 })).map((r) => r.outcome)).toEqual(["retry"]);
    await core.writes.close();
  });

  it("does not write a job put with writeAfterMs when its push is done within that time", async () => {
    const core = deliveryCore();
    const job = jobFor(core, "answered");
    const durable = core.writes.putJob(job, { writeAfterMs: 60_000 });
    // Batches go out meanwhile (an audit row, here): the deferred job is not in them.
    core.writes.recordAttempt({
      pushId: job.pushId,
      node: job.node,
      app: "chat",
      provider: "apns",
      outcome: "delivered",
      attempt: 1,
      latencyMs: 3,
      createdAt: core.clock.now(),
    });
    await waitFor("the audit row's batch", () => core.database.commits === 1);
    expect(core.queue.jobs()).toEqual([]);
    core.writes.completeJob(job);
    expect(await durable).toBe(true);
    await core.writes.close();
    expect(core.queue.jobs()).toEqual([]);
    expect(core.database.commits).toBe(1);
  });

  it("writes a job put with writeAfterMs once its push has taken that long, and deletes it when done", async () => {
    const core = deliveryCore();
    const job = jobFor(core, "slow-provider");
    // Resolves only once written: the wait itself (a real timer, whatever the driven clock says) is the test.
    expect(await core.writes.putJob(job, { writeAfterMs: 20 })).toBe(true);
    expect(core.queue.jobs()).toEqual([job]);
    core.writes.completeJob(job);
    await core.writes.flush();
    expect(core.queue.jobs()).toEqual([]);
  });

  it("writes a deferred job at once when it is rescheduled (a failed first attempt) or the buffer closes", async () => {
    const core = deliveryCore();
    const first = jobFor(core, "retried");
    const durable = core.writes.putJob(first, { writeAfterMs: 60_000 });
    const retry = { ...first, nextAttemptAt: new Date(first.nextAttemptAt.getTime() + 5_000), lastError: "503" };
    expect(await core.writes.putJob(retry)).toBe(true);
    expect(await durable).toBe(true);
    expect(core.queue.jobs()).toEqual([retry]);

    const other = jobFor(core, "in-flight-at-shutdown");
    const otherDurable = core.writes.putJob(other, { writeAfterMs: 60_000 });
    await core.writes.close();
    expect(await otherDurable).toBe(true);
    expect(core.queue.jobs().map((j) => j.node)).toEqual(["retried", "in-flight-at-shutdown"]);
  });

  it("keeps one deferred job per device: a newer push takes the older one's place", async () => {
    const core = deliveryCore();
    const older = jobFor(core, "chatty");
    const olderDurable = core.writes.putJob(older, { writeAfterMs: 60_000 });
    core.clock.advance(10);
    const newer = { ...jobFor(core, "chatty"), pushId: "push-chatty-2" };
    const newerDurable = core.writes.putJob(newer, { writeAfterMs: 60_000 });
    // The older push finishing does not drop the newer one's job.
    core.writes.completeJob(older);
    await core.writes.flush();
    expect(await olderDurable).toBe(true);
    expect(await newerDurable).toBe(true);
    expect(core.queue.jobs()).toEqual([newer]);
  });

  it("writes a node's last-push time at most once per touch interval (driven clock)", async () => {
    const core = deliveryCore();
    const { node } = await core.register({ apns: "a1" });
    const first = core.clock.now();
    core.writes.touch(node);
    await core.writes.flush();
    core.clock.advance(30_000);
    core.writes.touch(node);
    await core.writes.flush();
    expect((await core.registrations.findByNode(node))?.lastPushAtMs).toEqual(first.getTime());
    core.clock.advance(30_000);
    core.writes.touch(node);
    await core.writes.flush();
    expect((await core.registrations.findByNode(node))?.lastPushAtMs).toEqual(core.clock.now().getTime());
  });
});
