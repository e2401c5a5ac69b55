import type { Knex } from "knex";

// Publish secrets used to be derived from a key kept in server_settings, so one database read yielded
// every secret. They are now random per registration and stored only as their sha256 hash, which the
// existing rows already hold: those keep working unchanged. Dropping the key makes the old secrets
// impossible to recompute from the database.
export async function up(knex: Knex): Promise<void> {
  await knex("server_settings").where({ name: "publish-secret-key" }).del();
}

// Nothing to restore: a new key would derive other secrets than the ones users' servers hold, and the
// stored hashes are all a publish needs.
export async function down(): Promise<void> {}
