import type { Config } from "../config/config-schema.js";
import { tokenCipherFor } from "../store/token-cipher.js";
import { rotateTokenKey } from "../store/token-rotation.js";
import { openDb, UsageError } from "./admin-commands.js";

type Out = (text: string) => void;

/**
 * `xmpp-push rotate-key`: rewrites every device token with tokenEncryptionKey, reading old rows with
 * tokenEncryptionPreviousKey. Exit 0 when the rotation is complete (the previous key can go), 1 when
 * some rows could not be read with either key.
 */
export async function rotateKeyCommand(config: Config, opts: { batchSize: number }, out: Out): Promise<number> {
  if (config.tokenEncryptionKey === undefined && config.tokenEncryptionPreviousKey === undefined) {
    throw new UsageError("no token key is configured: set tokenEncryptionKey (the new key) and tokenEncryptionPreviousKey (the old one)");
  }
  const cipher = tokenCipherFor(config);
  const db = await openDb(config);
  try {
    const r = await rotateTokenKey({ knex: db.knex, cipher, batchSize: opts.batchSize });
    const target = cipher.keyId === undefined ? "as plain text (no tokenEncryptionKey)" : `with key ${cipher.keyId}`;
    out(`rewrote ${r.rewritten} device token row(s) ${target} in ${r.batches} batch(es)`);
    if (!r.complete) {
      out(
        `${r.unreadable} row(s) could not be decrypted with the configured keys and were left as they are; nodes: ${r.unreadableNodes.join(", ")}`,
      );
      out(
        "those devices are treated as unknown until they register again; configure the key they need and run rotate-key again, or remove them",
      );
      return 1;
    }
    out("rotation complete: remove tokenEncryptionPreviousKey from the configuration and restart the servers");
    return 0;
  } finally {
    await db.close();
  }
}
