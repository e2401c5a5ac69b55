import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/store/database.js";
import { passMigrationGate, pendingMigrations } from "../../src/store/migrate.js";
import { TEST_RUNS_DIR } from "../support/db.js";

// The gate `serve` and the admin commands pass before they use a database: one rule, so a process
// never works on a schema it was not written for. On a fresh embedded database (no migrations yet).

mkdirSync(TEST_RUNS_DIR, { recursive: true });
const dir = mkdtempSync(join(TEST_RUNS_DIR, "gate-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the migration gate", () => {
  it("refuses a database with pending migrations, naming them and the command that applies them", async () => {
    const db = await openDatabase({ dataDir: join(dir, "refuse"), poolMax: 1 });
    try {
      const pending = await pendingMigrations(db);
      expect(pending.length).toBeGreaterThan(0);
      await expect(passMigrationGate(db, false)).rejects.toThrow(
        `the database needs migrations (${pending.join(", ")}): run "xmpp-push migrate"`,
      );
      expect(await pendingMigrations(db)).toEqual(pending);
    } finally {
      await db.close();
    }
  });

  it("applies them when migrateOnStart is on, and then lets the next process through without work", async () => {
    const db = await openDatabase({ dataDir: join(dir, "apply"), poolMax: 1 });
    try {
      const pending = await pendingMigrations(db);
      expect(await passMigrationGate(db, true)).toEqual(pending);
      expect(await passMigrationGate(db, false)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
