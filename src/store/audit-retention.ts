import type { Logger } from "../observability/logger.js";
import type { Clock } from "../ports/clock.js";
import type { DeliveryAudit } from "../ports/delivery-audit.js";

// Keeps the delivery audit to `retention.auditDays`: purges on start and then every
// `retention.purgeIntervalMinutes`. A failed purge is logged and tried again at the next tick.

export interface AuditRetention {
  start(): void;
  stop(): void;
}

export function createAuditRetention({
  audit,
  clock,
  log,
  keepDays,
  intervalMinutes,
}: {
  audit: Pick<DeliveryAudit, "purgeOlderThan">;
  clock: Clock;
  log: Logger;
  keepDays: number;
  intervalMinutes: number;
}): AuditRetention {
  let timer: NodeJS.Timeout | undefined;
  const purge = async () => {
    try {
      const n = await audit.purgeOlderThan(new Date(clock.now().getTime() - keepDays * 86_400_000));
      if (n > 0) log.info({ deleted: n, keepDays }, "purged old delivery records");
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, "audit retention purge failed; will try again");
    }
  };
  return {
    start() {
      timer = setInterval(() => void purge(), intervalMinutes * 60_000);
      timer.unref();
      void purge();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
