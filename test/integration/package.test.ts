import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, inject, it } from "vitest";
import { cleanEnv, ROOT } from "../support/cli.js";

// What `npm pack` produces is what users install: pack it (prepack builds dist/), install the tarball
// into an empty directory with its production dependencies, and run the installed binary.
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string };

it("npm pack builds a package that installs and runs: --version, config check, config schema", async () => {
  const dir = mkdtempSync(join(inject("testRunDir"), "pack-"));
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", dir], {
    cwd: ROOT,
    timeout: 240_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const paths = packed!.files.map((f) => f.path);
  expect(paths).toContain("dist/src/cli/main.js");
  expect(paths.some((p) => p.startsWith("dist/migrations/"))).toBe(true);
  expect(paths.filter((p) => p.startsWith("src/") || p.startsWith("test/") || p.startsWith("dist/test/"))).toEqual([]);

  const app = join(dir, "app");
  mkdirSync(app);
  await run(
    "npm",
    [
      "install",
      "--prefix",
      app,
      "--omit=dev",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      join(dir, packed!.filename),
    ],
    {
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  expect(readdirSync(join(app, "node_modules"))).toContain(pkg.name);
  const bin = join(app, "node_modules", ".bin", "xmpp-push");
  const env = cleanEnv({ XMPP_PUSH_COMPONENT_DOMAIN: "push.example.org" });

  const version = await run(bin, ["--version"], { env, cwd: app, timeout: 30_000 });
  expect(version.stdout.trim()).toBe(pkg.version);
  const check = await run(bin, ["config", "check"], { env, cwd: app, timeout: 30_000 });
  expect(check.stdout).toMatch(/configuration is valid: component push\.example\.org/);
  const schema = JSON.parse((await run(bin, ["config", "schema"], { env, cwd: app, timeout: 30_000 })).stdout) as { properties: object };
  expect(Object.keys(schema.properties)).toContain("apps");
}, 600_000);
