import { describe, expect, it } from "vitest";
import type { NewRegistration } from "../../../src/domain/registration.js";
import type { DeliveryAudit, DeliveryRecord } from "../../../src/ports/delivery-audit.js";
import type { DeliveryQueue, QueuedJob } from "../../../src/ports/delivery-queue.js";
import type { RegistrationStore } from "../../../src/ports/registration-store.js";
import { NodeTakenError } from "../../../src/store/registration-store-pg.js";

// The contract of the storage ports: one suite, run against Postgres/PGlite (test/integration/store.test.ts)
// and against the in-memory fakes the unit tests use (test/unit/store/memory-stores.test.ts), so the
// fakes cannot drift from what the real stores do. Every store handed in must start empty or tolerate
// the rows of earlier tests (nodes are unique per call).

export const t = (s: number) => new Date(Date.UTC(2026, 10, 26, 12, 0, s));
let seq = 0;
const device = (over: Partial<NewRegistration> = {}): NewRegistration => {
  seq += 1;
  return {
    node: `node-${seq}`,
    app: "chat",
    ownerJid: `user${seq}@example.org`,
    deviceId: `device-${seq}`,
    channel: "",
    dialect: "p2",
    secretHash: "a".repeat(64),
    address: { provider: "apns", token: `apns-token-${seq}`, environment: "production", pushType: "alert" },
    ...over,
  };
};

export function registrationStoreContract(backend: string, store: () => RegistrationStore): void {
  describe(`registration store (${backend})`, () => {
    it("stores a device and finds it by node, by device and by token", async () => {
      const input = device();
      const { registration, created } = await store().register(input, t(1));
      expect(created).toBe(true);
      expect(registration).toMatchObject({ node: input.node, app: "chat", ownerJid: input.ownerJid, secretHash: "a".repeat(64) });
      expect(registration.addresses).toEqual([
        { provider: "apns", token: input.address.token, environment: "production", pushType: "alert", updatedAtMs: t(1).getTime() },
      ]);
      expect((await store().findByNode(input.node))?.deviceId).toBe(input.deviceId);
      expect((await store().findByDevice(input))?.node).toBe(input.node);
      expect((await store().findByToken("apns", input.address.token)).map((r) => r.node)).toEqual([input.node]);
      expect(await store().findByNode("no-such-node")).toBeUndefined();
    });

    it("reads many nodes at once, as findByNode reads each, and leaves out the unknown ones", async () => {
      const inputs = [device(), device({ node: `odd "node", {with} 'quotes' ${seq}` }), device()];
      for (const input of inputs) await store().register(input, t(1));
      const nodes = [...inputs.map((i) => i.node), "no-such-node"];
      // Several reads at once: each takes its own pooled connection (or waits for the only one).
      const reads = await Promise.all([store().findByNodes(nodes), store().findByNodes(nodes.slice(1)), store().findByNodes([])]);
      for (const input of inputs) expect(reads[0].get(input.node)).toEqual(await store().findByNode(input.node));
      expect([...reads[0].keys()].sort()).toEqual(inputs.map((i) => i.node).sort());
      expect([...reads[1].keys()].sort()).toEqual(
        inputs
          .slice(1)
          .map((i) => i.node)
          .sort(),
      );
      expect(reads[2].size).toBe(0);
      expect(reads[0].get(inputs[1]!.node)?.addresses[0]?.token).toBe(inputs[1]!.address.token);
    });

    it("keeps the node when the same device registers again, and takes the new token", async () => {
      const first = device();
      await store().register(first, t(1));
      const again = { ...first, node: "a-fresh-node-that-must-not-win", address: { ...first.address, token: "rotated-token" } };
      const { registration, created } = await store().register(again, t(2));
      expect(created).toBe(false);
      expect(registration.node).toBe(first.node);
      expect(registration.addresses.map((a) => a.token)).toEqual(["rotated-token"]);
      expect(await store().findByNode("a-fresh-node-that-must-not-win")).toBeUndefined();
    });

    it("merges a second provider address into the same device", async () => {
      const first = device();
      await store().register(first, t(1));
      const { registration } = await store().register({ ...first, address: { provider: "jpush", token: "jpush-regid" } }, t(2));
      expect(registration.addresses.map((a) => `${a.provider}:${a.token}`)).toEqual([`apns:${first.address.token}`, "jpush:jpush-regid"]);
    });

    it("refuses a client-chosen node that belongs to another device", async () => {
      const first = device();
      await store().register(first, t(1));
      await expect(store().register(device({ node: first.node }), t(2))).rejects.toBeInstanceOf(NodeTakenError);
    });

    it("disables the registration only when its last live address dies", async () => {
      const first = device();
      await store().register(first, t(1));
      await store().register({ ...first, address: { provider: "jpush", token: "jp" } }, t(1));
      const one = await store().disableAddress({ node: first.node, provider: "apns", reason: "Unregistered", at: t(5) });
      expect(one).toEqual({ changed: true, registrationDisabled: false });
      expect((await store().findByNode(first.node))?.disabledAtMs).toBeUndefined();
      const two = await store().disableAddress({ node: first.node, provider: "jpush", reason: "1011", at: t(6) });
      expect(two).toEqual({ changed: true, registrationDisabled: true });
      const reg = await store().findByNode(first.node);
      expect(reg?.disabledAtMs).toEqual(t(6).getTime());
      expect(reg?.disabledReason).toBe("1011");
      // Registering the device again brings it back.
      const { registration } = await store().register(first, t(7));
      expect(registration.disabledAtMs).toBeUndefined();
      expect(registration.addresses.find((a) => a.provider === "apns")?.disabledAtMs).toBeUndefined();
    });

    it("does not disable a token that was registered again after the provider's invalidation time (APNs 410)", async () => {
      const first = device();
      await store().register(first, t(10));
      const res = await store().disableAddress({
        node: first.node,
        provider: "apns",
        reason: "Unregistered",
        at: t(20),
        unlessUpdatedAfter: t(5),
      });
      expect(res.changed).toBe(false);
      expect((await store().findByNode(first.node))?.addresses[0]?.disabledAtMs).toBeUndefined();
    });

    it("removes a registration with its addresses, and counts devices per owner and per app", async () => {
      const a = device({ ownerJid: "counted@example.org", app: "count-app" });
      const b = device({ ownerJid: "counted@example.org", app: "count-app" });
      await store().register(a, t(1));
      await store().register(b, t(1));
      expect(await store().countByOwner("counted@example.org")).toBe(2);
      expect((await store().countActiveByApp()).find((r) => r.app === "count-app")).toEqual({
        app: "count-app",
        provider: "apns",
        count: 2,
      });
      expect(await store().remove(a.node)).toBe(true);
      expect(await store().remove(a.node)).toBe(false);
      expect(await store().countByOwner("counted@example.org")).toBe(1);
      expect(await store().findByToken("apns", a.address.token)).toEqual([]);
    });

    it("records when a node was last pushed", async () => {
      const a = device();
      await store().register(a, t(1));
      await store().touchLastPush([a.node], t(30));
      expect((await store().findByNode(a.node))?.lastPushAtMs).toEqual(t(30).getTime());
    });
  });
}

