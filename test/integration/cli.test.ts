import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from "vitest";
import { cleanEnv, ROOT, runCli, startCli } from "../support/cli.js";
import { freshTestDatabase, usingPostgres, type TestDatabase } from "../support/db.js";

const scratch = () => mkdtempSync(join(inject("testRunDir"), "cli-"));

const pkgVersion = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

describe("command-line conventions", () => {
  it("--version prints the package version and exits 0", async () => {
    for (const flag of ["--version", "-V"]) {
      const { code, output } = await runCli([flag]);
      expect(code).toBe(0);
      expect(output.trim()).toBe(pkgVersion);
    }
  });

  it("a usage error exits 64 with the command's usage line and a pointer to --help, not the whole help", async () => {
    for (const [args, message, usage] of [
      [["audit"], /required option '--node <node>' not specified/, "Usage: xmpp-push audit [options]"],
      [["frobnicate"], /unknown command 'frobnicate'/, "Usage: xmpp-push [options] [command]"],
      [["stats", "--colour"], /unknown option '--colour'/, "Usage: xmpp-push stats [options]"],
      [["config", "check", "extra"], /too many arguments/, "Usage: xmpp-push config check [options]"],
    ] as const) {
      const { code, output } = await runCli(args);
      expect(code, args.join(" ")).toBe(64);
      expect(output).toMatch(message);
      expect(output).toContain(usage);
      expect(output).toMatch(/Run "xmpp-push.* --help" for more\./);
      expect(output).not.toMatch(/Commands:|Options:/);
    }
  }, 120_000);

  it("--help exits 0", async () => {
    const { code, output } = await runCli(["register", "--help"]);
    expect(code).toBe(0);
    expect(output).toMatch(/--token-file <path>/);
  });
});

describe("xmpp-push config schema", () => {
  it("prints the config file's JSON Schema, with the *File variants of credentials", async () => {
    const { code, output } = await runCli(["config", "schema"]);
    expect(code).toBe(0);
    const schema = JSON.parse(output) as { $schema: string; properties: { component: { properties: Record<string, unknown> } } };
    expect(schema.$schema).toMatch(/json-schema\.org/);
    expect(Object.keys(schema.properties.component.properties)).toEqual(
      expect.arrayContaining(["service", "domain", "secret", "secretFile"]),
    );
  });
});

