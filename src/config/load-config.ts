import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { configSchema, crossCheckApps, type Config } from "./config-schema.js";

/** Thrown for an unusable configuration; `problems` lists every one of them (path: reason). */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "ConfigError";
  }
}

type Env = Readonly<Record<string, string | undefined>>;

// The fixed variable names scripts and charts rely on; each maps to one config path.
// Any of them marked secret may also be given as <NAME>_FILE (Kubernetes secrets mounted as files).
export const ENV_VARS: ReadonlyArray<{ name: string; path: readonly string[]; secret?: boolean; list?: boolean }> = [
  { name: "XMPP_PUSH_COMPONENT_SERVICE", path: ["component", "service"] },
  { name: "XMPP_PUSH_COMPONENT_DOMAIN", path: ["component", "domain"] },
  { name: "XMPP_PUSH_COMPONENT_SECRET", path: ["component", "secret"], secret: true },
  { name: "XMPP_PUSH_COMPONENT_MODE", path: ["component", "mode"] },
  { name: "XMPP_PUSH_DOMAINS", path: ["domains"], list: true },
  { name: "XMPP_PUSH_HTTP_HOST", path: ["http", "host"] },
  { name: "XMPP_PUSH_HTTP_PORT", path: ["http", "port"] },
  { name: "XMPP_PUSH_ADMIN_TOKEN", path: ["http", "adminToken"], secret: true },
  { name: "XMPP_PUSH_REGISTRATION_TOKEN", path: ["http", "registrationToken"], secret: true },
  { name: "XMPP_PUSH_METRICS_TOKEN", path: ["http", "metricsToken"], secret: true },
  { name: "XMPP_PUSH_HTTP_TRUST_PROXY", path: ["http", "trustProxy"], list: true },
  { name: "XMPP_PUSH_LOG_LEVEL", path: ["log", "level"] },
  { name: "DATABASE_URL", path: ["database", "url"], secret: true },
  { name: "XMPP_PUSH_DATA_DIR", path: ["database", "dataDir"] },
  { name: "XMPP_PUSH_MIGRATE_ON_START", path: ["database", "migrateOnStart"] },
  { name: "XMPP_PUSH_TOKEN_ENCRYPTION_KEY", path: ["tokenEncryptionKey"], secret: true },
  { name: "XMPP_PUSH_HTTPS_PROXY", path: ["httpsProxy"] },
  { name: "XMPP_PUSH_TOKEN_ENCRYPTION_PREVIOUS_KEY", path: ["tokenEncryptionPreviousKey"], secret: true },
];
const OTHER_KNOWN_VARS = new Set(["XMPP_PUSH_CONFIG"]);

// Kubernetes injects Docker-link-style variables for every Service of the namespace into each pod
// (unless enableServiceLinks is false); a Service named xmpp-push yields XMPP_PUSH_SERVICE_HOST,
// XMPP_PUSH_SERVICE_PORT, XMPP_PUSH_SERVICE_PORT_<PORT NAME>, XMPP_PUSH_PORT and
// XMPP_PUSH_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]. Exactly that family, with values of the shape
// Kubernetes gives them, is ignored; XMPP_PUSH_PORT=9090 set by a person is still an unknown variable.
const SERVICE_LINK_VARS: ReadonlyArray<[RegExp, RegExp]> = [
  [/^XMPP_PUSH_SERVICE_HOST$/, /^\S+$/],
  [/^XMPP_PUSH_SERVICE_PORT(_[A-Z0-9_]+)?$/, /^\d{1,5}$/],
  [/^XMPP_PUSH_PORT$/, /^(tcp|udp|sctp):\/\/\S+:\d{1,5}$/],
  [/^XMPP_PUSH_PORT_\d{1,5}_(TCP|UDP|SCTP)$/, /^(tcp|udp|sctp):\/\/\S+:\d{1,5}$/],
  [/^XMPP_PUSH_PORT_\d{1,5}_(TCP|UDP|SCTP)_PROTO$/, /^(tcp|udp|sctp)$/],
  [/^XMPP_PUSH_PORT_\d{1,5}_(TCP|UDP|SCTP)_PORT$/, /^\d{1,5}$/],
  [/^XMPP_PUSH_PORT_\d{1,5}_(TCP|UDP|SCTP)_ADDR$/, /^\S+$/],
];

function isServiceLinkVar(name: string, value: string | undefined): boolean {
  return SERVICE_LINK_VARS.some(([n, v]) => n.test(name) && v.test(value ?? ""));
}

// Config-file keys whose value may come from a file instead: `fooFile: /path` fills `foo`.
export const FILE_BACKED_KEYS: ReadonlySet<string> = new Set([
  "secret",
  "key",
  "cert",
  "privateKey",
  "passphrase",
  "ca",
  "masterSecret",
  "serviceAccount",
  "adminToken",
  "registrationToken",
  "tokenEncryptionKey",
  "tokenEncryptionPreviousKey",
  "token",
  "metricsToken",
]);

