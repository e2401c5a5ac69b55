import type { Knex } from "knex";
import type { SettingsStore } from "../ports/settings-store.js";

export function createPgSettingsStore({ knex }: { knex: Knex }): SettingsStore {
  return {
    async getOrCreate(name, create) {
      // ON CONFLICT DO NOTHING, then read: when two replicas start at once, both end up with the first value.
      await knex("server_settings").insert({ name, value: create() }).onConflict("name").ignore();
      const row = (await knex("server_settings").where({ name }).first("value")) as { value: string };
      return row.value;
    },
  };
}
