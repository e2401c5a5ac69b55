import { afterAll, afterEach, beforeAll } from "vitest";
import type { Server } from "../../src/main.js";
import { freshTestDatabase, type TestDatabase } from "./db.js";

/**
 * The usual shape of an in-process test file: one fresh database for the file, servers that each test
 * starts (pushed into `servers`) stopped after it, then `reset` so the next test starts clean.
 */
export function databaseWithServers(reset: (db: TestDatabase) => Promise<void>): {
  readonly db: () => TestDatabase;
  readonly servers: Server[];
} {
  let db: TestDatabase | undefined;
  const servers: Server[] = [];
  beforeAll(async () => {
    db = await freshTestDatabase();
  });
  afterAll(async () => {
    await db?.dispose();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
    await reset(db!);
  });
  return { db: () => db!, servers };
}
