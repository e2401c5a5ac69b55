import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";

// A new data directory's initdb grows PGlite's WebAssembly memory to ~350 MB and leaves the process's
// malloc heap fragmented (~55 MB more RSS for good, measured): run it in a child process, which hands
// all of that back when it exits, so the server's first start idles like any later one.

const INITDB = `
const [pglite, dir, conf] = process.argv.slice(1);
const { PGlite } = await import(pglite);
const db = new PGlite(dir, { postgresqlconf: JSON.parse(conf) });
await db.waitReady;
await db.close();
`;

// The package as this process resolves it (import.meta.resolve is missing under test runners' loaders).
const pgliteUrl = () => pathToFileURL(createRequire(import.meta.url).resolve("@electric-sql/pglite")).href;

/** Creates the embedded database in pgdata (which must not hold one yet); fails with the child's stderr. */
export async function initEmbeddedDatabase(pgdata: string, postgresqlconf: readonly string[]): Promise<void> {
  try {
    await promisify(execFile)(
      process.execPath,
      // Baseline WebAssembly code only (as the production start): initdb runs once, optimizing costs memory.
      ["--liftoff-only", "--input-type=module", "-e", INITDB, pgliteUrl(), pgdata, JSON.stringify(postgresqlconf)],
      { timeout: 120_000, maxBuffer: 1 << 20 },
    );
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`could not create the embedded database in ${pgdata}${stderr ? `: ${stderr}` : ""}`, { cause: err });
  }
}
