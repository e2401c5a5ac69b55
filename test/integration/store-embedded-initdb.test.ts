import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/store/database.js";
import { initEmbeddedDatabase } from "../../src/store/embedded-initdb.js";

// A new embedded data directory is created by a child process (its initdb memory leaves with it); the
// server then opens it like any later start.
const root = mkdtempSync(join(tmpdir(), "xp-initdb-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the embedded database's first start", () => {
  it("creates the data directory, which then opens and keeps its data", async () => {
    const dataDir = join(root, "fresh");
    const db = await openDatabase({ dataDir, poolMax: 1 });
    try {
      expect(existsSync(join(dataDir, "pgdata", "PG_VERSION"))).toBe(true);
      await db.knex.raw("CREATE TABLE kept (v int)");
      await db.knex.raw("INSERT INTO kept VALUES (42)");
    } finally {
      await db.close();
    }
    const again = await openDatabase({ dataDir, poolMax: 1 });
    try {
      expect((await again.knex.raw("SELECT v FROM kept")).rows).toEqual([{ v: 42 }]);
    } finally {
      await again.close();
    }
  });

  it("reports a directory it cannot create, naming it", async () => {
    const file = join(root, "not-a-directory");
    writeFileSync(file, "");
    await expect(initEmbeddedDatabase(join(file, "pgdata"), [])).rejects.toThrow(`could not create the embedded database in ${file}`);
  });
});
