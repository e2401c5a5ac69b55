import type { Knex } from "knex";
import { UnreadableTokenError, type TokenCipher } from "./token-cipher.js";
import { sealCanaryWithCurrentKey } from "./token-key-check.js";

// Rewrites every stored device token in the form the current key writes (`xmpp-push rotate-key`). Runs
// beside live servers: bounded batches, each its own short transaction, and a row a server rewrote in
// the meantime (the device registered again) is left as the server wrote it.

export interface RotationResult {
  readonly rewritten: number;
  /** Rows no configured key opens: left as they are; their nodes (the first few) for the operator. */
  readonly unreadable: number;
  readonly unreadableNodes: readonly string[];
  readonly batches: number;
  /** True when every row is now in the current form and the key canary moved to the current key. */
  readonly complete: boolean;
}

interface AddressRow {
  node: string;
  provider: string;
  token: string;
  voip_token: string | null;
}

const MAX_LISTED = 20;

export async function rotateTokenKey({
  knex,
  cipher,
  batchSize,
  onBatch,
}: {
  knex: Knex;
  cipher: TokenCipher;
  batchSize: number;
  onBatch?: (done: number) => void;
}): Promise<RotationResult> {
  // Rows not yet in the current form: sealed with another key, an old form, or (with a key) plain text.
  const notCurrent = (column: string) =>
    cipher.keyId === undefined ? `${column} LIKE 'enc%'` : `${column} NOT LIKE 'enc2:${cipher.keyId}:%'`;
  let after: readonly [string, string] = ["", ""];
  let rewritten = 0;
  let batches = 0;
  const unreadableNodes: string[] = [];
  let unreadable = 0;
  // Each batch moves the keyset cursor forward, so the loop ends after at most rows / batchSize rounds.
  for (;;) {
    const { rows } = await knex.raw<{ rows: AddressRow[] }>(
      `SELECT node, provider, token, voip_token FROM registration_addresses
        WHERE (node, provider) > (?, ?) AND (${notCurrent("token")} OR (voip_token IS NOT NULL AND ${notCurrent("voip_token")}))
        ORDER BY node, provider LIMIT ?`,
      [after[0], after[1], batchSize],
    );
    if (rows.length === 0) break;
    batches += 1;
    await knex.transaction(async (trx) => {
      for (const row of rows) {
        let sealed: { token: string; voip_token: string | null };
        try {
          sealed = {
            token: cipher.seal(cipher.open(row.token)),
            voip_token: row.voip_token === null ? null : cipher.seal(cipher.open(row.voip_token)),
          };
        } catch (err) {
          if (!(err instanceof UnreadableTokenError)) throw err;
          unreadable += 1;
          if (unreadableNodes.length < MAX_LISTED) unreadableNodes.push(row.node);
          continue;
        }
        rewritten += await trx("registration_addresses").where({ node: row.node, provider: row.provider, token: row.token }).update(sealed);
      }
    });
    const last = rows[rows.length - 1]!;
    after = [last.node, last.provider];
    onBatch?.(rewritten);
    if (rows.length < batchSize) break;
  }
  const complete = unreadable === 0;
  if (complete) await sealCanaryWithCurrentKey(knex, cipher);
  return { rewritten, unreadable, unreadableNodes, batches, complete };
}
