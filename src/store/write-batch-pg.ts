import type { Knex } from "knex";
import type { WriteBatch, WriteBatchStore } from "../ports/write-batch.js";
import { createPgDeliveryAudit } from "./delivery-audit-pg.js";
import { createPgDeliveryQueue } from "./delivery-queue-pg.js";
import { createPgRegistrationStore } from "./registration-store-pg.js";
import type { TokenCipher } from "./token-cipher.js";

// One transaction, one commit (one WAL flush) for a whole batch of pushes: this is what lets thousands
// of pushes a second keep a durable queue and a full audit.
export function createPgWriteBatchStore({ knex, cipher }: { knex: Knex; cipher: TokenCipher }): WriteBatchStore {
  return {
    async commit(batch: WriteBatch) {
      await knex.transaction(async (trx) => {
        const queue = createPgDeliveryQueue({ knex: trx });
        await queue.put(batch.puts);
        await queue.complete(batch.completes);
        await createPgDeliveryAudit({ knex: trx }).record(batch.audits);
        await createPgRegistrationStore({ knex: trx, cipher }).touchLastPush(batch.touched, batch.touchedAt);
      });
    },
  };
}
