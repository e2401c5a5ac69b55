import type { Logger } from "../observability/logger.js";
import type { Clock } from "../ports/clock.js";
import type { DeliveryAudit } from "../ports/delivery-audit.js";
import { DAY_MS, type AuditPartitions } from "./audit-partitions.js";

// Keeps the delivery audit to `retention.auditDays`: on start and then every
// `retention.purgeIntervalMinutes`, creates the audit's daily partitions for the days ahead and drops
// the days entirely older than the cutoff. A failed step is logged and tried again at the next tick.

// Days ahead that get their partition: maintenance that cannot run for this long (a database outage)
// still finds today's partition. Beyond that, rows wait in the default partition until their day has one.
export const PARTITION_DAYS_AHEAD = 3;

export interface AuditRetention {
  start(): void;
  stop(): void;
}

export function createAuditRetention({
  audit,
  partitions,
  clock,
  log,
  keepDays,
  intervalMinutes,
}: {
  audit: Pick<DeliveryAudit, "purgeOlderThan">;
  partitions: Pick<AuditPartitions, "ensure">;
  clock: Clock;
  log: Logger;
  keepDays: number;
  intervalMinutes: number;
}): AuditRetention {
  let timer: NodeJS.Timeout | undefined;
  const prepare = async (now: Date) => {
    try {
      const created = await partitions.ensure(now, new Date(now.getTime() + PARTITION_DAYS_AHEAD * DAY_MS));
      if (created.length > 0) log.info({ created }, "created delivery audit partitions");
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, "creating delivery audit partitions failed; will try again");
    }
  };
  const purge = async (now: Date) => {
    try {
      const started = performance.now();
      const { deletedRows, droppedPartitions } = await audit.purgeOlderThan(new Date(now.getTime() - keepDays * DAY_MS));
      if (deletedRows > 0 || droppedPartitions.length > 0) {
        const ms = Math.round(performance.now() - started);
        log.info({ deleted: deletedRows, droppedPartitions, keepDays, ms }, "purged old delivery records");
      }
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, "audit retention purge failed; will try again");
    }
  };
  const tick = async () => {
    const now = clock.now();
    await prepare(now);
    await purge(now);
  };
  return {
    start() {
      timer = setInterval(() => void tick(), intervalMinutes * 60_000);
      timer.unref();
      void tick();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