describe("xmpp-push config check", () => {
  it("lists all three mistakes of a config file and exits with code 2, without a stack trace", async () => {
    const dir = scratch();
    const file = join(dir, "push.yaml");
    writeFileSync(
      file,
      [
        "component:",
        "  service: http://wrong",
        "http:",
        "  port: 99999",
        "apps:",
        "  - id: chat",
        "    strategy: { providers: [jpush] }",
      ].join("\n"),
    );
    const { code, output } = await runCli(["--config", file, "config", "check"]);
    expect(code).toBe(2);
    expect(output).toMatch(/Invalid configuration \(3 problems\)/);
    expect(output).toMatch(/- component\.service: must look like xmpp:\/\/host:port/);
    expect(output).toMatch(/- http\.port: /);
    expect(output).toMatch(/- apps\[0\]\.strategy\.providers\[0\]: lists jpush but the app has no jpush section/);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it("accepts a valid config and summarises it", async () => {
    const { code, output } = await runCli(["config", "check"], { env: cleanEnv({ XMPP_PUSH_COMPONENT_DOMAIN: "push.example.org" }) });
    expect(code).toBe(0);
    expect(output).toMatch(/configuration is valid: component push\.example\.org/);
  });
});

describe("xmpp-push serve", () => {
  it("starts with no configuration at all on the embedded database, waits for the XMPP server, and stops on SIGTERM within 5 s", async () => {
    const dir = scratch();
    // A port nothing listens on, so the server is certainly absent.
    const p = startCli(["serve"], { cwd: dir, env: cleanEnv({ XMPP_PUSH_COMPONENT_SERVICE: "xmpp://127.0.0.1:1" }) });
    onTestFinished(() => void p.child.kill("SIGKILL")); // never leave a server behind, even on a timeout
    await p.waitFor(/serving push\.localhost.*database embedded \.\/data/, 60_000);
    await p.waitFor(/waiting for the XMPP server/, 10_000);
    expect(existsSync(join(dir, "data", "pgdata"))).toBe(true);
    p.child.kill("SIGTERM");
    const { code, afterMs } = await p.exited(10_000);
    expect(code).toBe(0);
    // The process leaves ~1.2 s after its "stopped" line on an existing embedded data directory (measured
    // alone; 2.7 s in a loaded CI run), which a first start now is too: initdb runs in a child process.
    // Well inside the server's own 10 s shutdown watchdog and Kubernetes' 30 s grace period.
    expect(afterMs).toBeLessThan(5000);
    expect(existsSync(join(dir, "data", "xmpp-push.lock"))).toBe(false);
  }, 120_000); // the embedded database takes tens of seconds to start on a loaded 2-core machine

  it("the literal default (nothing set, component port 5347) also starts and stops", async () => {
    const dir = scratch();
    const p = startCli(["serve"], { cwd: dir, env: cleanEnv() });
    onTestFinished(() => void p.child.kill("SIGKILL"));
    await p.waitFor(/serving push\.localhost for localhost via xmpp:\/\/127\.0\.0\.1:5347/, 60_000);
    p.child.kill("SIGINT");
    expect((await p.exited(10_000)).code).toBe(0);
  }, 120_000);
});

describe("xmpp-push migrate", () => {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    if (usingPostgres()) {
      // An empty database: drop what the template put there, so migrate has work to do.
      db = await freshTestDatabase();
      for (const t of [
        "server_settings",
        "delivery_jobs",
        "deliveries",
        "registration_addresses",
        "registrations",
        "knex_migrations",
        "knex_migrations_lock",
      ]) {
        await db.knex.raw(`DROP TABLE IF EXISTS ${t} CASCADE`);
      }
      await db.close();
    }
  });
  afterAll(async () => {
    await db?.dispose();
  });
  const env = (dataDir: string) => cleanEnv(db ? { DATABASE_URL: db.location.url! } : { XMPP_PUSH_DATA_DIR: dataDir });

  it("is safe to run twice, and from two processes at once", async () => {
    const dir = scratch();
    const [a, b] = await Promise.all([
      runCli(["migrate"], { env: env(join(dir, "data")) }),
      runCli(["migrate"], { env: env(join(dir, "data")) }),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const outputs = [a.output, b.output].sort();
    // Every migration file, in order.
    const names = readdirSync(join(ROOT, "migrations"))
      .filter((f) => f.endsWith(".ts"))
      .map((f) => f.replace(/\.ts$/, ""))
      .sort();
    expect(outputs[0]).toContain(`applied ${names.length} migration(s): ${names.join(", ")}`);
    expect(outputs[1]).toMatch(/database is up to date/);
    const again = await runCli(["migrate"], { env: env(join(dir, "data")) });
    expect(again.code).toBe(0);
    expect(again.output).toMatch(/database is up to date/);
  }, 120_000);
});

describe("admin commands", () => {
  // Each command runs as its own process on one database (a copy for this test, so nothing else holds it).
  let db: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await freshTestDatabase();
    await db.close();
    env = cleanEnv(db.location.url ? { DATABASE_URL: db.location.url } : { XMPP_PUSH_DATA_DIR: db.location.dataDir });
  });
  afterAll(async () => {
    await db?.dispose();
  });
  const run = (args: string[], input?: string) => runCli(args, { env, ...(input !== undefined ? { input } : {}) });
  const TOKEN = "cd".repeat(32);

  it("register, send-test, audit, stats, unregister: the life of a device by hand", async () => {
    // The token from a file, then from stdin: never on the command line (shell history, ps).
    const tokenFile = join(scratch(), "token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    const reg = await run([
      "register",
      "--jid",
      "alice@localhost",
      "--device",
      "phone",
      "--provider",
      "apns",
      "--token-file",
      tokenFile,
      "--environment",
      "sandbox",
    ]);
    expect(reg.code).toBe(0);
    const node = /node (\S+) secret (\S+)/.exec(reg.output)![1]!;
    const again = await run(
      ["register", "--jid", "alice@localhost", "--device", "phone", "--provider", "apns", "--environment", "sandbox"],
      `${TOKEN}\n`,
    );
    expect(again.code).toBe(0);
    expect(again.output).toMatch(new RegExp(`updated: jid push\\.localhost node ${node} secret`));

    const test = await run(["send-test", "--node", node]);
    expect(test.code).toBe(0);
    expect(test.output).toMatch(/outcome: delivered/);
    expect(test.output).toMatch(/log\s+delivered\s+dry-run/);

    const audit = await run(["audit", "--node", node]);
    expect(audit.code).toBe(0);
    expect(audit.output).toMatch(new RegExp(`node ${node}: app default, alice@localhost, rest`));
    expect(audit.output).toMatch(/apns sandbox token [0-9a-f]{12}…/);
    expect(audit.output).not.toContain(TOKEN);
    expect(audit.output).toMatch(/time\s+provider\s+env\s+outcome/);
    expect(audit.output).toMatch(/log\s+delivered\s+dry-run\s+1/);

    const stats = await run(["stats"]);
    expect(stats.output).toMatch(/default\s+apns\s+1\s+1/);
    expect(stats.output).toMatch(/default\s+log\s+delivered\s+1/);
    expect(stats.output).toMatch(/queue: 0 push\(es\) waiting/);

    expect((await run(["unregister", "--node", node])).output).toMatch(`removed ${node}`);
    const missing = await run(["send-test", "--node", node]);
    expect(missing.code).toBe(64);
    expect(missing.output).toMatch(/no registration with node/);
  }, 180_000); // a dozen CLI processes, each starting tsx and opening the database

  it("purges delivery records older than a duration, and explains bad arguments", async () => {
    const purge = await run(["purge", "--older-than", "30d"]);
    expect(purge.code).toBe(0);
    expect(purge.output).toMatch(/deleted 0 delivery record\(s\) older than/);
    const bad = await run(["purge", "--older-than", "a while"]);
    expect(bad.code).toBe(64);
    expect(bad.output).toMatch(/--older-than takes a duration such as 30d/);
    const badProvider = await run(["register", "--jid", "a@localhost", "--device", "d", "--provider", "pigeon", "--token", "x"]);
    expect(badProvider.code).toBe(64);
    const noToken = await run(["register", "--jid", "a@localhost", "--device", "d", "--provider", "apns"], "");
    expect(noToken.code).toBe(64);
    expect(noToken.output).toMatch(/no device token in stdin/);
    const missingFile = await run([
      "register",
      "--jid",
      "a@localhost",
      "--device",
      "d",
      "--provider",
      "apns",
      "--token-file",
      "/nonexistent/token",
    ]);
    expect(missingFile.code).toBe(64);
    expect(missingFile.output).toMatch(/--token-file: cannot read \/nonexistent\/token \(ENOENT\)/);
    const audit = await run(["audit"]);
    expect(audit.code).toBe(64);
    expect(audit.output).toMatch(/required option '--node <node>' not specified/);
  }, 180_000);
});
