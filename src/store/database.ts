import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import knexFactory, { type Knex } from "knex";
import pg from "pg";
import { initEmbeddedDatabase } from "./embedded-initdb.js";

export type DatabaseKind = "postgres" | "embedded";

export interface Database {
  readonly knex: Knex;
  readonly kind: DatabaseKind;
  /** Where the data lives, without credentials: "postgres 127.0.0.1:5432/test" or "embedded ./data". */
  readonly description: string;
  /** Connection string for a side connection (advisory locks); undefined for the embedded database. */
  readonly url?: string;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  readonly url?: string;
  readonly dataDir: string;
  readonly poolMax: number;
  /** How long to wait for another process to release the embedded database directory. */
  readonly lockWaitMs?: number;
  /** Postgres: how long one query may take before the client gives up (0: no limit); 10 s by default. */
  readonly queryTimeoutMs?: number;
}

export class DatabaseLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `the embedded database ${dir} is in use by process ${pid} (PGlite allows one process at a time): ` +
        "stop that process, or use a Postgres server (DATABASE_URL) to share the data",
    );
    this.name = "DatabaseLockedError";
  }
}

// pg returns int8 (count(*), identity ids) as strings and PGlite as numbers; make both numbers.
// Our int8 values are row counts and ids, far below 2^53.
const INT8_OID = 20;
const pgTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  return options.url !== undefined
    ? openPostgres(options.url, options.poolMax, options.queryTimeoutMs ?? 10_000)
    : openEmbedded(options.dataDir, options.lockWaitMs ?? 0);
}

function openPostgres(url: string, poolMax: number, queryTimeoutMs: number): Database {
  const knex = knexFactory({
    client: "pg",
    connection: {
      connectionString: url,
      types: pgTypes,
      // Fail fast instead of hanging when Postgres is away: callers answer `wait` and retry later.
      connectionTimeoutMillis: 3000,
      query_timeout: queryTimeoutMs,
      application_name: "xmpp-push",
    } as Knex.PgConnectionConfig,
    pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 },
    acquireConnectionTimeout: 5000,
  });
  const u = new URL(url);
  return {
    knex,
    kind: "postgres",
    description: `postgres ${u.hostname}:${u.port || 5432}${u.pathname}`,
    url,
    close: () => knex.destroy(),
  };
}

async function openEmbedded(dataDir: string, lockWaitMs: number): Promise<Database> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const releaseLock = await lockDirectory(dir, lockWaitMs);
  const releaseUmask = holdOwnerOnlyUmask();
  try {
    // Directories made by an earlier version (or by hand) may let others in: the data holds device
    // tokens and JIDs. The directory alone at 0700 already shuts others out; files follow for backups.
    restrictToOwner(dir);
    // Loaded only for the embedded database: a server on Postgres never pays for PGlite's memory.
    const [{ PGlite }, { default: ClientPgLite }] = await Promise.all([import("@electric-sql/pglite"), import("knex-pglite")]);
    const pgdata = join(dir, "pgdata");
    // The embedded database serves one small process; Postgres' 128 MB default is far too much here.
    const postgresqlconf = ["shared_buffers=16MB"];
    if (!existsSync(join(pgdata, "PG_VERSION"))) await initEmbeddedDatabase(pgdata, postgresqlconf);
    const pglite = new PGlite(pgdata, { postgresqlconf });
    await pglite.waitReady;
    restrictToOwner(dir);
    const knex = knexFactory({ client: ClientPgLite, dialect: "postgres", connection: () => ({ pglite }) as object });
    return {
      knex,
      kind: "embedded",
      description: `embedded ${dataDir}`,
      close: async () => {
        try {
          await knex.destroy();
          if (!pglite.closed) await pglite.close();
        } finally {
          releaseLock();
          releaseUmask();
        }
      },
    };
  } catch (err) {
    releaseLock();
    releaseUmask();
    throw err;
  }
}

// PGlite (Emscripten's file system over node:fs) creates its files 0666 and directories 0777, less the
// umask: with the usual 022 the WAL and every table were readable by any local user. While an embedded
// database is open, this process creates everything owner-only. The umask belongs to the process, so
// this count (several databases open at once in tests) is the one piece of module state here.
let ownerOnlyHolders = 0;
let umaskBefore = 0;

function holdOwnerOnlyUmask(): () => void {
  if (ownerOnlyHolders === 0) umaskBefore = process.umask(0o077);
  ownerOnlyHolders += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    ownerOnlyHolders -= 1;
    if (ownerOnlyHolders === 0) process.umask(umaskBefore);
  };
}

/**
 * Takes group and other permissions off the directory and everything in it that this user owns (a
 * bounded walk: PGlite's ~1,000 files). A directory we do not own, such as a Kubernetes volume's root
 * (root:fsGroup), is left as it is: its pgdata directory, which we create, is what holds the data.
 */
function restrictToOwner(dir: string): void {
  const uid = process.getuid?.();
  const restrict = (path: string) => {
    const st = lstatSync(path);
    if (st.isSymbolicLink() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) === 0) return;
    chmodSync(path, st.mode & 0o700);
  };
  restrict(dir);
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) restrict(join(entry.parentPath, entry.name));
}

// Directories this process has locked. A lock file naming our own pid that is not in here was left by an
// earlier process that had the same pid: in a container the server is always pid 1, so after a kill
// the new server would otherwise wait forever for "itself".
const heldByThisProcess = new Set<string>();

// PGlite has no server to arbitrate between processes; two of them on one directory would corrupt it.
async function lockDirectory(dir: string, waitMs: number): Promise<() => void> {
  const file = join(dir, "xmpp-push.lock");
  // A bound on how long we wait, not a time of day: the monotonic clock.
  const deadline = performance.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldByThisProcess.add(file);
      return () => {
        heldByThisProcess.delete(file);
        try {
          unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = Number(readFileOrEmpty(file));
    const staleOwnPid = holder === process.pid && !heldByThisProcess.has(file);
    if (!Number.isInteger(holder) || holder <= 0 || staleOwnPid || !processAlive(holder)) {
      // A crashed process left its lock behind.
      try {
        unlinkSync(file);
      } catch {
        // another process removed it first
      }
      continue;
    }
    if (performance.now() >= deadline) throw new DatabaseLockedError(dir, holder);
    await sleep(100);
  }
}

function readFileOrEmpty(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
