import { Command, CommanderError } from "commander";
import type { Config } from "./config/config-schema.js";
import { ConfigError, loadConfig, redactedConfig } from "./config/load-config.js";
import { createLogger } from "./observability/logger.js";
import { createServer } from "./main.js";
import { openDatabase } from "./store/database.js";
import { migrateLatest } from "./store/migrate.js";

// argv → command. Each command loads the config, does one thing and sets the exit code; no logic lives here.

const EXIT_CONFIG = 2;

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
      process.exit(1);
    }, 10_000).unref();
    stopping = server.stop().then(
      () => log.info("stopped"),
      (err: unknown) => {
        log.error({ err }, "error while stopping");
        process.exitCode = 1;
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
    process.stdout.write(applied.length > 0 ? `applied ${applied.length} migration(s): ${applied.join(", ")}\n` : "database is up to date\n");
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
    .option("-c, --config <path>", "YAML or JSON config file (default: $XMPP_PUSH_CONFIG)")
    .showHelpAfterError()
    .exitOverride();

  program.command("serve").description("run the push server").action((_o, cmd: Command) => serve(cmd));
  program.command("migrate").description("apply pending database migrations").action((_o, cmd: Command) => migrate(cmd));
  program
    .command("config")
    .description("configuration tools")
    .command("check")
    .description("validate the configuration and print a summary")
    .option("--print", "also print the effective configuration, credentials redacted")
    .action((o: { print?: boolean }, cmd: Command) => configCheck(cmd, o.print === true));
  return program;
}

export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await buildCli().parseAsync([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
    } else if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = EXIT_CONFIG;
    } else {
      // Operators get a sentence, not a stack trace.
      process.stderr.write(`xmpp-push: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}