export function deliveryAuditContract(backend: string, audit: () => DeliveryAudit): void {
  describe(`delivery audit (${backend})`, () => {
    const row = (over: Partial<DeliveryRecord>): DeliveryRecord => ({
      pushId: "p",
      node: "audit-node",
      app: "chat",
      provider: "apns",
      environment: "sandbox",
      outcome: "delivered",
      status: 200,
      messageId: "m",
      attempt: 1,
      latencyMs: 12.4,
      createdAt: t(1),
      ...over,
    });

    it("appends a batch and lists a node's attempts newest first", async () => {
      await audit().record([
        row({ pushId: "p1", createdAt: t(1) }),
        row({ pushId: "p2", createdAt: t(3), outcome: "retry", status: 503, reason: "ServiceUnavailable", messageId: undefined }),
        row({ pushId: "p3", node: "other-node", createdAt: t(2) }),
      ]);
      const rows = await audit().list({ node: "audit-node", limit: 10 });
      expect(rows.map((r) => r.pushId)).toEqual(["p2", "p1"]);
      expect(rows[0]).toEqual({
        pushId: "p2",
        node: "audit-node",
        app: "chat",
        provider: "apns",
        environment: "sandbox",
        outcome: "retry",
        status: 503,
        reason: "ServiceUnavailable",
        attempt: 1,
        latencyMs: 12,
        createdAt: t(3),
      });
      expect((await audit().list({ node: "audit-node", since: t(2), limit: 10 })).map((r) => r.pushId)).toEqual(["p2"]);
    });

    it("purges rows older than the retention cutoff", async () => {
      await audit().record([
        row({ node: "purge-node", createdAt: new Date("2020-01-01T00:00:00Z") }),
        row({ node: "purge-node", createdAt: t(1) }),
      ]);
      expect((await audit().purgeOlderThan(new Date("2021-01-01T00:00:00Z"))).deletedRows).toBe(1);
      expect(await audit().list({ node: "purge-node", limit: 10 })).toHaveLength(1);
    });
  });
}

