import { describe, expect, it, vi } from "vitest";
import { createAuditRetention, PARTITION_DAYS_AHEAD } from "../../../src/store/audit-retention.js";
import { DAY_MS } from "../../../src/store/audit-partitions.js";
import { drivenClock } from "../../support/memory/driven-clock.js";
import { recordingLogger } from "../../support/memory/recording-logger.js";

// Each retention tick first readies the partitions of the days ahead, then purges what is older than
// the kept days; one step failing does not keep the other from running.

describe("audit retention", () => {
  const clock = drivenClock(new Date("2026-11-30T10:00:00Z"));

  it("creates the partitions ahead, then purges older than the kept days, and says what it did", async () => {
    const calls: string[] = [];
    const { log, lines } = recordingLogger("info");
    const retention = createAuditRetention({
      partitions: {
        ensure: async (from, to) => {
          calls.push(`ensure ${from.toISOString()} ${to.toISOString()}`);
          return ["deliveries_p20261203"];
        },
      },
      audit: {
        purgeOlderThan: async (cutoff) => {
          calls.push(`purge ${cutoff.toISOString()}`);
          return { deletedRows: 2, droppedPartitions: ["deliveries_p20261029"] };
        },
      },
      clock,
      log,
      keepDays: 30,
      intervalMinutes: 60,
    });
    retention.start();
    await vi.waitFor(() => expect(calls).toHaveLength(2));
    retention.stop();
    expect(calls).toEqual([
      `ensure 2026-11-30T10:00:00.000Z ${new Date(Date.parse("2026-11-30T10:00:00Z") + PARTITION_DAYS_AHEAD * DAY_MS).toISOString()}`,
      "purge 2026-10-31T10:00:00.000Z",
    ]);
    expect(lines().map((l) => l.msg)).toEqual(["created delivery audit partitions", "purged old delivery records"]);
    expect(lines()[1]).toMatchObject({ deleted: 2, droppedPartitions: ["deliveries_p20261029"], keepDays: 30 });
  });

  it("still purges when the partitions cannot be created, and logs both failures as warnings", async () => {
    const { log, lines } = recordingLogger("info");
    let purged = 0;
    const retention = createAuditRetention({
      partitions: { ensure: () => Promise.reject(new Error("lock timeout")) },
      audit: {
        purgeOlderThan: async () => {
          purged += 1;
          throw new Error("database away");
        },
      },
      clock,
      log,
      keepDays: 30,
      intervalMinutes: 60,
    });
    retention.start();
    await vi.waitFor(() => expect(lines()).toHaveLength(2));
    retention.stop();
    expect(purged).toBe(1);
    expect(lines().map((l) => [l.level, l.msg])).toEqual([
      ["warn", "creating delivery audit partitions failed; will try again"],
      ["warn", "audit retention purge failed; will try again"],
    ]);
  });
});
