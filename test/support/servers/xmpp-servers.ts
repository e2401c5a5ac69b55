import { execFile } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { isAbsolute, join } from "node:path";
import { waitFor } from "../wait-for.js";

// Private, loopback-only Prosody 0.12 / ejabberd 23.01 instances for integration tests, started by the
// shell scripts next to this file (test/support/servers/{prosody,ejabberd}/start.sh). Each instance has
// its own run dir and ports, so test files running in parallel workers do not share a server.

export interface XmppServer {
  readonly kind: "prosody" | "ejabberd";
  readonly domain: "localhost";
  readonly c2sPort: number;
  readonly componentPort: number;
  readonly componentDomain: string;
  readonly componentSecret: string;
  /** "xmpp://127.0.0.1:<componentPort>", the form our config and @xmpp/component-core take. */
  readonly componentService: string;
  readonly runDir: string;
  users: { name: string; password: string }[];
  /** Stop + start keeping the state: users, offline messages, push registrations. */
  restart(): Promise<void>;
  /** Idempotent. */
  stop(): Promise<void>;
  /** The server's log file(s), for assertions and debugging. */
  logText(): string;
  /** The server's process id while it runs (for CPU and memory readings). */
  pid(): number | undefined;
}

export interface StartOptions {
  runDir: string;
  componentDomain?: string;
  componentSecret?: string;
  /** Prosody push_max_errors (mod_cloud_notify default 16). */
  maxErrors?: number;
  /** Prosody smacks_hibernation_time in seconds (mod_smacks default 600). */
  hibernationSeconds?: number;
  /** Prosody push_notification_with_body / ejabberd mod_push include_body. */
  withBody?: boolean;
  /** Prosody push_notification_with_sender / ejabberd mod_push include_sender. */
  withSender?: boolean;
  /** More users besides alice and bob; each gets the password "<name>-pass". */
  extraUsers?: string[];
  /** Prosody: a second component, the benchmark's load generator (it publishes for the users at its domain). */
  loadComponent?: { domain: string; secret: string };
  /** Prosody: "warn" or "info" drops the debug log (a benchmark measures routing, not logging). */
  logLevel?: "debug" | "info" | "warn";
  /** Prosody network_settings.nagle (Prosody's default: true, which holds small writes; see start.sh). */
  nagle?: boolean;
}

const SCRIPTS_DIR = import.meta.dirname;

// ejabberd boots in ~2-4 s plus ~1.5 s of ejabberdctl calls; the margin is for a loaded CI machine.
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 40_000;
const PORT_CHECK_TIMEOUT_MS = 10_000;

// Servers run in their own session (setsid / -detached) and would outlive a test worker that never
// reached its stop(): on the worker's exit, SIGTERM the ones this process started and did not stop.
const leftRunning = new Set<number>();
process.once("exit", () => {
  for (const pid of leftRunning) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
});

interface Ports {
  c2s: number;
  component: number;
  dist: number;
}

interface Flavour {
  readonly kind: XmppServer["kind"];
  /** Environment for start.sh (ports, options, users); stop.sh only needs the run dir. */
  env(opts: StartOptions & { componentDomain: string; componentSecret: string }, ports: Ports, users: string): Record<string, string>;
  runDirEnv: string;
  keepStateEnv: string;
  logFiles: string[];
}

const prosody: Flavour = {
  kind: "prosody",
  runDirEnv: "PH_RUN_DIR",
  keepStateEnv: "PH_KEEP_STATE",
  // The debug log is a superset of the info log; mod_cloud_notify reports reply handling at debug.
  logFiles: ["prosody-debug.log", "prosody.stdout"],
  env: (o, ports, users) => ({
    PH_RUN_DIR: o.runDir,
    PH_C2S_PORT: String(ports.c2s),
    PH_COMPONENT_PORT: String(ports.component),
    PH_COMPONENT_JID: o.componentDomain,
    PH_COMPONENT_SECRET: o.componentSecret,
    PH_USERS: users,
    ...(o.maxErrors !== undefined && { PH_MAX_ERRORS: String(o.maxErrors) }),
    ...(o.hibernationSeconds !== undefined && { PH_HIBERNATION_TIME: String(o.hibernationSeconds) }),
    ...(o.withBody !== undefined && { PH_WITH_BODY: String(o.withBody) }),
    ...(o.withSender !== undefined && { PH_WITH_SENDER: String(o.withSender) }),
    ...(o.loadComponent !== undefined && {
      PH_LOAD_COMPONENT_JID: o.loadComponent.domain,
      PH_LOAD_COMPONENT_SECRET: o.loadComponent.secret,
    }),
    ...(o.logLevel !== undefined && { PH_LOG_LEVEL: o.logLevel }),
    ...(o.nagle !== undefined && { PH_NAGLE: String(o.nagle) }),
  }),
};

const ejabberd: Flavour = {
  kind: "ejabberd",
  runDirEnv: "EJH_RUN_DIR",
  keepStateEnv: "EJH_KEEP_STATE",
  logFiles: ["logs/ejabberd.log", "logs/crash.log"],
  env: (o, ports, users) => ({
    EJH_RUN_DIR: o.runDir,
    EJH_C2S_PORT: String(ports.c2s),
    EJH_COMPONENT_PORT: String(ports.component),
    EJH_DIST_PORT: String(ports.dist),
    EJH_COMPONENT_JID: o.componentDomain,
    EJH_COMPONENT_SECRET: o.componentSecret,
    EJH_USERS: users,
    ...(o.withBody !== undefined && { EJH_INCLUDE_BODY: String(o.withBody) }),
    ...(o.withSender !== undefined && { EJH_INCLUDE_SENDER: String(o.withSender) }),
  }),
};

