import { describe, expect, it } from "vitest";
import type { QueuedJob } from "../../../src/ports/delivery-queue.js";
import { deliveryCore, message } from "../../support/memory/delivery-core.js";

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

  it("writes a node's last-push time at most once per touch interval (driven clock)", async () => {
    const core = deliveryCore();
    const { node } = await core.register({ apns: "a1" });
    const first = core.clock.now();
    core.writes.touch(node);
    await core.writes.flush();
    core.clock.advance(30_000);
    core.writes.touch(node);
    await core.writes.flush();
    expect((await core.registrations.findByNode(node))?.lastPushAt).toEqual(first);
    core.clock.advance(30_000);
    core.writes.touch(node);
    await core.writes.flush();
    expect((await core.registrations.findByNode(node))?.lastPushAt).toEqual(core.clock.now());
  });
});
