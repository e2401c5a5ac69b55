import type { DeliveryAudit } from "../../../src/ports/delivery-audit.js";
import type { DeliveryQueue } from "../../../src/ports/delivery-queue.js";
import type { RegistrationStore } from "../../../src/ports/registration-store.js";
import type { WriteBatchStore } from "../../../src/ports/write-batch.js";

/**
 * The group commit over the in-memory stores, in the Postgres order (puts, completes, audit rows,
 * last-push times). `failing` makes every commit throw, as a database that went away.
 */
export function memoryWriteBatchStore(stores: {
  queue: DeliveryQueue;
  audit: DeliveryAudit;
  registrations: RegistrationStore;
}): WriteBatchStore & {
  failing: boolean;
  commits: number;
} {
  const self = {
    failing: false,
    commits: 0,
    async commit(batch: Parameters<WriteBatchStore["commit"]>[0]) {
      if (self.failing) throw Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
      self.commits += 1;
      await stores.queue.put(batch.puts);
      await stores.queue.complete(batch.completes);
      await stores.audit.record(batch.audits);
      await stores.registrations.touchLastPush(batch.touched, batch.touchedAt);
    },
  };
  return self;
}
