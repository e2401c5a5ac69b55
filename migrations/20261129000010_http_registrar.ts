import type { Knex } from "knex";

// Who made a registration: '' for the XMPP side (and the operator's CLI), otherwise the fingerprint of
// the HTTP registration token (never the token). A device key is unique per registrar, so an HTTP token
// cannot reach, overwrite or delete what a user registered over XMPP or what another token made.
// Rows made over HTTP before this column existed came from the single registration token of that time:
// they are marked 'http-legacy' and handed to that token's fingerprint at start (adoptLegacyHttp).
const up_statements = [
  `ALTER TABLE registrations ADD COLUMN IF NOT EXISTS registrar text NOT NULL DEFAULT ''`,
  // XMPP registrations always have an owner; the HTTP form API (mod_push_appserver's) usually names none.
  `UPDATE registrations SET registrar = 'http-legacy'
     WHERE registrar = '' AND (dialect = 'rest' OR (dialect = 'appserver' AND owner_jid = ''))`,
  `ALTER TABLE registrations DROP CONSTRAINT IF EXISTS registrations_device_key`,
  `ALTER TABLE registrations ADD CONSTRAINT registrations_device_key UNIQUE (app, owner_jid, device_id, channel, registrar)`,
  `DROP INDEX IF EXISTS registrations_owner_idx`,
  `CREATE INDEX IF NOT EXISTS registrations_owner_registrar_idx ON registrations (owner_jid, registrar)`,
  // The hand-over at start looks for these rows each time: without an index that reads every registration.
  `CREATE INDEX IF NOT EXISTS registrations_http_legacy_idx ON registrations (registrar) WHERE registrar = 'http-legacy'`,
];

const down_statements = [
  // Of devices registered in several spaces, the XMPP one ('' sorts first) stays.
  `DELETE FROM registrations r WHERE EXISTS (SELECT 1 FROM registrations o WHERE o.app = r.app AND o.owner_jid = r.owner_jid
     AND o.device_id = r.device_id AND o.channel = r.channel AND o.registrar < r.registrar)`,
  `ALTER TABLE registrations DROP CONSTRAINT IF EXISTS registrations_device_key`,
  `DROP INDEX IF EXISTS registrations_owner_registrar_idx`,
  `DROP INDEX IF EXISTS registrations_http_legacy_idx`,
  `CREATE INDEX IF NOT EXISTS registrations_owner_idx ON registrations (owner_jid)`,
  `ALTER TABLE registrations DROP COLUMN IF EXISTS registrar`,
  `ALTER TABLE registrations ADD CONSTRAINT registrations_device_key UNIQUE (app, owner_jid, device_id, channel)`,
];

export async function up(knex: Knex): Promise<void> {
  for (const sql of up_statements) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const sql of down_statements) await knex.raw(sql);
}
