import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { join, posix } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PRODUCTION_NODE_FLAGS, PRODUCTION_NODE_OPTIONS } from "../../support/app-process.js";

// Static checks of the Dockerfile: this machine has a docker client but no engine, so the image cannot be
// built here. What can be checked is checked for real: the instructions, that the ENTRYPOINT is the file
// `npm run build` produces, that the build context lets through what the Dockerfile copies, and the
// HEALTHCHECK command itself, run against a local HTTP server.

const root = fileURLToPath(new URL("../../../", import.meta.url));
const read = (p: string) => readFileSync(join(root, p), "utf8");
const pkg = JSON.parse(read("package.json")) as { version: string; license: string; bin: Record<string, string> };

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly stage: number;
}

/** Dockerfile → instructions (line continuations joined, comment lines dropped), each with its stage index. */
function parseDockerfile(text: string): { instructions: Instruction[]; stages: { image: string; name?: string }[] } {
  const logical: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#") || (line === "" && current === "")) continue;
    if (line.endsWith("\\")) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    current += line;
    if (current.trim() !== "") logical.push(current.trim());
    current = "";
  }
  const globalArgs = new Map<string, string>();
  const stages: { image: string; name?: string }[] = [];
  const instructions: Instruction[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === "ARG" && stages.length === 0) {
      const [k, v = ""] = args.split("=", 2);
      globalArgs.set(k!.trim(), v.replace(/^"|"$/g, ""));
    }
    if (op === "FROM") {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      const image = f[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_s, a?: string, b?: string) => globalArgs.get((a ?? b)!) ?? "");
      stages.push(f[2] !== undefined ? { image, name: f[2] } : { image });
    }
    instructions.push({ op, args, stage: stages.length - 1 });
  }
  return { instructions, stages };
}

const dockerfile = read("Dockerfile");
const { instructions, stages } = parseDockerfile(dockerfile);
const last = stages.length - 1;
const inStage = (stage: number, op: string) => instructions.filter((i) => i.stage === stage && i.op === op).map((i) => i.args);
const runtime = (op: string) => inStage(last, op);
const jsonArgs = (args: string) => JSON.parse(args) as string[];

/** The names the server accepts from the environment, from src/config/load-config.ts. */
function knownAppEnv(): Set<string> {
  const src = read("src/config/load-config.ts");
  const names = new Set<string>(["XMPP_PUSH_CONFIG"]);
  for (const m of src.matchAll(/\{\s*name:\s*"([A-Z0-9_]+)"[^}]*?\}/g)) {
    names.add(m[1]!);
    if (/secret:\s*true/.test(m[0])) names.add(`${m[1]!}_FILE`);
  }
  return names;
}