export interface LoadConfigOptions {
  env?: Env;
  /** Path of a YAML or JSON file; defaults to $XMPP_PUSH_CONFIG. */
  file?: string;
}

/** Reads env and the optional file, validates everything at once and returns a frozen Config or throws ConfigError. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const file = options.file ?? nonEmpty(env.XMPP_PUSH_CONFIG);

  let raw: Record<string, unknown> = {};
  if (file !== undefined) {
    const fromFile = readConfigFile(file, problems);
    if (fromFile !== undefined) raw = resolveFileBackedKeys(fromFile, [], problems) as Record<string, unknown>;
  }
  const fromEnv = applyEnv(raw, env, problems);

  const result = configSchema.safeParse(raw);
  if (!result.success) problems.push(...formatIssues(result.error.issues, fromEnv));
  problems.push(...crossCheckApps(raw.apps).map((p) => `${formatPath(p.path)}: ${p.message}`));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return deepFreeze(result.data);
}

function readConfigFile(file: string, problems: string[]): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    problems.push(`config file ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    return undefined;
  }
  try {
    const parsed: unknown = extname(file).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text);
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== "object" || Array.isArray(parsed)) {
      problems.push(`config file ${file}: must contain a mapping of settings at the top level`);
      return undefined;
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    // The parser's message names line and column, never a value worth hiding beyond what the file's owner wrote.
    problems.push(
      `config file ${file}: not valid ${extname(file) === ".json" ? "JSON" : "YAML"} (${(err as Error).message.split("\n")[0]})`,
    );
    return undefined;
  }
}

function resolveFileBackedKeys(value: unknown, path: (string | number)[], problems: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => resolveFileBackedKeys(v, [...path, i], problems));
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const base = k.endsWith("File") ? k.slice(0, -4) : undefined;
    if (base !== undefined && FILE_BACKED_KEYS.has(base)) {
      const where = formatPath([...path, k]);
      if (Object.hasOwn(value, base)) problems.push(`${where}: give either ${base} or ${k}, not both`);
      else if (typeof v !== "string") problems.push(`${where}: must be a file path`);
      else {
        const content = readSecretFile(v, where, problems);
        if (content !== undefined) out[base] = content;
      }
    } else {
      out[k] = resolveFileBackedKeys(v, [...path, k], problems);
    }
  }
  return out;
}

function readSecretFile(file: string, where: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch (err) {
    problems.push(`${where}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    return undefined;
  }
}

/** Applies the variables that are set; returns their names, so problems can say where a value came from. */
function applyEnv(raw: Record<string, unknown>, env: Env, problems: string[]): Set<string> {
  const used = new Set<string>();
  const known = new Set(OTHER_KNOWN_VARS);
  for (const v of ENV_VARS) {
    known.add(v.name);
    if (v.secret) known.add(`${v.name}_FILE`);
    let value = nonEmpty(env[v.name]);
    const fileVar = v.secret ? nonEmpty(env[`${v.name}_FILE`]) : undefined;
    if (fileVar !== undefined) {
      if (value !== undefined) problems.push(`${v.name} and ${v.name}_FILE: give one, not both`);
      else value = readSecretFile(fileVar, `${v.name}_FILE`, problems);
    }
    if (value === undefined) continue;
    used.add(v.name);
    setPath(
      raw,
      v.path,
      v.list
        ? value
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean)
        : value,
    );
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith("XMPP_PUSH_") && !known.has(name) && !isServiceLinkVar(name, env[name])) {
      problems.push(
        `${name}: unknown variable (known: ${[...known]
          .filter((n) => n.startsWith("XMPP_PUSH_"))
          .sort()
          .join(", ")})`,
      );
    }
  }
  return used;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== "object" || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function formatIssues(issues: readonly z.core.$ZodIssue[], fromEnv: ReadonlySet<string>): string[] {
  return issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    const envName = ENV_VARS.find((v) => fromEnv.has(v.name) && v.path.join(".") === path.join("."))?.name;
    const where = path.length === 0 ? "(top level)" : formatPath(path);
    const message =
      issue.code === "invalid_type" && issue.expected === "number"
        ? "must be a number"
        : issue.code === "unrecognized_keys"
          ? `unknown setting${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`
          : issue.message;
    return `${where}${envName ? ` (${envName})` : ""}: ${message}`;
  });
}

function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === "" ? undefined : v;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** A copy safe to print or serve: every credential replaced by a marker (gorush's SanitizedCopy idea). */
export function redactedConfig(config: Config): unknown {
  return JSON.parse(JSON.stringify(config, (key, value: unknown) => (isSecretKey(key) && value !== undefined ? "[redacted]" : value)));
}

const SECRET_KEY =
  /^(secret|key|privateKey|passphrase|masterSecret|serviceAccount|adminToken|registrationToken|tokenEncryptionKey|tokenEncryptionPreviousKey|url|cert|token|metricsToken)$/;
function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}
