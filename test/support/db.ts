import { cpSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "../../src/store/database.js";
import { migrateLatest } from "../../src/store/migrate.js";

export const TEST_RUNS_DIR = resolve(import.meta.dirname, "../../.test-runs");

/** The database under test: Postgres when DATABASE_URL is set, else the embedded PGlite. */
export const usingPostgres = (): boolean => (process.env.DATABASE_URL ?? "") !== "";

function withDatabaseName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Returns the template's identity: a Postgres database name, or a PGlite directory. */
export async function createTemplateDatabase(runDir: string): Promise<string> {
  if (usingPostgres()) {
    const name = `xp_template_${process.pid}_${randomBytes(3).toString("hex")}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    const db = await openDatabase({ url: withDatabaseName(process.env.DATABASE_URL!, name), dataDir: "", poolMax: 2 });
    await migrateLatest(db);
    await db.close();
    return name;
  }
  const dir = join(runDir, "template");
  const db = await openDatabase({ dataDir: dir, poolMax: 1 });
  await migrateLatest(db);
  await db.close();
  return dir;
}

export async function dropTemplateDatabase(template: string): Promise<void> {
  if (usingPostgres()) await adminQuery(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
}

export interface TestDatabase extends Database {
  /** What the server's config needs to open the same database: { url } or { dataDir }. */
  readonly location: { url?: string; dataDir: string };
  /** Closes (if still open) and deletes the copy. */
  dispose(): Promise<void>;
}

/** A fresh, migrated database for one test file: CREATE DATABASE … TEMPLATE, or a copy of the PGlite directory. */
export async function createTestDatabase(template: string, runDir: string): Promise<TestDatabase> {
  const name = `xp_t_${process.pid}_${randomBytes(4).toString("hex")}`;
  if (usingPostgres()) {
    await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    const url = withDatabaseName(process.env.DATABASE_URL!, name);
    return disposable(await openDatabase({ url, dataDir: "", poolMax: 5 }), { url, dataDir: "" }, () =>
      adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    );
  }
  const dir = join(runDir, name);
  mkdirSync(dir, { recursive: true });
  cpSync(template, dir, { recursive: true });
  return disposable(await openDatabase({ dataDir: dir, poolMax: 1 }), { dataDir: dir }, async () =>
    rmSync(dir, { recursive: true, force: true }),
  );
}

/** A database that can be closed more than once, and disposed of (closed, then deleted). */
function disposable(db: Database, location: TestDatabase["location"], remove: () => Promise<void>): TestDatabase {
  let closed = false;
  const close = async () => {
    if (!closed) await db.close();
    closed = true;
  };
  return {
    ...db,
    location,
    close,
    dispose: async () => {
      await close();
      await remove();
    },
  };
}

/** A fresh database for the calling test file (call in beforeAll; dispose in afterAll). */
export async function freshTestDatabase(): Promise<TestDatabase> {
  const { inject } = await import("vitest");
  return createTestDatabase(inject("templateDatabase"), inject("testRunDir"));
}
