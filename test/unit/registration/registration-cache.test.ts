import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import type { RegistrationStore } from "../../../src/ports/registration-store.js";
import { createRegistrationCache } from "../../../src/registration/registration-cache.js";
import { createSeenFilter } from "../../../src/registration/seen-filter.js";
import { drivenClock } from "../../support/memory/driven-clock.js";
import { memoryRegistrationStore } from "../../support/memory/memory-registration-store.js";

// The registration cache in front of the store: which lookups reach the database, and which results it keeps.

async function setup(maxEntries = 100) {
  const store = memoryRegistrationStore();
  const clock = drivenClock();
  const reads: string[][] = [];
  const counting: RegistrationStore = {
    ...store,
    findByNodes: (nodes) => {
      reads.push([...nodes]);
      return store.findByNodes(nodes);
    },
  };
  const register = async (node: string) =>
    store.register(
      {
        node,
        app: "chat",
        ownerJid: `${node}@example.org`,
        deviceId: "phone",
        channel: "",
        dialect: "p2",
        address: { provider: "apns", token: "a".repeat(64) },
      },
      clock.now(),
    );
  const cache = createRegistrationCache({ store: counting, maxEntries, ttlMs: 60_000, negativeTtlMs: 5000, clock });
  return { store, clock, reads, register, cache };
}

describe("registration cache", () => {
  it("reads the misses of one event-loop turn in one query", async () => {
    const t = await setup();
    for (const n of ["a", "b", "c"]) await t.register(n);
    const found = await Promise.all(["a", "b", "c", "a"].map((n) => t.cache.get(n)));
    expect(found.map((r) => r?.node)).toEqual(["a", "b", "c", "a"]);
    expect(t.reads).toEqual([["a", "b", "c"]]);
  });

  it("keeps two reads out at most: later misses wait for one to come back, and go together", async () => {
    const t = await setup();
    for (const n of ["a", "b", "c", "d"]) await t.register(n);
    const reads: string[][] = [];
    const answers: Array<() => void> = [];
    const held = createRegistrationCache({
      store: {
        ...t.store,
        findByNodes: (nodes) => {
          reads.push([...nodes]);
          return new Promise((resolve) => answers.push(() => resolve(t.store.findByNodes(nodes))));
        },
      },
      maxEntries: 100,
      ttlMs: 60_000,
      negativeTtlMs: 5000,
      clock: t.clock,
    });
    const turn = () => new Promise((r) => setImmediate(r));
    const a = held.get("a");
    await turn();
    const b = held.get("b");
    await turn();
    const [c, d] = [held.get("c"), held.get("d")];
    await turn();
    await turn();
    expect(reads).toEqual([["a"], ["b"]]);
    answers[0]!();
    expect((await a)?.node).toBe("a");
    await turn();
    expect(reads).toEqual([["a"], ["b"], ["c", "d"]]);
    answers[1]!();
    answers[2]!();
    expect([(await b)?.node, (await c)?.node, (await d)?.node]).toEqual(["b", "c", "d"]);
  });

  it("keeps every read while it has room, then serves it without the database", async () => {
    const t = await setup();
    await t.register("a");
    await t.cache.get("a");
    expect(t.cache.size).toBe(1);
    expect((await t.cache.get("a"))?.node).toBe("a");
    expect(t.reads).toHaveLength(1);
  });

  it("once full, keeps a registration only from its second read on", async () => {
    const t = await setup(2);
    for (const n of ["x", "y", "a"]) await t.register(n);
    await t.cache.get("x");
    await t.cache.get("y");
    await t.cache.get("a");
    expect(t.cache.size).toBe(2);
    await t.cache.get("a");
    expect(t.reads).toHaveLength(4);
    expect((await t.cache.get("a"))?.node).toBe("a");
    expect(t.reads).toHaveLength(4);
  });

  it("does not churn when full: registrations asked for once evict nothing (devices far more than the cache holds)", async () => {
    const t = await setup(100);
    for (let i = 0; i < 1000; i++) await t.register(`n${i}`);
    for (let i = 0; i < 1000; i++) expect((await t.cache.get(`n${i}`))?.node).toBe(`n${i}`);
    expect(t.cache.size).toBe(100);
    const before = t.reads.length;
    for (let i = 0; i < 100; i++) await t.cache.get(`n${i}`);
    expect(t.reads.length).toBe(before);
  });

  it("remembers an unknown node at once, for the negative lifetime", async () => {
    const t = await setup();
    expect(await t.cache.get("ghost")).toBeUndefined();
    expect(await t.cache.get("ghost")).toBeUndefined();
    expect(t.reads).toHaveLength(1);
    t.clock.advance(5001);
    expect(await t.cache.get("ghost")).toBeUndefined();
    expect(t.reads).toHaveLength(2);
  });

  it("reads again after an invalidation and after the lifetime", async () => {
    const t = await setup();
    await t.register("a");
    await t.cache.get("a");
    await t.cache.get("a");
    t.cache.invalidate("a");
    expect(t.cache.size).toBe(0);
    await t.cache.get("a");
    expect(t.reads).toHaveLength(2);
    expect(t.cache.size).toBe(1);
    t.clock.advance(60_001);
    await t.cache.get("a");
    expect(t.reads).toHaveLength(3);
  });

  it("does not keep a result read while the node was invalidated", async () => {
    const t = await setup();
    await t.register("a");
    const reading = t.cache.get("a");
    t.cache.invalidate("a");
    await reading;
    expect(t.cache.size).toBe(0);
  });

  it("evicts the least recently stored entry when full", async () => {
    const t = await setup(2);
    for (const n of ["a", "b", "c"]) {
      await t.register(n);
      await t.cache.get(n);
      await t.cache.get(n);
    }
    expect(t.cache.size).toBe(2);
    const before = t.reads.length;
    await t.cache.get("c");
    await t.cache.get("b");
    expect(t.reads.length).toBe(before);
    await t.cache.get("a");
    expect(t.reads.length).toBe(before + 1);
  });
});

