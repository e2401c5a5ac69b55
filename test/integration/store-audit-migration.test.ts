import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as partitioned from "../../migrations/20261130000100_deliveries_partitioned.js";
import { createPgDeliveryAudit } from "../../src/store/delivery-audit-pg.js";
import { freshTestDatabase, usingPostgres, type TestDatabase } from "../support/db.js";

// The migration that partitions the audit keeps the rows already written (the old table becomes one
// partition), continues the ids, and goes back to one plain table with every row. Postgres and PGlite.

let db: TestDatabase;
beforeAll(async () => {
  db = await freshTestDatabase();
});
afterAll(async () => {
  await db?.dispose();
});

const inTransaction = (step: typeof partitioned.up) => db.knex.transaction((trx) => step(trx));

async function kind(): Promise<string> {
  const result = await db.knex.raw<{ rows: Array<{ relkind: string }> }>(`SELECT relkind FROM pg_class WHERE relname = 'deliveries'`);
  return result.rows[0]!.relkind;
}

async function rows(): Promise<Array<{ id: number; push_id: string; home: string }>> {
  const result = await db.knex.raw<{ rows: Array<{ id: number | string; push_id: string; home: string }> }>(
    `SELECT id, push_id, tableoid::regclass::text AS home FROM deliveries ORDER BY id`,
  );
  return result.rows.map((r) => ({ ...r, id: Number(r.id) }));
}

const insert = (pushId: string, createdAt: string) =>
  db.knex.raw(
    `INSERT INTO deliveries (push_id, node, app, provider, outcome, attempt, latency_ms, created_at, receipt)
     VALUES (?, 'migrated', 'chat', 'jpush', 'delivered', 1, 5, ?, 'pending')`,
    [pushId, createdAt],
  );

describe(`partitioning the audit (${usingPostgres() ? "postgres" : "embedded PGlite"})`, () => {
  it("keeps the rows written before, continues their ids, and goes back to one table with every row", async () => {
    await inTransaction(partitioned.down);
    expect(await kind()).toBe("r");
    await insert("old-1", "2026-10-01T12:00:00Z");
    await insert("old-2", "2026-11-29T23:00:00Z");
    // A clock running ahead wrote this one: the old rows' partition reaches past it.
    await insert("old-3", "2032-01-01T10:00:00Z");

    await inTransaction(partitioned.up);
    expect(await kind()).toBe("p");
    const before = await rows();
    expect(before.map((r) => [r.push_id, r.home])).toEqual([
      ["old-1", "deliveries_before_20320102"],
      ["old-2", "deliveries_before_20320102"],
      ["old-3", "deliveries_before_20320102"],
    ]);
    await insert("new-1", "2032-01-05T00:00:00Z");
    const after = await rows();
    expect(after.at(-1)).toMatchObject({ push_id: "new-1", home: "deliveries_default" });
    expect(after.at(-1)!.id).toBeGreaterThan(before.at(-1)!.id);
    const listed = await createPgDeliveryAudit({ knex: db.knex }).list({ node: "migrated", limit: 10 });
    expect(listed.map((r) => r.pushId)).toEqual(["new-1", "old-3", "old-2", "old-1"]);
    expect(listed[0]).toMatchObject({ receipt: "pending" });

    // Retention trims the old rows' partition row by row, and drops it once all of it is older.
    const trimmed = await createPgDeliveryAudit({ knex: db.knex }).purgeOlderThan(new Date("2026-11-01T00:00:00Z"));
    expect(trimmed).toEqual({ deletedRows: 1, droppedPartitions: [] });

    await inTransaction(partitioned.down);
    expect(await kind()).toBe("r");
    const back = await rows();
    expect(back.map((r) => [r.id, r.push_id])).toEqual(after.filter((r) => r.push_id !== "old-1").map((r) => [r.id, r.push_id]));
    expect(back.every((r) => r.home === "deliveries")).toBe(true);
    await insert("plain-1", "2032-01-06T00:00:00Z");
    expect((await rows()).at(-1)!.id).toBeGreaterThan(after.at(-1)!.id);

    await inTransaction(partitioned.up);
    const dropped = await createPgDeliveryAudit({ knex: db.knex }).purgeOlderThan(new Date("2032-01-07T00:00:00Z"));
    expect(dropped.droppedPartitions).toEqual(["deliveries_before_20320107"]);
    expect(await rows()).toEqual([]);
  });
});
