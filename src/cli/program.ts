import { Command, CommanderError } from "commander";
import { readDeviceToken } from "./device-token.js";
import { EXIT_CONFIG, EXIT_FAILURE, EXIT_USAGE } from "./exit-codes.js";
import { configJsonSchema } from "../config/config-json-schema.js";
import type { Config } from "../config/config-schema.js";
import { ConfigError, loadConfig, redactedConfig } from "../config/load-config.js";
import { PACKAGE_VERSION } from "../observability/build-info.js";
import { createLogger } from "../observability/logger.js";
import {
  auditCommand,
  purgeCommand,
  registerCommand,
  sendTestCommand,
  statsCommand,
  unregisterCommand,
  UsageError,
} from "./admin-commands.js";
import { rotateKeyCommand } from "./rotate-key-command.js";
import { systemClock } from "../ports/clock.js";
import { createServer } from "../main.js";
import { openDatabase } from "../store/database.js";
import { migrateLatest } from "../store/migrate.js";

// argv → command. Each command loads the config, does one thing and sets the exit code; no logic lives here.

function positiveInt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} takes a positive whole number`);
  return n;
}

function configFrom(cmd: Command): Config {
  const opts = cmd.optsWithGlobals<{ config?: string }>();
  return loadConfig(opts.config !== undefined ? { file: opts.config } : {});
}

async function serve(cmd: Command): Promise<void> {
  const config = configFrom(cmd);
  const log = createLogger({ level: config.log.level });
  const server = await createServer(config, { log });
  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) => {
    if (stopping) return;
    log.info({ signal }, "shutting down");
    // A stuck close must not keep the process alive forever.
    setTimeout(() => {
      log.error("shutdown took too long; exiting");
      process.exit(EXIT_FAILURE);
    }, 10_000).unref();
    stopping = server.stop().then(
      () => log.info("stopped"),
      (err: unknown) => {
        log.error({ err }, "error while stopping");
        process.exitCode = EXIT_FAILURE;
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
  await server.start();
}

async function migrate(cmd: Command): Promise<void> {
  const config = configFrom(cmd);
  const db = await openDatabase({ ...config.database, lockWaitMs: 60_000 });
  try {
    const applied = await migrateLatest(db);
    process.stdout.write(
      applied.length > 0 ? `applied ${applied.length} migration(s): ${applied.join(", ")}\n` : "database is up to date\n",
    );
  } finally {
    await db.close();
  }
}

function configCheck(cmd: Command, print: boolean): void {
  const config = configFrom(cmd);
  process.stdout.write(
    `configuration is valid: component ${config.component.domain} via ${config.component.service}, ` +
      `${config.apps.length} app(s): ${config.apps.map((a) => `${a.id} (${a.strategy.providers.join(" > ")}, ${a.strategy.mode})`).join(", ")}\n`,
  );
  if (print) process.stdout.write(`${JSON.stringify(redactedConfig(config), null, 2)}\n`);
}

export function buildCli(): Command {
  const program = new Command("xmpp-push")
    .description("XEP-0357 push app server: wakes phones through APNs, JPush and FCM")
    .version(PACKAGE_VERSION, "-V, --version", "print the version and exit")
    .option("-c, --config <path>", "YAML or JSON config file (default: $XMPP_PUSH_CONFIG)")
    .exitOverride();

  program
    .command("serve")
    .description("run the push server")
    .action((_o, cmd: Command) => serve(cmd));
  program
    .command("migrate")
    .description("apply pending database migrations")
    .action((_o, cmd: Command) => migrate(cmd));
  const out = (text: string) => process.stdout.write(`${text}\n`);
  // The CLI's entry: the one place its commands get their clock.
  const clock = systemClock;
  program
    .command("audit")
    .description("a device's recent delivery attempts: why did my phone not ring?")
    .requiredOption("--node <node>", "the registration's XEP-0357 node")
    .option("--limit <n>", "how many attempts", (v) => positiveInt(v, "--limit"), 50)
    .option("--since <duration>", "only attempts newer than this, e.g. 1h, 7d")
    .action((o: { node: string; limit: number; since?: string }, cmd: Command) => auditCommand(configFrom(cmd), o, out, clock));
  program
    .command("purge")
    .description("delete delivery records older than a duration")
    .requiredOption("--older-than <duration>", "e.g. 30d")
    .action((o: { olderThan: string }, cmd: Command) => purgeCommand(configFrom(cmd), o, out, clock));
  program
    .command("stats")
    .description("registrations, recent delivery outcomes and queue depth")
    .action((_o, cmd: Command) => statsCommand(configFrom(cmd), out, clock));
  program
    .command("register")
    .description("register a device by hand (prints node and secret); the device token comes from --token-file or stdin")
    .requiredOption("--jid <jid>", "the account's bare JID")
    .requiredOption("--device <id>", "a stable device id")
    .requiredOption("--provider <provider>", "apns, jpush or fcm")
    .option("--token-file <path>", "file holding the provider's device token (- for stdin; default: stdin when it is not a terminal)")
    .option("--token <token>", "the token on the command line (lands in shell history and ps: prefer --token-file)")
    .option("--app <app>", "app id (default: the default app)")
    .option("--environment <env>", "APNs environment: sandbox or production")
    .option("--voip-token <token>", "PushKit token for call pushes")
    .action(
      async (
        o: {
          jid: string;
          device: string;
          provider: string;
          token?: string;
          tokenFile?: string;
          app?: string;
          environment?: string;
          voipToken?: string;
        },
        cmd: Command,
      ) => {
        const token = await readDeviceToken({ token: o.token, tokenFile: o.tokenFile, stdin: process.stdin });
        await registerCommand(configFrom(cmd), { ...o, token }, out);
      },
    );
  program
    .command("unregister")
    .description("remove a registration")
    .requiredOption("--node <node>", "the registration's node")
    .action((o: { node: string }, cmd: Command) => unregisterCommand(configFrom(cmd), o, out));
  program
    .command("send-test")
    .description("send a real push to a registration through the whole pipeline and print the outcome")
    .requiredOption("--node <node>", "the registration's node")
    .option("--body <text>", "message text (shown only when the app includes message content)")
    .action(async (o: { node: string; body?: string }, cmd: Command) => {
      process.exitCode = await sendTestCommand(configFrom(cmd), o, out, clock);
    });
  program
    .command("rotate-key")
    .description("re-encrypt every device token with tokenEncryptionKey (old rows read with tokenEncryptionPreviousKey)")
    .option("--batch-size <n>", "rows per transaction", (v) => positiveInt(v, "--batch-size"), 500)
    .action(async (o: { batchSize: number }, cmd: Command) => {
      process.exitCode = await rotateKeyCommand(configFrom(cmd), o, out);
    });
  const config = program.command("config").description("configuration tools");
  config
    .command("check")
    .description("validate the configuration and print a summary")
    .option("--print", "also print the effective configuration, credentials redacted")
    .action((o: { print?: boolean }, cmd: Command) => configCheck(cmd, o.print === true));
  config
    .command("schema")
    .description("print the JSON Schema of the config file (for editors and CI checks)")
    .action(() => {
      out(JSON.stringify(configJsonSchema(), null, 2));
    });
  withShortUsageOnError(program);
  return program;
}

/**
 * A usage error prints the command's usage line and where to read more, not the whole help (commander's
 * showHelpAfterError takes a fixed text: each command gets its own, once all its options exist).
 */
function withShortUsageOnError(cmd: Command): void {
  const path: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c.name());
  cmd.showHelpAfterError(`Usage: ${path.join(" ")} ${cmd.usage()}\nRun "${path.join(" ")} --help" for more.`);
  for (const sub of cmd.commands) withShortUsageOnError(sub);
}

// Exit codes (README "Commands"): 0 done; 1 runtime failure; 2 invalid configuration; 64 usage error.
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await buildCli().parseAsync([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with 0; every complaint of commander's is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    } else if (err instanceof UsageError) {
      process.stderr.write(`xmpp-push: ${err.message}\nRun "xmpp-push --help" for usage.\n`);
      process.exitCode = EXIT_USAGE;
    } else if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = EXIT_CONFIG;
    } else {
      // Operators get a sentence, not a stack trace.
      process.stderr.write(`xmpp-push: ${(err as Error).message}\n`);
      process.exitCode = EXIT_FAILURE;
    }
  }
}