export function startProsody(opts: StartOptions): Promise<XmppServer> {
  return startServer(prosody, opts);
}

export function startEjabberd(opts: StartOptions): Promise<XmppServer> {
  return startServer(ejabberd, opts);
}

/** A port that was free a moment ago (listen on 127.0.0.1:0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error(`freePort: unexpected address ${String(addr)}`))));
    });
  });
}

async function startServer(flavour: Flavour, opts: StartOptions): Promise<XmppServer> {
  if (!isAbsolute(opts.runDir)) throw new Error(`runDir must be absolute: ${opts.runDir}`);
  mkdirSync(opts.runDir, { recursive: true });
  const o = {
    ...opts,
    componentDomain: opts.componentDomain ?? "push.localhost",
    componentSecret: opts.componentSecret ?? "harness-secret",
  };
  const users = [
    { name: "alice", password: "alice-pass" },
    { name: "bob", password: "bob-pass" },
    ...(opts.extraUsers ?? []).map((name) => ({ name, password: `${name}-pass` })),
  ];
  for (const u of users) {
    if (!/^[a-z0-9._-]+$/i.test(u.name)) throw new Error(`user name not usable by the start scripts: ${u.name}`);
  }
  const userList = users.map((u) => `${u.name}:${u.password}`).join(" ");
  const script = (name: "start" | "stop") => join(SCRIPTS_DIR, flavour.kind, `${name}.sh`);
  const stopEnv = { [flavour.runDirEnv]: o.runDir };

  let pid: number | undefined;
  const startWith = async (ports: Ports, keepState: boolean): Promise<void> => {
    const env = { ...flavour.env(o, ports, userList), ...(keepState && { [flavour.keepStateEnv]: "1" }) };
    const output = await runScript(script("start"), env, START_TIMEOUT_MS);
    const printed = /^(?:PROSODY|EJABBERD)_PID=(\d+)$/m.exec(output)?.[1];
    pid = printed === undefined ? undefined : Number(printed);
    if (pid !== undefined) leftRunning.add(pid);
    await Promise.all([waitForPort(ports.c2s), waitForPort(ports.component)]);
  };

  // A port freePort() handed out can be taken before the server binds it (two workers starting at
  // once): the scripts fail fast in that case, and one retry with fresh ports is enough.
  let ports = await pickPorts();
  try {
    await startWith(ports, false);
  } catch (first) {
    await runScript(script("stop"), stopEnv, STOP_TIMEOUT_MS).catch(() => undefined);
    ports = await pickPorts();
    try {
      await startWith(ports, false);
    } catch (second) {
      await runScript(script("stop"), stopEnv, STOP_TIMEOUT_MS).catch(() => undefined);
      throw new Error(`${flavour.kind} did not start (twice, with fresh ports):\n${errorText(first)}\n---- retry:\n${errorText(second)}`, {
        cause: second,
      });
    }
  }

  let running = true;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    if (!running) return Promise.resolve();
    stopping ??= runScript(script("stop"), stopEnv, STOP_TIMEOUT_MS)
      .then(() => {
        running = false;
        if (pid !== undefined) leftRunning.delete(pid);
      })
      .finally(() => (stopping = undefined));
    return stopping;
  };
  return {
    kind: flavour.kind,
    domain: "localhost",
    c2sPort: ports.c2s,
    componentPort: ports.component,
    componentDomain: o.componentDomain,
    componentSecret: o.componentSecret,
    componentService: `xmpp://127.0.0.1:${ports.component}`,
    runDir: o.runDir,
    users,
    async restart() {
      await stop();
      // Before the start, so that stop() still cleans up after a start that failed half-way.
      running = true;
      await startWith(ports, true);
    },
    stop,
    logText: () => flavour.logFiles.map((f) => readIfExists(join(o.runDir, f))).join(""),
    pid: () => (running ? pid : undefined),
  };
}

async function pickPorts(): Promise<Ports> {
  // Sequential, not Promise.all: parallel listen(0) calls could be handed the same port after a close.
  const c2s = await freePort();
  const component = await freePort();
  const dist = await freePort();
  if (new Set([c2s, component, dist]).size !== 3) return pickPorts();
  return { c2s, component, dist };
}

function runScript(path: string, env: Record<string, string>, timeoutMs: number): Promise<string> {
  // Knobs exported in the developer's shell (PH_WITH_BODY=...) must not change what a test gets.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PH|EJH)_/.test(k)));
  return new Promise((resolve, reject) => {
    execFile(
      "bash",
      [path],
      { env: { ...inherited, ...env }, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? `timed out after ${timeoutMs} ms` : `exit code ${String(err.code)}`;
          reject(new Error(`${path}: ${why}\n${stdout}${stderr}`));
        } else {
          resolve(stdout + stderr);
        }
      },
    );
  });
}

/** The scripts already wait for the listening sockets; this proves a client can really connect. */
async function waitForPort(port: number): Promise<void> {
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const sock = connect({ host: "127.0.0.1", port });
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false));
      sock.once("connect", () => done(true));
      sock.once("error", () => done(false));
    });
  await waitFor(`127.0.0.1:${port} to accept connections`, accepts, PORT_CHECK_TIMEOUT_MS);
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
