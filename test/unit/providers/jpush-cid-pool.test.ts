import { describe, expect, it } from "vitest";
import { createCidPool } from "../../../src/providers/jpush/jpush-cid-pool.js";

describe("JPush cid pool", () => {
  const fetcher = () => {
    const calls: number[] = [];
    let n = 0;
    return { calls, fetch: async (count: number) => (calls.push(count), Array.from({ length: count }, () => `key-${++n}`)) };
  };

  it("gives every push its own cid from JPush's pool, and the same one on every attempt", async () => {
    const f = fetcher();
    const pool = createCidPool({ fetch: f.fetch, batch: 4, now: () => 0 });
    const a = await pool.cidFor("push-a");
    const b = await pool.cidFor("push-b");
    expect(a).toBe("key-1");
    expect(b).toBe("key-2");
    expect(await pool.cidFor("push-a")).toBe(a);
    expect(f.calls).toEqual([4]);
  });

  it("forgets a released push's cid: an attempt after JPush's final answer gets a fresh one", async () => {
    const f = fetcher();
    const pool = createCidPool({ fetch: f.fetch, batch: 4, now: () => 0 });
    const first = await pool.cidFor("push-a");
    pool.release("push-a");
    pool.release("push-unknown");
    expect(await pool.cidFor("push-a")).not.toBe(first);
  });

  it("tops up before running dry", async () => {
    const f = fetcher();
    const pool = createCidPool({ fetch: f.fetch, batch: 4, now: () => 0 });
    for (let i = 0; i < 4; i++) await pool.cidFor(`p${i}`);
    await new Promise((r) => setTimeout(r, 0));
    expect(f.calls.length).toBeGreaterThanOrEqual(2);
    expect(await pool.cidFor("p-next")).toMatch(/^key-/);
  });

  it("sends without a cid when the pool cannot be fetched, and does not hammer JPush for one", async () => {
    let calls = 0;
    let now = 0;
    const pool = createCidPool({ fetch: async () => (calls++, Promise.reject(new Error("503"))), now: () => now });
    expect(await pool.cidFor("p1")).toBeUndefined();
    expect(await pool.cidFor("p2")).toBeUndefined();
    expect(calls).toBe(1);
    now += 61_000;
    expect(await pool.cidFor("p3")).toBeUndefined();
    expect(calls).toBe(2);
  });

  it("fetches twice as many when the pool is used up within seconds, up to JPush's 1000", async () => {
    const f = fetcher();
    let now = 0;
    const pool = createCidPool({ fetch: f.fetch, batch: 300, now: () => now });
    for (let i = 0; i < 2500; i++) await pool.cidFor(`p${i}`);
    expect(f.calls.slice(0, 3)).toEqual([300, 600, 1000]);
    expect(Math.max(...f.calls)).toBe(1000);

    // A quiet app keeps fetching small batches.
    const quiet = fetcher();
    const slow = createCidPool({ fetch: quiet.fetch, batch: 4, now: () => now });
    for (let i = 0; i < 12; i++) {
      now += 60_000;
      await slow.cidFor(`q${i}`);
    }
    expect(new Set(quiet.calls)).toEqual(new Set([4]));
  });

  it("does not use cids older than a day", async () => {
    let now = 0;
    const f = fetcher();
    const pool = createCidPool({ fetch: f.fetch, batch: 10, now: () => now });
    expect(await pool.cidFor("p1")).toBe("key-1");
    now += 24 * 3600 * 1000;
    expect(await pool.cidFor("p2")).toBe("key-11");
  });
});
