import type { Knex } from "knex";
import { hashSecret } from "../../src/domain/secret.js";

// Registrations for the benchmark, written with set-based SQL (a million rows in seconds): every
// device has an APNs token and a JPush registration id, as a phone backed up by a second channel.

export const BENCH_SECRET = "bench-secret-0123456789abcdefgh";
export const nodeOf = (i: number) => `bench-${i}`;
export const apnsTokenOf = (i: number) => i.toString(16).padStart(64, "0");

/** `domain`: the users' XMPP domain, whose server alone may publish to their nodes. */
export async function seedRegistrations(knex: Knex, count: number, app: string, domain = "localhost"): Promise<void> {
  await knex.raw("TRUNCATE registrations, registration_addresses, deliveries, delivery_jobs");
  const secretHash = hashSecret(BENCH_SECRET);
  const chunk = 200_000;
  for (let from = 0; from < count; from += chunk) {
    const to = Math.min(count, from + chunk) - 1;
    await knex.raw(
      `INSERT INTO registrations (node, app, owner_jid, device_id, channel, dialect, secret_hash)
       SELECT 'bench-' || i, ?, 'user' || i || '@' || ?, 'device', '', 'p2', ?
         FROM generate_series(?::int, ?::int) AS i`,
      [app, domain, secretHash, from, to],
    );
    await knex.raw(
      `INSERT INTO registration_addresses (node, provider, token, token_hash, environment)
       SELECT 'bench-' || i, 'apns', lpad(to_hex(i), 64, '0'), md5(i::text), 'production'
         FROM generate_series(?::int, ?::int) AS i`,
      [from, to],
    );
    await knex.raw(
      `INSERT INTO registration_addresses (node, provider, token, token_hash, environment)
       SELECT 'bench-' || i, 'jpush', 'jp' || i, md5('jp' || i::text), 'production'
         FROM generate_series(?::int, ?::int) AS i`,
      [from, to],
    );
  }
  await knex.raw("ANALYZE registrations");
  await knex.raw("ANALYZE registration_addresses");
}
