import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./servers/xmpp-servers.js";

// A throwaway Postgres cluster of our own, on its own loopback port, for tests that stop and start
// the database (the shared server on 5432 is never touched). Uses the Debian packages' binaries.

export interface PrivatePostgres {
  readonly port: number;
  readonly url: string;
  stop(mode?: "fast" | "immediate"): void;
  start(): void;
  destroy(): void;
}

function binDir(): string {
  const root = "/usr/lib/postgresql";
  const version = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error("no PostgreSQL server binaries under /usr/lib/postgresql");
  return join(root, version, "bin");
}

/** Runs a Postgres tool as the postgres user (initdb and postgres refuse to run as root). */
function asPostgres(bin: string, args: string[]): void {
  const isRoot = process.getuid?.() === 0;
  if (isRoot) execFileSync("runuser", ["-u", "postgres", "--", bin, ...args], { stdio: "pipe", timeout: 60_000 });
  else execFileSync(bin, args, { stdio: "pipe", timeout: 60_000 });
}

/** `dir` is created; its parent must be traversable by the postgres user (mkdtemp makes 0700: chmod it). */
export async function startPrivatePostgres(dir: string): Promise<PrivatePostgres> {
  const bin = binDir();
  const port = await freePort();
  const data = join(dir, "pgdata");
  const socketDir = join(dir, "socket");
  mkdirSync(dir, { recursive: true });
  mkdirSync(socketDir, { recursive: true });
  if (process.getuid?.() === 0) {
    const pgUid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const pgGid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, pgUid, pgGid);
    chownSync(socketDir, pgUid, pgGid);
  }
  chmodSync(dir, 0o755);
  asPostgres(join(bin, "initdb"), ["-D", data, "--auth=trust", "--username=postgres", "--no-sync", "-E", "UTF8"]);
  const logFile = join(dir, "postgres.log");
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${socketDir} -c fsync=off -c shared_buffers=32MB -c max_connections=100`;
  const start = () => asPostgres(join(bin, "pg_ctl"), ["-D", data, "-l", logFile, "-o", options, "-w", "-t", "30", "start"]);
  start();
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: (mode = "fast") => asPostgres(join(bin, "pg_ctl"), ["-D", data, "-m", mode, "-w", "-t", "30", "stop"]),
    start,
    destroy() {
      try {
        asPostgres(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"]);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