describe("seen filter", () => {
  it("says a key was seen only after it was marked", () => {
    const f = createSeenFilter(1024);
    expect(f.markSeen("bench-1")).toBe(false);
    expect(f.markSeen("bench-2")).toBe(false);
    expect(f.markSeen("bench-1")).toBe(true);
    expect(f.markSeen("bench-2")).toBe(true);
  });

  it("forgets: a key's mark fades as many other keys come", () => {
    const f = createSeenFilter(1024);
    f.markSeen("old");
    for (let i = 0; i < 100_000; i++) f.markSeen(`other-${i}`);
    expect(f.markSeen("old")).toBe(false);
  });

  it("remembers most of the last slots' worth of keys (the hash spreads them)", () => {
    const f = createSeenFilter(4096);
    const keys = Array.from({ length: 1024 }, (_, i) => `bench-${i * 7919}`);
    for (const k of keys) f.markSeen(k);
    const remembered = keys.filter((k) => f.markSeen(k)).length;
    // With 1,024 keys in 4,096 slots, 78 % share their slot with no other key (a uniform hash); a
    // shared slot answers false for both keys here, since each check marks it again.
    expect(remembered).toBeGreaterThan(740);
  });

  it("keeps no reference to the text a node was cut from (the stanza's whole read)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const t = await setup(1000);
    const settle = async () => {
      for (let round = 0; round < 2; round++) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        gc();
      }
      return process.memoryUsage().heapUsed;
    };
    for (let i = 0; i < 100; i++) if (i % 2 === 0) await t.register(`node-${i}-of-a-publish`); // half known, half unknown
    const before = await settle();
    for (let i = 0; i < 100; i++) {
      const node = `node-${i}-of-a-publish`;
      // A read as the stream delivers it: one flat string of 100 KB, the node cut out of its middle.
      const read = Buffer.from("x".repeat(100_000) + node + "y".repeat(1000)).toString();
      const cut = read.slice(100_000, 100_000 + node.length);
      await t.cache.get(cut);
      await t.cache.get(cut);
    }
    expect(t.cache.size).toBe(100);
    t.reads.length = 0; // the test's own record of the queries holds the nodes too
    // Kept with their reads, 100 keys would hold 10 MB (each read is 100 KB of one-byte characters).
    expect((await settle()) - before).toBeLessThan(2_000_000);
  });
});