export function deliveryQueueContract(backend: string, queue: () => DeliveryQueue): void {
  describe(`delivery queue (${backend})`, () => {
    const job = (over: Partial<QueuedJob>): QueuedJob => ({
      node: "q-node",
      pushId: "push-1",
      app: "chat",
      notification: { priority: "high", call: false, lastMessageBody: "hi" },
      receivedAt: t(0),
      attempts: 0,
      nextAttemptAt: t(0),
      expiresAt: t(59),
      ...over,
    });

    it("keeps one job per node: a newer push replaces the pending one, an older one never does", async () => {
      await queue().put([job({ node: "coalesce", pushId: "old", receivedAt: t(1) })]);
      await queue().put([job({ node: "coalesce", pushId: "new", receivedAt: t(2), notification: { priority: "low", call: false } })]);
      await queue().put([job({ node: "coalesce", pushId: "old", receivedAt: t(1), attempts: 5 })]);
      const claimed = await queue().claim("w1", 10, t(1), t(40));
      const mine = claimed.filter((j) => j.node === "coalesce");
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ pushId: "new", attempts: 1, notification: { priority: "low", call: false } });
      await queue().complete(claimed);
    });

    it("hands a job to one worker at a time, and to another once the lease ran out", async () => {
      await queue().put([job({ node: "lease", pushId: "L" })]);
      const [a, b] = await Promise.all([queue().claim("w1", 10, t(1), t(10)), queue().claim("w2", 10, t(1), t(10))]);
      expect([...a, ...b].filter((j) => j.node === "lease")).toHaveLength(1);
      expect((await queue().claim("w3", 10, t(5), t(20))).filter((j) => j.node === "lease")).toHaveLength(0);
      const retaken = await queue().claim("w3", 10, t(11), t(20));
      expect(retaken.find((j) => j.node === "lease")?.attempts).toBe(2);
      await queue().complete(retaken);
    });

    it("does not hand out a job before its next attempt time, and takes a retry with its error", async () => {
      await queue().put([job({ node: "later", pushId: "P", nextAttemptAt: t(30) })]);
      expect((await queue().claim("w", 10, t(29), t(40))).some((j) => j.node === "later")).toBe(false);
      const [claimed] = (await queue().claim("w", 10, t(30), t(40))).filter((j) => j.node === "later");
      await queue().put([{ ...claimed!, nextAttemptAt: t(45), lastError: "ServiceUnavailable" }]);
      expect((await queue().claim("w", 10, t(44), t(50))).some((j) => j.node === "later")).toBe(false);
      const [again] = (await queue().claim("w", 10, t(45), t(50))).filter((j) => j.node === "later");
      expect(again).toMatchObject({ attempts: 2, lastError: "ServiceUnavailable" });
      await queue().complete([again!]);
    });

    it("completes only the push it names, never a newer one for the same node", async () => {
      await queue().put([job({ node: "race", pushId: "first", receivedAt: t(1) })]);
      await queue().put([job({ node: "race", pushId: "second", receivedAt: t(2) })]);
      await queue().complete([{ node: "race", pushId: "first" }]);
      expect((await queue().stats(t(1))).depth).toBeGreaterThanOrEqual(1);
      const claimed = (await queue().claim("w", 10, t(1), t(9))).filter((j) => j.node === "race");
      expect(claimed.map((j) => j.pushId)).toEqual(["second"]);
      await queue().complete(claimed);
    });

    it("hands back expired jobs once, and reports depth", async () => {
      await queue().put([job({ node: "stale", pushId: "S", expiresAt: t(5), nextAttemptAt: t(100) })]);
      expect((await queue().stats(new Date())).depth).toBeGreaterThanOrEqual(1);
      const expired = await queue().takeExpired(t(6), 100);
      expect(expired.map((j) => j.node)).toContain("stale");
      expect((await queue().takeExpired(t(6), 100)).map((j) => j.node)).not.toContain("stale");
    });
  });
}
