import type { Knex } from "knex";
import type { WriteBatch, WriteBatchStore } from "../ports/write-batch.js";
import { createPgDeliveryAudit, ROWS_PER_INSERT } from "./delivery-audit-pg.js";
import { createPgDeliveryQueue } from "./delivery-queue-pg.js";
import { createPgRegistrationStore } from "./registration-store-pg.js";
import type { TokenCipher } from "./token-cipher.js";

// One transaction, one commit (one WAL flush) for a whole batch of pushes: this is what lets thousands
// of pushes a second keep a durable queue and a full audit. The everyday batch is a few audit rows
// and nothing else (the push was delivered before its group commit, so its job is never written):
// one statement, atomic by itself, sent without BEGIN and COMMIT, which saves two round trips and
// knex's per-transaction client per batch.
export function createPgWriteBatchStore({ knex, cipher }: { knex: Knex; cipher: TokenCipher }): WriteBatchStore {
  return {
    async commit(batch: WriteBatch) {
      if (statementsOf(batch) <= 1) await write(knex, batch, cipher);
      else await knex.transaction((trx) => write(trx, batch, cipher));
    },
  };
}

/** The batch's statements; each is skipped when its part is empty. */
async function write(knex: Knex, batch: WriteBatch, cipher: TokenCipher): Promise<void> {
  const queue = createPgDeliveryQueue({ knex });
  await queue.put(batch.puts);
  await queue.complete(batch.completes);
  await createPgDeliveryAudit({ knex }).record(batch.audits);
  await createPgRegistrationStore({ knex, cipher }).touchLastPush(batch.touched, batch.touchedAt);
}

function statementsOf(batch: WriteBatch): number {
  const one = (n: number) => (n > 0 ? 1 : 0);
  return (
    one(batch.puts.length) + one(batch.completes.length) + Math.ceil(batch.audits.length / ROWS_PER_INSERT) + one(batch.touched.length)
  );
}
