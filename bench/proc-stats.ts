import { readdirSync, readFileSync } from "node:fs";
import type { Knex } from "knex";

// RSS and CPU of another process, sampled from /proc (Linux).

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux x86-64

export interface ProcSample {
  readonly at: number;
  readonly rssMb: number;
  /** The private part of RSS (RssAnon: heap, buffers, WebAssembly memory); the rest is file pages such as Node's own code, shared. */
  readonly rssAnonMb: number;
  /** user + system CPU seconds since the process started. */
  readonly cpuSeconds: number;
}

export function sampleProcess(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const anonKb = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { at: Date.now(), rssMb: rssKb / 1024, rssAnonMb: anonKb / 1024, cpuSeconds: (utime + stime) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/** The highest RSS the process has had since it started (VmHWM), in MB: catches peaks between samples. */
export function peakRssMb(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/** Samples every intervalMs until stopped; reports max RSS and the CPU share over the window. */
export function watchProcess(pid: number, intervalMs = 250) {
  const samples: ProcSample[] = [];
  const first = sampleProcess(pid);
  if (first) samples.push(first);
  const timer = setInterval(() => {
    const s = sampleProcess(pid);
    if (s) samples.push(s);
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const last = sampleProcess(pid) ?? samples[samples.length - 1];
      if (last) samples.push(last);
      const a = samples[0];
      const b = samples[samples.length - 1];
      const cpuPercent = a && b && b.at > a.at ? ((b.cpuSeconds - a.cpuSeconds) / ((b.at - a.at) / 1000)) * 100 : 0;
      return {
        maxRssMb: Math.max(0, ...samples.map((s) => s.rssMb)),
        maxRssAnonMb: Math.max(0, ...samples.map((s) => s.rssAnonMb)),
        cpuPercent,
      };
    },
  };
}

/** The data directory of the Postgres server behind knex: only that server's processes are the bench's. */
export async function postgresDataDirectory(knex: Knex): Promise<string> {
  return String(((await knex.raw("SHOW data_directory")) as { rows: Array<{ data_directory: string }> }).rows[0]?.data_directory);
}

/**
 * The processes of one Postgres server: its postmaster (from postmaster.pid in its data directory) and
 * the postmaster's children (backends, background workers). Without a readable data directory, every
 * process named postgres on this machine.
 */
export function postgresPids(dataDirectory?: string): number[] {
  const postmaster = dataDirectory === undefined ? undefined : postmasterOf(dataDirectory);
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (postmaster !== undefined) {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        if (Number(entry) === postmaster || ppid === postmaster) pids.push(Number(entry));
      } else if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres") {
        pids.push(Number(entry));
      }
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function postmasterOf(dataDirectory: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${dataDirectory}/postmaster.pid`, "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by each of the processes (a process that has exited counts as absent). */
export function cpuSecondsByPid(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const s = sampleProcess(pid);
    if (s) out.set(pid, s.cpuSeconds);
  }
  return out;
}

/** CPU seconds the processes used between two readings; a process new since `before` counts from 0. */
export function cpuSecondsBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let sum = 0;
  for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? 0);
  return sum;
}
