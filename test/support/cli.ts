import { spawn, type ChildProcess } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const ROOT = resolve(import.meta.dirname, "../..");
const TSX_LOADER = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
const CLI = join(ROOT, "src/cli/main.ts");

/** The parent's environment without anything that would configure the server under test. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("XMPP_PUSH_") && k !== "DATABASE_URL") env[k] = v;
  }
  return { ...env, ...extra };
}

export interface CliProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the first output line matching, or rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; afterMs: number }>;
}

/** Starts `xmpp-push <args>` from the TypeScript sources, as a separate process. */
export function startCli(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; input?: string } = {},
): CliProcess {
  const child = spawn(process.execPath, ["--import", TSX_LOADER, CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? cleanEnv(),
    // stdin: what the test pipes in, else nothing (an empty, non-terminal stdin).
    stdio: [options.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  let out = "";
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const onData = (chunk: Buffer) => {
    out += chunk.toString("utf8");
    for (const w of [...waiters]) {
      const line = out.split("\n").find((l) => w.pattern.test(l));
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((res) =>
    child.on("exit", (code, signal) => res({ code, signal, at: Date.now() })),
  );
  return {
    child,
    output: () => out,
    waitFor(pattern, timeoutMs = 30_000) {
      const line = out.split("\n").find((l) => pattern.test(l));
      if (line !== undefined) return Promise.resolve(line);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
        waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), res(l)) });
        void exit.then(() => setTimeout(() => rej(new Error(`process exited before ${pattern}; output:\n${out}`)), 50));
      });
    },
    async exited(timeoutMs = 30_000) {
      const started = Date.now();
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const { code, signal, at } = await exit;
      clearTimeout(timer);
      return { code, signal, afterMs: at - started };
    },
  };
}

export async function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; input?: string } = {},
) {
  const p = startCli(args, options);
  const { code } = await p.exited(options.timeoutMs ?? 60_000);
  return { code, output: p.output() };
}