describe("Dockerfile", () => {
  it("is multi-stage, every stage on node:24 (bookworm-slim) pinned by digest", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) expect(s.image).toMatch(/^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
    expect(stages.filter((s) => s.name !== undefined).map((s) => s.name)).toContain("build");
  });

  it("builds with npm ci + npm run build, and installs production dependencies without dev ones", () => {
    const build = stages.findIndex((s) => s.name === "build");
    const buildRuns = inStage(build, "RUN").join("\n");
    expect(buildRuns).toMatch(/\bnpm ci\b/);
    expect(buildRuns).toMatch(/\bnpm run build\b/);
    // Either a separate `npm ci --omit=dev` stage or `npm prune --omit=dev` after the build.
    const allRuns = instructions
      .filter((i) => i.op === "RUN")
      .map((i) => i.args)
      .join("\n");
    expect(allRuns).toMatch(/npm (ci|prune)\b[^\n]*--omit=dev/);
    // The runtime stage installs nothing with npm: it only copies.
    expect(runtime("RUN").join("\n")).not.toMatch(/\bnpm (ci|install|i)\b/);
  });

  it("gives the runtime stage only dist/, production node_modules and package.json, in /app", () => {
    expect(runtime("WORKDIR")).toEqual(["/app"]);
    const copies = runtime("COPY");
    const fromStage = (what: string) => copies.find((c) => c.startsWith("--from=") && c.includes(what));
    expect(fromStage("/dist")).toBeDefined();
    expect(fromStage("/node_modules")).toBeDefined();
    // node_modules comes from a stage that omitted dev dependencies.
    const nm = /--from=(\S+)/.exec(fromStage("/node_modules")!)![1]!;
    const nmStage = stages.findIndex((s) => s.name === nm);
    expect(nmStage).toBeGreaterThanOrEqual(0);
    expect(inStage(nmStage, "RUN").join("\n")).toMatch(/--omit=dev/);
    // package.json ("type": "module") so that Node loads dist/ as ES modules.
    expect(copies.some((c) => /(^|\s)package\.json(\s|$)/.test(c))).toBe(true);
    expect(JSON.parse(read("package.json")).type).toBe("module");
    // Nothing else: no sources, no tests, no whole-context copy.
    for (const c of copies) expect(c).not.toMatch(/^\.\s|\s\.\s+\.|(^|\s)(src|test)\b/);
  });

  it("runs as a numeric non-root user that owns the data volume", () => {
    const users = runtime("USER");
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.split(":");
    expect(uid).toMatch(/^\d+$/); // numeric, so Kubernetes' runAsNonRoot can verify it
    expect(Number(uid)).toBeGreaterThan(0);
    expect(runtime("RUN").join("\n")).toContain(`chown ${uid}:${gid ?? uid} /var/lib/xmpp-push`);
    expect(runtime("VOLUME").join(" ")).toContain("/var/lib/xmpp-push");
    // The USER instruction comes after the steps that need root.
    const runtimeOps = instructions.filter((i) => i.stage === last).map((i) => i.op);
    expect(runtimeOps.lastIndexOf("RUN")).toBeLessThan(runtimeOps.indexOf("USER"));
  });

  it("sets the production environment with variables the server knows", () => {
    const env = runtime("ENV").join(" ");
    const pairs = new Map([...env.matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, "")]));
    expect(pairs.get("NODE_ENV")).toBe("production");
    expect(pairs.get("XMPP_PUSH_HTTP_HOST")).toBe("0.0.0.0");
    expect(pairs.get("XMPP_PUSH_DATA_DIR")).toBe("/var/lib/xmpp-push");
    // The heap cap the benchmark measures (bench/bench.ts runs the server with the same flag).
    expect(pairs.get("NODE_OPTIONS")).toBe(PRODUCTION_NODE_OPTIONS);
    const known = knownAppEnv();
    for (const name of pairs.keys()) if (name !== "NODE_ENV" && name !== "NODE_OPTIONS") expect(known, name).toContain(name);
  });

  it("exposes 8080, the server's default HTTP port", () => {
    expect(runtime("EXPOSE")).toEqual(["8080"]);
    expect(read("src/config/config-schema.ts")).toMatch(/port: [^\n]*\.default\(8080\)/);
  });

  it("starts the file `npm run build` produces: ENTRYPOINT node --liftoff-only --single-threaded-gc /app/dist/src/cli/main.js, CMD serve", () => {
    // The flags NODE_OPTIONS cannot carry, the same the benchmark and `npm start` run with.
    expect(runtime("ENTRYPOINT").map(jsonArgs)).toEqual([["node", ...PRODUCTION_NODE_FLAGS, "/app/dist/src/cli/main.js"]]);
    expect(runtime("CMD").map(jsonArgs)).toEqual([["serve"]]);
    // The package's bin is the same file, relative to /app.
    expect(posix.join("/app", pkg.bin["xmpp-push"]!)).toBe("/app/dist/src/cli/main.js");
    // tsc maps src/cli/main.ts to <outDir>/<path relative to rootDir>.js; the build config compiles src/.
    const ts = JSON.parse(read("tsconfig.json")) as { compilerOptions: { outDir: string; rootDir: string } };
    const tsBuild = JSON.parse(read("tsconfig.build.json")) as { extends: string; include: string[] };
    expect(tsBuild.extends).toBe("./tsconfig.json");
    expect(tsBuild.include).toEqual(expect.arrayContaining(["src", "migrations"]));
    expect(existsSync(join(root, "src/cli/main.ts"))).toBe(true);
    const out = posix
      .join(ts.compilerOptions.outDir, posix.relative(ts.compilerOptions.rootDir, "src/cli/main.ts"))
      .replace(/\.ts$/, ".js");
    expect(out).toBe(pkg.bin["xmpp-push"]);
    expect(read("package.json")).toMatch(/"build":\s*"tsc -p tsconfig.build.json"/);
    // The build stage fails early if that file is missing.
    expect(dockerfile).toContain("test -f dist/src/cli/main.js");
  });

  it("carries OCI labels matching package.json", () => {
    const labels = runtime("LABEL").join(" ");
    for (const l of ["title", "description", "licenses", "version", "revision", "source"]) {
      expect(labels).toContain(`org.opencontainers.image.${l}=`);
    }
    expect(labels).toContain(`org.opencontainers.image.licenses="${pkg.license}"`);
    expect(dockerfile).toMatch(new RegExp(`ARG VERSION=${pkg.version.replace(/\./g, "\\.")}\\b`));
  });

  describe("HEALTHCHECK", () => {
    const hc = runtime("HEALTHCHECK");
    const cmd = jsonArgs(/CMD\s+(\[.*\])$/.exec(hc[0] ?? "")?.[1] ?? "[]");
    // Two local servers: one healthy, one answering 503.
    const servers: Server[] = [];
    const ports: Record<"ok" | "failing", number> = { ok: 0, failing: 0 };
    beforeAll(async () => {
      for (const [kind, status] of [
        ["ok", 200],
        ["failing", 503],
      ] as const) {
        const server = createServer((req, res) => {
          res.statusCode = req.url === "/healthz" ? status : 404;
          res.end();
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        servers.push(server);
        ports[kind] = (server.address() as AddressInfo).port;
      }
    });
    afterAll(() => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))));

    const run = async (env: Record<string, string>): Promise<number> => {
      try {
        await promisify(execFile)(process.execPath, cmd.slice(1), { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 10_000 });
        return 0;
      } catch (err) {
        return (err as { code?: number }).code ?? -1;
      }
    };

    it("is one exec-form command run by node itself (no curl in the slim image)", () => {
      expect(hc).toHaveLength(1);
      expect(hc[0]).toMatch(/--interval=\d+s/);
      expect(hc[0]).toMatch(/--timeout=\d+s/);
      expect(cmd[0]).toBe("node");
      expect(cmd[1]).toBe("-e");
      expect(cmd[2]).toContain("/healthz");
      expect(cmd[2]).toContain("XMPP_PUSH_HTTP_PORT");
    });

    it("exits 0 when /healthz answers 200 on XMPP_PUSH_HTTP_PORT, 1 when it fails or nobody listens", async () => {
      const [ok, failing, nobody] = await Promise.all([
        run({ XMPP_PUSH_HTTP_PORT: String(ports.ok) }),
        run({ XMPP_PUSH_HTTP_PORT: String(ports.failing) }),
        run({ XMPP_PUSH_HTTP_PORT: "1" }), // nothing listens on port 1
      ]);
      expect([ok, failing, nobody]).toEqual([0, 1, 1]);
    });
  });
});

