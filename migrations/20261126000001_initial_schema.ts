import type { Knex } from "knex";

// Plain SQL, one statement per call: PGlite's extended-protocol query() runs a single statement.
// Conventions (STYLE §4/§8): text not varchar, timestamptz, identity ids, a primary key everywhere, IF NOT EXISTS.
const up_statements = [
  `CREATE TABLE IF NOT EXISTS registrations (
     node            text PRIMARY KEY,
     app             text NOT NULL,
     owner_jid       text NOT NULL,
     device_id       text NOT NULL,
     channel         text NOT NULL DEFAULT '',
     dialect         text NOT NULL,
     secret_hash     text,
     created_at      timestamptz NOT NULL DEFAULT now(),
     updated_at      timestamptz NOT NULL DEFAULT now(),
     last_push_at    timestamptz,
     disabled_at     timestamptz,
     disabled_reason text,
     CONSTRAINT registrations_device_key UNIQUE (app, owner_jid, device_id, channel)
   )`,
  `CREATE INDEX IF NOT EXISTS registrations_owner_idx ON registrations (owner_jid)`,
  // One row per provider address of a device: a phone may have an APNs token and a JPush registration id.
  `CREATE TABLE IF NOT EXISTS registration_addresses (
     node            text NOT NULL REFERENCES registrations (node) ON DELETE CASCADE,
     provider        text NOT NULL CHECK (provider IN ('apns', 'jpush', 'fcm')),
     token           text NOT NULL,
     token_hash      text NOT NULL,
     environment     text CHECK (environment IN ('sandbox', 'production')),
     push_type       text CHECK (push_type IN ('alert', 'background')),
     voip_token      text,
     updated_at      timestamptz NOT NULL DEFAULT now(),
     disabled_at     timestamptz,
     disabled_reason text,
     PRIMARY KEY (node, provider)
   )`,
  `CREATE INDEX IF NOT EXISTS registration_addresses_token_idx ON registration_addresses (provider, token_hash)`,
  // The audit: one row per provider attempt, append-only.
  `CREATE TABLE IF NOT EXISTS deliveries (
     id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     push_id     text NOT NULL,
     node        text NOT NULL,
     app         text NOT NULL,
     provider    text NOT NULL,
     environment text,
     outcome     text NOT NULL CHECK (outcome IN ('delivered', 'token_dead', 'retry', 'config_error', 'payload_error')),
     status      integer,
     reason      text,
     message_id  text,
     attempt     integer NOT NULL,
     latency_ms  integer NOT NULL,
     created_at  timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE INDEX IF NOT EXISTS deliveries_node_created_idx ON deliveries (node, created_at DESC)`,
  `CREATE INDEX IF NOT EXISTS deliveries_created_idx ON deliveries (created_at)`,
  // The durable queue. Keyed by node: a newer publish for the same device replaces the pending one.
  `CREATE TABLE IF NOT EXISTS delivery_jobs (
     node            text PRIMARY KEY,
     push_id         text NOT NULL,
     app             text NOT NULL,
     notification    jsonb NOT NULL,
     attempts        integer NOT NULL DEFAULT 0,
     next_attempt_at timestamptz NOT NULL,
     expires_at      timestamptz NOT NULL,
     locked_by       text,
     locked_until    timestamptz,
     last_error      text,
     created_at      timestamptz NOT NULL DEFAULT now(),
     updated_at      timestamptz NOT NULL DEFAULT now()
   )`,
  `CREATE INDEX IF NOT EXISTS delivery_jobs_due_idx ON delivery_jobs (next_attempt_at)`,
  // Server-wide values generated once and shared by every replica (e.g. the key publish secrets derive from).
  `CREATE TABLE IF NOT EXISTS server_settings (
     name       text PRIMARY KEY,
     value      text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
];

export async function up(knex: Knex): Promise<void> {
  for (const sql of up_statements) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ["server_settings", "delivery_jobs", "deliveries", "registration_addresses", "registrations"]) {
    await knex.raw(`DROP TABLE IF EXISTS ${table}`);
  }
}
