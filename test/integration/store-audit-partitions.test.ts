import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeliveryRecord } from "../../src/ports/delivery-audit.js";
import { createAuditPartitions } from "../../src/store/audit-partitions.js";
import { createPgDeliveryAudit } from "../../src/store/delivery-audit-pg.js";
import { freshTestDatabase, usingPostgres, type TestDatabase } from "../support/db.js";

// The audit kept in daily partitions: retention drops whole days, a row for a day without a partition
// still goes in (the default partition) and moves into its day once the day has one. Postgres and PGlite.

let db: TestDatabase;
beforeAll(async () => {
  db = await freshTestDatabase();
});
afterAll(async () => {
  await db?.dispose();
});

const audit = () => createPgDeliveryAudit({ knex: db.knex });
const partitions = () => createAuditPartitions({ knex: db.knex });
const at = (iso: string) => new Date(iso);

const row = (node: string, createdAt: Date): DeliveryRecord => ({
  pushId: `push-${createdAt.toISOString()}`,
  node,
  app: "chat",
  provider: "apns",
  outcome: "delivered",
  attempt: 1,
  latencyMs: 3,
  createdAt,
});

/** Which table holds each of a node's rows, oldest first. */
async function homes(node: string): Promise<string[]> {
  const result = await db.knex.raw<{ rows: Array<{ home: string }> }>(
    `SELECT tableoid::regclass::text AS home FROM deliveries WHERE node = ? ORDER BY created_at`,
    [node],
  );
  return result.rows.map((r) => r.home);
}

describe(`the audit's daily partitions (${usingPostgres() ? "postgres" : "embedded PGlite"})`, () => {
  it("takes a row for a day that has no partition, and moves it into the day's partition once there is one", async () => {
    await audit().record([row("orphan", at("2031-06-01T10:00:00Z"))]);
    expect(await homes("orphan")).toEqual(["deliveries_default"]);
    expect(await audit().list({ node: "orphan", limit: 10 })).toHaveLength(1);

    expect(await partitions().ensure(at("2031-06-01T00:00:00Z"), at("2031-06-02T23:00:00Z"))).toEqual([
      "deliveries_p20310601",
      "deliveries_p20310602",
    ]);
    expect(await homes("orphan")).toEqual(["deliveries_p20310601"]);
    // Already there: nothing to do, and a new row of the day goes straight into its partition.
    expect(await partitions().ensure(at("2031-06-01T00:00:00Z"), at("2031-06-02T00:00:00Z"))).toEqual([]);
    await audit().record([row("orphan", at("2031-06-01T11:00:00Z"))]);
    expect(await homes("orphan")).toEqual(["deliveries_p20310601", "deliveries_p20310601"]);
  });

  it("drops the days entirely older than the cutoff, keeps the day it falls in and every later row", async () => {
    await partitions().ensure(at("2031-01-01T00:00:00Z"), at("2031-01-06T00:00:00Z"));
    const days = ["01", "02", "03", "04", "05", "06"].map((d) => at(`2031-01-${d}T12:00:00Z`));
    await audit().record(days.map((d) => row("kept", d)));
    // Older than the cutoff but in the day that straddles it: stays until that whole day is older.
    await audit().record([row("kept", at("2031-01-04T01:00:00Z"))]);
    // Older than the cutoff in the default partition (no day of its own): deleted row by row.
    await audit().record([row("stray", at("2030-12-15T12:00:00Z"))]);

    const purge = await audit().purgeOlderThan(at("2031-01-04T06:00:00Z"));
    expect(purge.droppedPartitions).toEqual(["deliveries_p20310101", "deliveries_p20310102", "deliveries_p20310103"]);
    expect(purge.deletedRows).toBe(1);
    expect((await audit().list({ node: "kept", limit: 10 })).map((r) => r.createdAt.toISOString())).toEqual([
      "2031-01-06T12:00:00.000Z",
      "2031-01-05T12:00:00.000Z",
      "2031-01-04T12:00:00.000Z",
      "2031-01-04T01:00:00.000Z",
    ]);
    expect(await audit().list({ node: "stray", limit: 10 })).toEqual([]);
    const names = (await partitions().list()).map((p) => p.name);
    expect(names).not.toContain("deliveries_p20310103");
    expect(names).toEqual(expect.arrayContaining(["deliveries_p20310104", "deliveries_default"]));
    // Nothing more to do: a second purge finds nothing.
    expect(await audit().purgeOlderThan(at("2031-01-04T06:00:00Z"))).toEqual({ deletedRows: 0, droppedPartitions: [] });
  });

  it("answers the audit's queries across partitions: newest first by node, since, and the outcome counts", async () => {
    await partitions().ensure(at("2031-02-01T00:00:00Z"), at("2031-02-03T00:00:00Z"));
    await audit().record([
      row("across", at("2031-02-01T23:59:59Z")),
      row("across", at("2031-02-02T00:00:00Z")),
      row("across", at("2031-02-03T08:00:00Z")),
      row("across", at("2031-03-01T08:00:00Z")),
    ]);
    expect(
      (await audit().list({ node: "across", since: at("2031-02-02T00:00:00Z"), limit: 2 })).map((r) => r.createdAt.toISOString()),
    ).toEqual(["2031-03-01T08:00:00.000Z", "2031-02-03T08:00:00.000Z"]);
    const counts = await audit().countOutcomesSince(at("2031-02-02T00:00:00Z"));
    expect(counts.find((c) => c.app === "chat" && c.outcome === "delivered")?.count).toBeGreaterThanOrEqual(3);
  });
});