/** .dockerignore semantics for the patterns we use: last matching rule wins, `!` re-includes. */
function ignoredByDockerignore(text: string, path: string): boolean {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const negate = l.startsWith("!");
      const pattern = (negate ? l.slice(1) : l).replace(/\/+$/, "");
      const re = new RegExp(
        `^${pattern
          .split("")
          .map((ch, i, all) => {
            if (ch === "*" && all[i + 1] === "*") return "";
            if (ch === "*" && all[i - 1] === "*") return ".*";
            if (ch === "*") return "[^/]*";
            if (ch === "?") return "[^/]";
            return ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
          })
          .join("")
          .replace(/^\.\*\//, "(.*/)?")}$`,
      );
      return { negate, re };
    });
  // A path is ignored when it, or a parent directory, is matched last by an exclude rule.
  const parts = path.split("/");
  let ignored = false;
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join("/");
    for (const r of rules) if (r.re.test(prefix)) ignored = !r.negate;
  }
  return ignored;
}

describe(".dockerignore", () => {
  const ignore = read(".dockerignore");

  it("lets through every file the build stages copy from the context", () => {
    const sources = instructions
      .filter((i) => (i.op === "COPY" || i.op === "ADD") && !i.args.includes("--from="))
      .flatMap((i) =>
        i.args
          .split(/\s+/)
          .filter((a) => !a.startsWith("--"))
          .slice(0, -1),
      );
    expect(sources).toEqual(expect.arrayContaining(["package.json", "package-lock.json", "src", "migrations"]));
    for (const s of sources) {
      expect(existsSync(join(root, s)), `${s} exists`).toBe(true);
      expect(ignoredByDockerignore(ignore, s), `${s} is in the build context`).toBe(false);
    }
    expect(ignoredByDockerignore(ignore, "src/cli/main.ts")).toBe(false);
    expect(ignoredByDockerignore(ignore, "migrations/20261126000001_initial_schema.ts")).toBe(false);
  });

  it("keeps out build output, local data, VCS, tests, scratch and secrets-looking files", () => {
    for (const p of [
      "node_modules",
      "node_modules/pg/package.json",
      "dist/src/cli/main.js",
      "data/pgdata",
      ".git/HEAD",
      ".test-runs/x",
      "scratch/notes.md",
      "test/fixtures/captured",
      "test/unit/deploy/dockerfile.test.ts",
      "helm/xmpp-push/values.yaml",
      ".env",
      "Dockerfile",
    ]) {
      expect(ignoredByDockerignore(ignore, p), p).toBe(true);
    }
  });
});
