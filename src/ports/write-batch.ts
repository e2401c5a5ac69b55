import type { DeliveryRecord } from "./delivery-audit.js";
import type { JobRef, QueuedJob } from "./delivery-queue.js";

/** Everything the delivery pipeline writes in one group commit. */
export interface WriteBatch {
  readonly puts: readonly QueuedJob[];
  readonly completes: readonly JobRef[];
  readonly audits: readonly DeliveryRecord[];
  readonly touched: readonly string[];
  readonly touchedAt: Date;
}

export interface WriteBatchStore {
  /** Applies the whole batch in one transaction: puts, then completes, then audit rows, then last-push times. */
  commit(batch: WriteBatch): Promise<void>;
}
