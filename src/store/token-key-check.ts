import type { Knex } from "knex";
import { ConfigError } from "../config/load-config.js";
import type { Logger } from "../observability/logger.js";
import { UnreadableTokenError, type TokenCipher } from "./token-cipher.js";

// The key canary: a known text sealed with the token key, kept in server_settings. Checked at start, it
// turns a wrong or lost tokenEncryptionKey into a clear error before the server takes any traffic,
// instead of publishes that answer `wait` forever while /readyz says ready.

const CANARY = "token-key-canary";
const CANARY_TEXT = "xmpp-push token key canary";

/** The configured token keys cannot read what the database holds. */
export class TokenKeyMismatchError extends Error {
  constructor(detail: string) {
    super(
      `tokenEncryptionKey: the database's device tokens ${detail}. ` +
        'Start with the key they were encrypted with (see docs/operations.md, "Token encryption key")',
    );
    this.name = "TokenKeyMismatchError";
  }
}

export type TokenKeyState =
  /** No key configured and nothing encrypted. */
  | "plain"
  /** Everything known is readable with the current key. */
  | "current"
  /** Readable, but the canary is still under a previous key: rotate-key has not finished. */
  | "rotating";

export async function checkTokenKey(knex: Knex, cipher: TokenCipher): Promise<TokenKeyState> {
  const canary = (await knex("server_settings").where({ name: CANARY }).first("value")) as { value: string } | undefined;
  // Databases from before the canary: one encrypted row stands in for it.
  const sample =
    canary?.value ??
    ((await knex("registration_addresses").where("token", "like", "enc%").first("token")) as { token: string } | undefined)?.token;
  if (sample !== undefined) {
    let opened: string;
    try {
      opened = cipher.open(sample);
    } catch (err) {
      if (err instanceof UnreadableTokenError) throw new TokenKeyMismatchError(`cannot be decrypted: ${err.message}`);
      throw err;
    }
    if (canary !== undefined && opened !== CANARY_TEXT) throw new TokenKeyMismatchError("cannot be decrypted: the key canary reads wrong");
  }
  if (cipher.keyId === undefined) return "plain";
  if (canary === undefined) {
    await knex("server_settings")
      .insert({ name: CANARY, value: cipher.seal(CANARY_TEXT) })
      .onConflict("name")
      .ignore();
    return "current";
  }
  return cipher.isCurrent(canary.value) ? "current" : "rotating";
}

/** After a finished rotation: the canary moves to the current key (or goes, when tokens are now stored as given), so the previous key can go. */
export async function sealCanaryWithCurrentKey(knex: Knex, cipher: TokenCipher): Promise<void> {
  if (cipher.keyId === undefined) {
    await knex("server_settings").where({ name: CANARY }).del();
    return;
  }
  await knex("server_settings")
    .insert({ name: CANARY, value: cipher.seal(CANARY_TEXT) })
    .onConflict("name")
    .merge(["value"]);
}

/**
 * The start-up check of every process that reads or writes device tokens (`serve`, `register`): a
 * wrong or lost key stops it as an unusable configuration (exit status 2), so nothing is written under
 * a key that cannot read the rest; an unfinished rotation is logged.
 */
export async function passTokenKeyGate(knex: Knex, cipher: TokenCipher, log: Pick<Logger, "warn">): Promise<void> {
  try {
    if ((await checkTokenKey(knex, cipher)) === "rotating") {
      log.warn(
        { keyId: cipher.keyId },
        'a token key rotation has not finished: run "xmpp-push rotate-key", then drop the previous key from the config',
      );
    }
  } catch (err) {
    throw err instanceof TokenKeyMismatchError ? new ConfigError([err.message]) : err;
  }
}
