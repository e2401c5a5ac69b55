import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { FILE_BACKED_KEYS, loadConfig } from "../../../src/config/load-config.js";

// Checks of helm/xmpp-push. The static part always runs: values against values.schema.json (with a small
// checker written here, no new dependency), every `.Values` reference exists, every environment variable is
// one the server knows, credentials only as files, probes and security settings, README coverage.
// When a `helm` binary is available ($HELM_BIN or PATH; CI machines have none) the chart is also rendered
// with its ci/*-values.yaml files and the output checked, down to the server's own validation of the
// rendered config file and secret files.

const root = fileURLToPath(new URL("../../../", import.meta.url));
const chart = join(root, "helm/xmpp-push");
const read = (p: string) => readFileSync(join(chart, p), "utf8");
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const values = parseYaml(read("values.yaml")) as Obj;
const chartYaml = parseYaml(read("Chart.yaml")) as Obj;
const schema = JSON.parse(read("values.schema.json")) as Schema;
const templateFiles = readdirSync(join(chart, "templates")).sort();
const templates = new Map(templateFiles.map((f) => [f, read(`templates/${f}`)]));
const allTemplates = [...templates.values()].join("\n");
const ciFiles = readdirSync(join(chart, "ci"))
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const ciValues = new Map(ciFiles.map((f) => [f, parseYaml(read(`ci/${f}`)) as Obj]));

// ---- what the server accepts, read from its source ------------------------------------------------------
const loadConfigSrc = readFileSync(join(root, "src/config/load-config.ts"), "utf8");
const envVarsBlock = /const ENV_VARS[\s\S]*?\n\];/.exec(loadConfigSrc)![0];
const appEnv = [...envVarsBlock.matchAll(/\{\s*name:\s*"([A-Z0-9_]+)"[^}]*\}/g)].map((m) => ({
  name: m[1]!,
  secret: /secret:\s*true/.test(m[0]),
}));
const otherKnown = [.../OTHER_KNOWN_VARS = new Set\(\[([^\]]*)\]/.exec(loadConfigSrc)![1]!.matchAll(/"([A-Z0-9_]+)"/g)].map((m) => m[1]!);
const knownEnv = new Set([...appEnv.map((v) => v.name), ...appEnv.filter((v) => v.secret).map((v) => `${v.name}_FILE`), ...otherKnown]);
const fileBackedKeys = FILE_BACKED_KEYS;

// ---- a small JSON-schema checker (the subset values.schema.json uses; the test below refuses any other keyword)
interface Schema {
  $schema?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  enum?: Json[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  items?: Schema;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
}
const SUPPORTED_KEYWORDS = new Set([
  "$schema",
  "title",
  "description",
  "type",
  "enum",
  "properties",
  "additionalProperties",
  "required",
  "items",
  "pattern",
  "minimum",
  "maximum",
  "minLength",
]);

function unsupportedKeywords(s: Schema, path = "#"): string[] {
  const out = Object.keys(s)
    .filter((k) => !SUPPORTED_KEYWORDS.has(k))
    .map((k) => `${path}/${k}`);
  for (const [k, sub] of Object.entries(s.properties ?? {})) out.push(...unsupportedKeywords(sub, `${path}/properties/${k}`));
  if (isObj(s.additionalProperties)) out.push(...unsupportedKeywords(s.additionalProperties as Schema, `${path}/additionalProperties`));
  if (s.items) out.push(...unsupportedKeywords(s.items, `${path}/items`));
  return out;
}

function typeOf(v: Json): string[] {
  if (v === null) return ["null"];
  if (Array.isArray(v)) return ["array"];
  if (typeof v === "number") return Number.isInteger(v) ? ["integer", "number"] : ["number"];
  return [typeof v];
}

function validate(v: Json, s: Schema, path = ""): string[] {
  const errors: string[] = [];
  const at = path || "/";
  if (s.type !== undefined) {
    const want = Array.isArray(s.type) ? s.type : [s.type];
    if (!typeOf(v).some((t) => want.includes(t))) return [`${at}: got ${typeOf(v)[0]}, want ${want.join("|")}`];
  }
  if (s.enum && !s.enum.some((e) => e === v)) errors.push(`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof v === "string") {
    if (s.pattern !== undefined && !new RegExp(s.pattern).test(v)) errors.push(`${at}: ${JSON.stringify(v)} does not match ${s.pattern}`);
    if (s.minLength !== undefined && v.length < s.minLength) errors.push(`${at}: shorter than ${s.minLength}`);
  }
  if (typeof v === "number") {
    if (s.minimum !== undefined && v < s.minimum) errors.push(`${at}: below ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) errors.push(`${at}: above ${s.maximum}`);
  }
  if (Array.isArray(v) && s.items) v.forEach((item, i) => errors.push(...validate(item, s.items!, `${path}/${i}`)));
  if (isObj(v)) {
    for (const r of s.required ?? []) if (!(r in v)) errors.push(`${at}: ${r} is required`);
    for (const [k, item] of Object.entries(v)) {
      const sub = s.properties?.[k];
      if (sub) errors.push(...validate(item, sub, `${path}/${k}`));
      else if (s.additionalProperties === false) errors.push(`${at}: additional property ${k} not allowed`);
      else if (isObj(s.additionalProperties)) errors.push(...validate(item, s.additionalProperties as Schema, `${path}/${k}`));
    }
  }
  return errors;
}

/** Helm's merge of a values file over values.yaml: maps merge, everything else replaces. */
function merge(base: Json, over: Json): Json {
  if (!isObj(base) || !isObj(over)) return structuredClone(over);
  const out: Obj = structuredClone(base);
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k]!, v) : structuredClone(v);
  return out;
}

/** Leaf paths of values.yaml: scalars, lists and empty maps (free-form). */
function leafPaths(v: Json, prefix: string[] = []): string[][] {
  if (isObj(v) && Object.keys(v).length > 0) return Object.entries(v).flatMap(([k, sub]) => leafPaths(sub, [...prefix, k]));
  return [prefix];
}

const valuesRefs = [...new Set([...allTemplates.matchAll(/\.Values((?:\.[A-Za-z0-9_]+)+)/g)].map((m) => m[1]!.slice(1)))].sort();

describe("helm/xmpp-push: files and metadata", () => {
  it("has the templates an admin expects", () => {
    for (const f of [
      "_helpers.tpl",
      "deployment.yaml",
      "service.yaml",
      "configmap.yaml",
      "secret.yaml",
      "migration-job.yaml",
      "servicemonitor.yaml",
      "serviceaccount.yaml",
      "poddisruptionbudget.yaml",
      "NOTES.txt",
      "networkpolicy.yaml",
      "prometheusrule.yaml",
      "grafana-dashboard.yaml",
      "test-readyz.yaml",
    ]) {
      expect(templateFiles).toContain(f);
    }
    for (const f of ["Chart.yaml", "values.yaml", "values.schema.json", "README.md"]) expect(existsSync(join(chart, f)), f).toBe(true);
  });

  it("Chart.yaml is apiVersion v2 and deploys the package's version", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
    expect(chartYaml.apiVersion).toBe("v2");
    expect(chartYaml.name).toBe("xmpp-push");
    expect(chartYaml.type).toBe("application");
    expect(chartYaml.appVersion).toBe(pkg.version);
    expect(String(chartYaml.version)).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
  });

  it("_helpers.tpl defines the standard helpers and app.kubernetes.io labels", () => {
    const helpers = templates.get("_helpers.tpl")!;
    for (const h of ["name", "fullname", "chart", "labels", "selectorLabels", "serviceAccountName"])
      expect(helpers).toContain(`define "xmpp-push.${h}"`);
    for (const l of [
      "app.kubernetes.io/name",
      "app.kubernetes.io/instance",
      "app.kubernetes.io/version",
      "app.kubernetes.io/managed-by",
      "helm.sh/chart",
    ]) {
      expect(helpers).toContain(`${l}:`);
    }
    // Every include names a helper that exists.
    const defined = new Set([...allTemplates.matchAll(/define "([^"]+)"/g)].map((m) => m[1]!));
    for (const m of allTemplates.matchAll(/include "([^"]+)"/g)) expect(defined, m[1]).toContain(m[1]!);
  });
});

describe("helm/xmpp-push: values.yaml and values.schema.json", () => {
  it("every key in values.yaml is commented", () => {
    const lines = read("values.yaml").split("\n");
    const undocumented: string[] = [];
    lines.forEach((line, i) => {
      const key = /^\s*(?:- )?([A-Za-z0-9_]+):/.exec(line);
      if (!key || line.trimStart().startsWith("#")) return;
      if (/#/.test(line.slice(line.indexOf(":")))) return; // inline comment
      let j = i - 1;
      while (j >= 0 && lines[j]!.trim() === "") j--;
      if (j < 0 || !lines[j]!.trimStart().startsWith("#")) undocumented.push(`${i + 1}: ${line.trim()}`);
    });
    expect(undocumented).toEqual([]);
  });

  it("the schema uses only keywords the checker here understands", () => {
    expect(unsupportedKeywords(schema)).toEqual([]);
    expect(schema.additionalProperties).toBe(false);
  });

  it("values.yaml and every ci/*-values.yaml (merged over it) satisfy the schema", () => {
    expect(validate(values, schema)).toEqual([]);
    expect(ciFiles.length).toBeGreaterThanOrEqual(3);
    for (const [f, v] of ciValues) expect(validate(merge(values, v), schema), f).toEqual([]);
  });

  it("every top-level values key is in the schema, and every main key has a type", () => {
    expect(Object.keys(values).filter((k) => !(k in (schema.properties ?? {})))).toEqual([]);
    for (const p of leafPaths(values)) {
      // The deepest schema on the key's path: a free-form object ({type: object}) types everything below it.
      let s: Schema = schema;
      for (const seg of p) {
        const next = s.properties?.[seg] ?? (isObj(s.additionalProperties) ? (s.additionalProperties as Schema) : undefined);
        if (next === undefined) {
          expect(s.properties, `${p.join(".")}: ${seg} is not in the schema`).toBeUndefined();
          break;
        }
        s = next;
      }
      expect(s.type, p.join(".")).toBeDefined();
    }
  });

  it("the schema rejects wrong values", () => {
    const bad: Array<[string, Obj]> = [
      ["replicaCount as a string", { replicaCount: "two" }],
      ["an unknown XMPP server", { xmpp: { server: "openfire" } }],
      ["a component service that is not xmpp://", { xmpp: { component: { service: "http://prosody:5347" } } }],
      ["a short admin token", { secrets: { adminToken: "short" } }],
      ["a non-postgres database URL", { secrets: { databaseUrl: "mysql://db/push" } }],
      ["a malformed token encryption key", { secrets: { tokenEncryptionKey: "not-32-bytes" } }],
      ["a malformed previous token encryption key", { secrets: { tokenEncryptionPreviousKey: "not-32-bytes" } }],
      ["a short metrics token", { secrets: { metricsToken: "short" } }],
      ["an unknown log level", { logLevel: "verbose" }],
      ["a typo at the top level", { replicaCont: 2 }],
      ["an unknown per-app credential", { secrets: { apps: { chat: { apnsKeyy: "x" } } } }],
      ["an app without id", { config: { apps: [{ apns: {} }] } }],
      ["an unknown provider in a strategy", { config: { apps: [{ id: "a", strategy: { providers: ["gcm"] } }] } }],
      ["an unknown update strategy", { updateStrategy: { type: "BlueGreen" } }],
    ];
    for (const [what, v] of bad) expect(validate(merge(values, v), schema), what).not.toEqual([]);
  });

  it("the security defaults: non-root as the image's user, read-only root, no capabilities, RuntimeDefault seccomp", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    const uid = Number(/^USER (\d+)/m.exec(dockerfile)![1]);
    const pod = values.podSecurityContext as Obj;
    const ctr = values.securityContext as Obj;
    expect(pod.runAsNonRoot).toBe(true);
    expect(pod.runAsUser).toBe(uid);
    expect(pod.fsGroup).toBe(uid);
    expect((pod.seccompProfile as Obj).type).toBe("RuntimeDefault");
    expect(ctr.readOnlyRootFilesystem).toBe(true);
    expect(ctr.allowPrivilegeEscalation).toBe(false);
    expect((ctr.capabilities as Obj).drop).toEqual(["ALL"]);
    expect((ctr.seccompProfile as Obj).type).toBe("RuntimeDefault");
    // The server's HTTP port is the image's EXPOSE.
    expect(values.containerPort).toBe(Number(/^EXPOSE (\d+)/m.exec(dockerfile)![1]));
  });

  it("defaults to one replica, Prosody, Postgres with the migration Job", () => {
    expect(values.replicaCount).toBe(1);
    expect((values.xmpp as Obj).server).toBe("prosody");
    expect(((values.persistence as Obj).embedded as Obj).enabled).toBe(false);
    expect(((values.migrations as Obj).job as Obj).enabled).toBe(true);
  });
});

describe("helm/xmpp-push: templates", () => {
  it("reference only .Values keys that exist in values.yaml (or lie inside a free-form map)", () => {
    const missing = valuesRefs.filter((ref) => {
      let v: Json | undefined = values;
      for (const seg of ref.split(".")) {
        if (isObj(v) && Object.keys(v).length === 0) return false; // free-form ({}): anything below is the user's
        if (!isObj(v) || !(seg in v)) return true;
        v = v[seg];
      }
      return false;
    });
    expect(valuesRefs.length).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  });

  it("use every key of values.yaml (no dead settings)", () => {
    const refs = valuesRefs.map((r) => r.split("."));
    const related = (a: string[], b: string[]) => a.slice(0, Math.min(a.length, b.length)).every((seg, i) => seg === b[i]);
    const unused = leafPaths(values).filter((p) => !refs.some((r) => related(r, p)));
    expect(unused.map((p) => p.join("."))).toEqual([]);
  });

  it("set only environment variables the server knows, and credentials only as *_FILE", () => {
    const names = [...allTemplates.matchAll(/^\s*- name: ([A-Z][A-Z0-9_]*)\s*$/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(10);
    // NODE_OPTIONS is Node's own: the heap cap derived from the memory limit.
    expect(names.filter((n) => !knownEnv.has(n) && n !== "NODE_OPTIONS")).toEqual([]);
    for (const v of appEnv.filter((e) => e.secret)) expect(names, `${v.name} must be given as ${v.name}_FILE`).not.toContain(v.name);
    const deployment = templates.get("deployment.yaml")!;
    for (const n of [
      "XMPP_PUSH_CONFIG",
      "XMPP_PUSH_COMPONENT_SERVICE",
      "XMPP_PUSH_COMPONENT_DOMAIN",
      "XMPP_PUSH_DOMAINS",
      "XMPP_PUSH_HTTP_HOST",
      "XMPP_PUSH_HTTP_PORT",
      "XMPP_PUSH_LOG_LEVEL",
      "XMPP_PUSH_DATA_DIR",
      "XMPP_PUSH_COMPONENT_SECRET_FILE",
      "XMPP_PUSH_ADMIN_TOKEN_FILE",
      "XMPP_PUSH_REGISTRATION_TOKEN_FILE",
      "DATABASE_URL_FILE",
      "XMPP_PUSH_TOKEN_ENCRYPTION_KEY_FILE",
      "XMPP_PUSH_MIGRATE_ON_START",
    ]) {
      expect(deployment).toContain(`- name: ${n}\n`);
    }
    expect(deployment).toMatch(/name: XMPP_PUSH_CONFIG\n\s+value: \{\{ include "xmpp-push.configPath" \. \| quote \}\}/);
    expect(templates.get("_helpers.tpl")).toContain('define "xmpp-push.configPath" -}}/etc/xmpp-push/config.yaml');
  });

  it("point the config file at credentials only through keys the server reads from files", () => {
    const keys = [...templates.get("_helpers.tpl")!.matchAll(/"configKey" "(\w+)"/g)].map((m) => m[1]!);
    expect(new Set(keys)).toEqual(
      new Set(["keyFile", "certFile", "privateKeyFile", "passphraseFile", "masterSecretFile", "serviceAccountFile"]),
    );
    for (const k of keys) expect(fileBackedKeys, k).toContain(k.replace(/File$/, ""));
  });

  it("probe liveness and startup on /healthz and readiness on /readyz", () => {
    const d = templates.get("deployment.yaml")!;
    const probe = (name: string) => new RegExp(`${name}:\\n\\s+httpGet:\\n\\s+path: (/\\w+)\\n\\s+port: http`).exec(d)?.[1];
    expect(probe("livenessProbe")).toBe("/healthz");
    expect(probe("startupProbe")).toBe("/healthz");
    expect(probe("readinessProbe")).toBe("/readyz");
    // The server serves those paths.
    const http = readFileSync(join(root, "src/http/probe-routes.ts"), "utf8");
    expect(http).toMatch(/app\.get\(\s*"\/healthz"/);
    expect(http).toMatch(/app\.get\(\s*"\/readyz"/);
    expect(templates.get("servicemonitor.yaml")).toContain("path: /metrics");
    expect(http).toMatch(/app\.get\(\s*"\/metrics"/);
  });

  it("roll the pods on config or secret changes, mount /tmp writable and secrets read-only", () => {
    const d = templates.get("deployment.yaml")!;
    expect(d).toContain('checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}');
    expect(d).toContain('checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}');
    expect(d).toMatch(/- name: tmp\n\s+mountPath: \/tmp/);
    expect(d).toMatch(/- name: secrets\n\s+mountPath: \{\{ \$secretsDir \}\}\n\s+readOnly: true/);
    expect(d).toContain("automountServiceAccountToken: false");
  });

  it("turn off Service links in every pod: injected XMPP_PUSH_<SERVICE>_* variables would stop the server", () => {
    // The server refuses unknown XMPP_PUSH_* variables except the service-link family of a Service named exactly
    // xmpp-push; kubelet injects <SERVICE_NAME>_SERVICE_HOST etc. for every Service in the namespace, and a
    // Service named xmpp-push-<something> would inject variables outside that family.
    expect(loadConfigSrc).toMatch(/startsWith\("XMPP_PUSH_"\) && !known\.has\(name\)/);
    for (const f of ["deployment.yaml", "migration-job.yaml"]) expect(templates.get(f), f).toMatch(/^\s+enableServiceLinks: false$/m);
  });

  it("run migrations as a pre-install/pre-upgrade hook with its own hook Secret created first", () => {
    const j = templates.get("migration-job.yaml")!;
    const hooks = [
      ...j.matchAll(/helm\.sh\/hook: (.+)\n\s+helm\.sh\/hook-weight: "(-?\d+)"\n(?:\s+#.*\n)*\s+helm\.sh\/hook-delete-policy: (.+)/g),
    ];
    expect(hooks).toHaveLength(2); // the Secret, then the Job
    for (const h of hooks) {
      expect(h[1]).toBe("pre-install,pre-upgrade");
      expect(h[3]).toBe("before-hook-creation,hook-succeeded");
    }
    expect(Number(hooks[0]![2])).toBeLessThan(Number(hooks[1]![2]));
    expect(j).toContain('args: ["migrate"]');
    expect(j).toContain("kind: Job");
    // Not needed by `migrate`, and absent on the first install: the ConfigMap and the chart's Secret.
    expect(j).not.toContain("XMPP_PUSH_CONFIG");
    expect(j).not.toMatch(/secretName: \{\{ include "xmpp-push\.(fullname|secretName)"/);
  });

  it("chooses a rolling update without unavailability on Postgres, and Recreate on the embedded database", () => {
    const h = templates.get("_helpers.tpl")!;
    expect(h).toMatch(/else if \.Values\.persistence\.embedded\.enabled -\}\}\ntype: Recreate/);
    expect(h).toMatch(/type: RollingUpdate\nrollingUpdate:\n {2}maxSurge: 1\n {2}maxUnavailable: 0/);
  });

  it("NOTES say the pod connects out to the XMPP server's component port, with Prosody and ejabberd snippets", () => {
    const n = templates.get("NOTES.txt")!;
    expect(n).toMatch(/connects OUT to the XMPP server's component port/);
    expect(n).toContain('Component "{{ $domain }}"');
    expect(n).toContain("component_secret");
    expect(n).toContain("module: ejabberd_service");
    expect(n).toContain("/readyz");
    expect(n).toContain("port-forward");
  });

  it("NOTES and README run admin commands with the file the image starts (the package's bin)", () => {
    const bin = `/app/${JSON.parse(readFileSync(join(root, "package.json"), "utf8")).bin["xmpp-push"]}`;
    const paths = [...`${templates.get("NOTES.txt")!}\n${read("README.md")}`.matchAll(/node (\/app\/\S+)/g)].map((m) => m[1]);
    expect(paths.length).toBeGreaterThanOrEqual(4);
    expect(new Set(paths)).toEqual(new Set([bin]));
    expect(readFileSync(join(root, "Dockerfile"), "utf8")).toContain(`"${bin}"]`);
  });

  it("the chart README documents every values key and the three examples", () => {
    const readme = read("README.md");
    const missing = leafPaths(values)
      .map((p) => p.join("."))
      .filter((p) => !readme.includes(`| \`${p}\` |`));
    expect(missing).toEqual([]);
    expect(readme).toMatch(/## Minimal install \(Postgres\)/);
    expect(readme).toMatch(/## Example: an iOS app on APNs \(\.p8 token auth\) with JPush/);
    expect(readme).toMatch(/## Example: ejabberd with two replicas/);
  });
});

// ---- rendering, when helm is available ---------------------------------------------------------------------
function findHelm(): string | undefined {
  const candidates = [
    process.env.HELM_BIN,
    ...(process.env.PATH ?? "")
      .split(delimiter)
      .filter(Boolean)
      .map((d) => join(d, "helm")),
  ];
  return candidates.find((c): c is string => c !== undefined && c !== "" && existsSync(c));
}
const helm = findHelm();

interface Rendered {
  code: number;
  stdout: string;
  stderr: string;
  docs: Obj[];
}
function helmRun(args: string[]): Promise<Rendered> {
  return new Promise((resolve) => {
    execFile(helm!, args, { encoding: "utf8", timeout: 20_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      const docs =
        code === 0 && args[0] === "template"
          ? parseAllDocuments(stdout)
              .map((d) => d.toJS() as Obj)
              .filter(isObj)
          : [];
      resolve({ code, stdout, stderr, docs });
    });
  });
}
const template = (valuesFile?: string, ...sets: string[]) =>
  helmRun([
    "template",
    "rel",
    chart,
    "--namespace",
    "push",
    ...(valuesFile ? ["-f", join(chart, "ci", valuesFile)] : []),
    ...sets.flatMap((s) => ["--set", s]),
  ]);

const kindOf = (r: Rendered, kind: string, name?: string) =>
  r.docs.filter((d) => d.kind === kind && (name === undefined || (d.metadata as Obj).name === name));
const deploymentOf = (r: Rendered) =>
  kindOf(r, "Deployment")[0] as Obj & { spec: Obj & { template: { spec: Obj & { containers: Obj[]; volumes: Obj[] } } } };
const envOf = (r: Rendered) =>
  Object.fromEntries((deploymentOf(r).spec.template.spec.containers[0]!.env as Obj[]).map((e) => [e.name as string, e.value as string]));

/** Writes the rendered ConfigMap and Secret files where the pod would see them (under `dir`) and returns its env. */
function materialize(r: Rendered, dir: string): Record<string, string> {
  const remap = (s: string) => s.replaceAll("/etc/xmpp-push", `${dir}/etc`).replaceAll("/var/lib/xmpp-push", `${dir}/data`);
  const dep = deploymentOf(r);
  const container = dep.spec.template.spec.containers[0]!;
  mkdirSync(`${dir}/etc`, { recursive: true });
  const cm = kindOf(r, "ConfigMap")[0]!;
  writeFileSync(`${dir}/etc/config.yaml`, remap(String((cm.data as Obj)["config.yaml"])));
  for (const m of container.volumeMounts as Obj[]) {
    const vol = dep.spec.template.spec.volumes.find((v) => v.name === m.name)!;
    if (!isObj(vol.secret)) continue;
    const secret = kindOf(r, "Secret", String(vol.secret.secretName))[0];
    if (!secret) continue;
    const data = secret.data as Record<string, string>;
    const target = remap(String(m.mountPath));
    mkdirSync(target, { recursive: true });
    const items = (vol.secret.items as Obj[] | undefined) ?? Object.keys(data).map((k) => ({ key: k, path: k }));
    for (const it of items) writeFileSync(`${target}/${String(it.path)}`, Buffer.from(data[String(it.key)]!, "base64"));
  }
  return Object.fromEntries(Object.entries(envOf(r)).map(([k, v]) => [k, remap(v)]));
}

// Every values example of the chart README (```yaml blocks whose keys are all values.yaml keys), rendered over
// the ci Postgres values (which supply what an excerpt leaves out).
const readmeExampleDir = mkdtempSync(join(tmpdir(), "xp-readme-"));
const readmeExamples = [...read("README.md").matchAll(/```yaml\n([\s\S]*?)```/g)]
  .map((m) => {
    try {
      return parseYaml(m[1]!) as unknown;
    } catch {
      return undefined;
    }
  })
  .filter((doc): doc is Obj => isObj(doc) && Object.keys(doc).length > 0 && Object.keys(doc).every((k) => k in values))
  .map((doc, i) => {
    const file = join(readmeExampleDir, `example-${i}.yaml`);
    writeFileSync(file, JSON.stringify(doc));
    return file;
  });
const EXTRAS = [
  "networkPolicy.enabled=true",
  "prometheusRule.enabled=true",
  "grafanaDashboard.enabled=true",
  "priorityClassName=push-critical",
  "extraEnv[0].name=HTTPS_PROXY",
  "extraEnv[0].value=http://proxy:3128",
  "extraVolumes[0].name=ca",
  "extraVolumes[0].configMap.name=pg-ca",
  "extraVolumeMounts[0].name=ca",
  "extraVolumeMounts[0].mountPath=/etc/ssl/pg",
  "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
  "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
];

describe.skipIf(helm === undefined)("helm/xmpp-push rendered with helm", () => {
  const r = new Map<string, Rendered>();
  beforeAll(async () => {
    const runs: Array<[string, Promise<Rendered>]> = [
      ...ciFiles.map((f): [string, Promise<Rendered>] => [f, template(f)]),
      ["lint:postgres", helmRun(["lint", chart, "--strict", "-f", join(chart, "ci/postgres-values.yaml")])],
      ["lint:ejabberd", helmRun(["lint", chart, "--strict", "-f", join(chart, "ci/ejabberd-apps-values.yaml")])],
      ["defaults", template()],
      ["prosody-2", template("postgres-values.yaml", "replicaCount=2")],
      ["embedded-2", template("embedded-values.yaml", "replicaCount=2")],
      ["no-db", template("postgres-values.yaml", "secrets.databaseUrl=")],
      [
        "inline-credential",
        template(
          "postgres-values.yaml",
          "config.apps[0].id=chat",
          "config.apps[0].jpush.appKey=0123456789abcdef01234567",
          "config.apps[0].jpush.masterSecret=abcdef0123456789abcdef01",
        ),
      ],
      [
        "missing-credential",
        template("postgres-values.yaml", "config.apps[0].id=chat", "config.apps[0].jpush.appKey=0123456789abcdef01234567"),
      ],
      ["env-owned-in-config", template("postgres-values.yaml", "config.component.service=xmpp://elsewhere:5347")],
      ["previous-key-in-config", template("postgres-values.yaml", "config.tokenEncryptionPreviousKeyFile=/tmp/key")],
      [
        "metrics-token",
        template("postgres-values.yaml", "secrets.metricsToken=metrics-token-0123456789", "metrics.serviceMonitor.enabled=true"),
      ],
      [
        "metrics-token-elsewhere",
        template(
          "postgres-values.yaml",
          "secrets.metricsToken=metrics-token-0123456789",
          "metrics.serviceMonitor.enabled=true",
          "metrics.serviceMonitor.namespace=monitoring",
        ),
      ],
      ["schema", template("postgres-values.yaml", "xmpp.server=openfire")],
      ["no-job", template("postgres-values.yaml", "migrations.job.enabled=false")],
      ["extras", template("postgres-values.yaml", ...EXTRAS)],
      ["limit-1536", template("postgres-values.yaml", "resources.limits.memory=1.5Gi")],
      ["no-limit", template("postgres-values.yaml", "resources.limits=null")],
      ["embedded-default", template("embedded-values.yaml")],
      ...readmeExamples.map((file, i): [string, Promise<Rendered>] => [
        `readme-example-${i}`,
        helmRun(["template", "rel", chart, "-f", join(chart, "ci/postgres-values.yaml"), "-f", file]),
      ]),
    ];
    for (const [k, p] of runs) r.set(k, await p);
  }, 60_000);
  const ok = (k: string) => {
    const res = r.get(k)!;
    expect(res.stderr, k).not.toMatch(/Error/);
    expect(res.code, k).toBe(0);
    return res;
  };
  const failsWith = (k: string, message: RegExp) => {
    const res = r.get(k)!;
    expect(res.code, k).not.toBe(0);
    expect(res.stderr, k).toMatch(message);
  };

  it("lints clean (--strict) and renders every ci values file", () => {
    ok("lint:postgres");
    ok("lint:ejabberd");
    for (const f of ciFiles) expect(ok(f).docs.length, f).toBeGreaterThan(3);
  });

  it("refuses values that cannot work, saying what to set", () => {
    failsWith("defaults", /xmpp\.component\.service is required/);
    ok("prosody-2"); // one active replica, the other stands by
    failsWith("embedded-2", /replicaCount must be 1/);
    failsWith("no-db", /a Postgres URL is required/);
    failsWith("inline-credential", /would land in a ConfigMap/);
    failsWith("missing-credential", /secrets\.apps\.chat\.jpushMasterSecret/);
    failsWith("env-owned-in-config", /use xmpp\.component\.service instead/);
    failsWith(
      "previous-key-in-config",
      /config\.tokenEncryptionPreviousKeyFile is set by the chart: use secrets\.tokenEncryptionPreviousKey instead/,
    );
    failsWith("schema", /xmpp[./]server.*(one of|prosody)/);
  });

  it("Postgres + Prosody: one replica, a rolling update, exclusive component, the migration hook with its own Secret, secrets as files", () => {
    const res = ok("postgres-values.yaml");
    const dep = deploymentOf(res);
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.template.spec.enableServiceLinks).toBe(false);
    expect(dep.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const env = envOf(res);
    expect(env.XMPP_PUSH_COMPONENT_MODE).toBe("exclusive");
    expect(env.XMPP_PUSH_MIGRATE_ON_START).toBe("false");
    expect(env.DATABASE_URL_FILE).toBe("/etc/xmpp-push/secrets/database-url");
    expect(env.XMPP_PUSH_COMPONENT_SECRET_FILE).toBe("/etc/xmpp-push/secrets/component-secret");
    expect(env.XMPP_PUSH_ADMIN_TOKEN_FILE).toBeUndefined(); // no admin token: no variable pointing at a missing file
    const job = kindOf(res, "Job")[0]!;
    const hookSecret = kindOf(res, "Secret", "rel-xmpp-push-migration")[0]!;
    expect(((hookSecret.metadata as Obj).annotations as Obj)["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
    const jobVolume = ((((job.spec as Obj).template as Obj).spec as Obj).volumes as Obj[])[0]!;
    expect((jobVolume.secret as Obj).secretName).toBe("rel-xmpp-push-migration");
    expect(Object.keys(hookSecret.data as Obj)).toEqual(["database-url"]);
    // The Service and PDB select the server pods, never the migration pod.
    const selector = (kindOf(res, "Service")[0]!.spec as Obj).selector as Obj;
    const jobLabels = (((job.spec as Obj).template as Obj).metadata as Obj).labels as Obj;
    expect(Object.entries(selector).every(([k, v]) => jobLabels[k] === v)).toBe(false);
    // Pod template labels satisfy the Deployment's selector.
    const podLabels = ((dep.spec.template as Obj).metadata as Obj).labels as Obj;
    expect(Object.entries((dep.spec.selector as Obj).matchLabels as Obj).every(([k, v]) => podLabels[k] === v)).toBe(true);
  });

  it("without the Job, servers migrate on start", () => {
    const res = ok("no-job");
    expect(kindOf(res, "Job")).toEqual([]);
    expect(envOf(res).XMPP_PUSH_MIGRATE_ON_START).toBeUndefined();
  });

  it("ejabberd: 2 replicas, RollingUpdate without unavailability, PDB, ServiceMonitor, Ingress", () => {
    const res = ok("ejabberd-apps-values.yaml");
    const dep = deploymentOf(res);
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(kindOf(res, "PodDisruptionBudget")).toHaveLength(1);
    expect(kindOf(res, "ServiceMonitor")).toHaveLength(1);
    expect(kindOf(res, "Ingress")).toHaveLength(1);
    expect(envOf(res).XMPP_PUSH_DOMAINS).toBe("example.org,example.net");
  });

  it("the rendered config file and secret files pass the server's own validation", () => {
    const res = ok("ejabberd-apps-values.yaml");
    const dir = mkdtempSync(join(tmpdir(), "xp-helm-"));
    const env = materialize(res, dir);
    const config = loadConfig({ env });
    expect(config.component).toMatchObject({
      service: "xmpp://ejabberd.xmpp.svc.cluster.local:5347",
      domain: "push.example.org",
      secret: "k3ep-it-l0ng-and-random",
    });
    expect(config.domains).toEqual(["example.org", "example.net"]);
    expect(config.database).toMatchObject({ url: "postgres://push:secret@postgres.db.svc.cluster.local:5432/push", migrateOnStart: false });
    expect(config.http).toMatchObject({ host: "0.0.0.0", port: 8080, adminToken: "admin-token-0123456789abcdef" });
    expect(config.log.level).toBe("debug");
    expect(config.delivery.jobTtlSeconds).toBe(900);
    expect(config.apps.map((a) => [a.id, a.strategy.providers])).toEqual([
      ["chat", ["apns", "jpush"]],
      ["legacy", ["apns"]],
      ["android", ["fcm"]],
    ]);
    const [chat, legacy, android] = config.apps;
    expect(chat!.apns!.key).toContain("-----BEGIN PRIVATE KEY-----");
    expect(chat!.jpush!.masterSecret).toBe("abcdef0123456789abcdef01");
    expect(legacy!.apns!.cert).toContain("-----BEGIN CERTIFICATE-----");
    expect(legacy!.apns!.passphrase).toBe("correct horse");
    expect(android!.fcm!.projectId).toBe("example-push");
    // No credential in the ConfigMap.
    const cm = String((kindOf(res, "ConfigMap")[0]!.data as Obj)["config.yaml"]);
    expect(cm).not.toMatch(/BEGIN|abcdef0123456789abcdef01|correct horse/);
  });

  it("embedded database: one replica, Recreate, a PVC at the data dir, no DATABASE_URL, no Job", () => {
    const res = ok("embedded-values.yaml");
    const dep = deploymentOf(res);
    expect(dep.spec.replicas).toBe(1);
    expect(dep.spec.strategy).toEqual({ type: "Recreate" });
    expect(kindOf(res, "Job")).toEqual([]);
    expect(kindOf(res, "PersistentVolumeClaim")).toHaveLength(1);
    const env = envOf(res);
    expect(env.DATABASE_URL_FILE).toBeUndefined();
    expect(env.XMPP_PUSH_MIGRATE_ON_START).toBeUndefined();
    expect(env.XMPP_PUSH_DATA_DIR).toBe("/var/lib/xmpp-push");
    const mounts = dep.spec.template.spec.containers[0]!.volumeMounts as Obj[];
    expect(mounts.find((m) => m.name === "data")?.mountPath).toBe("/var/lib/xmpp-push");
    expect(((dep.spec.template.spec.containers[0]!.resources as Obj).limits as Obj).memory).toBe("1536Mi");
    const config = loadConfig({ env: materialize(res, mkdtempSync(join(tmpdir(), "xp-helm-"))) });
    expect(config.database.url).toBeUndefined();
  });

  it("existing Secrets: no chart Secret, the Job and the server read the database URL from the named key", () => {
    const res = ok("existing-secret-values.yaml");
    expect(kindOf(res, "Secret")).toEqual([]);
    const dep = deploymentOf(res);
    const vols = dep.spec.template.spec.volumes;
    expect((vols.find((v) => v.name === "secrets")!.secret as Obj).secretName).toBe("xmpp-push-credentials");
    expect((vols.find((v) => v.name === "database")!.secret as Obj).items).toEqual([{ key: "uri", path: "url" }]);
    const env = envOf(res);
    expect(env.DATABASE_URL_FILE).toBe("/etc/xmpp-push/database/url");
    expect(env.XMPP_PUSH_ADMIN_TOKEN_FILE).toBe("/etc/xmpp-push/secrets/admin-token");
    expect(env.XMPP_PUSH_REGISTRATION_TOKEN_FILE).toBeUndefined();
    const job = kindOf(res, "Job")[0]!;
    const jobVol = ((((job.spec as Obj).template as Obj).spec as Obj).volumes as Obj[])[0]!;
    expect(jobVol.secret).toMatchObject({ secretName: "push-db-app", items: [{ key: "uri", path: "url" }] });
    expect(String((kindOf(res, "ConfigMap")[0]!.data as Obj)["config.yaml"])).toContain(
      "keyFile: /etc/xmpp-push/secrets/app-chat-apns-key",
    );
  });
  it("renders every values example of the chart README", () => {
    expect(readmeExamples.length).toBeGreaterThanOrEqual(4);
    readmeExamples.forEach((_, i) => expect(ok(`readme-example-${i}`).docs.length).toBeGreaterThan(3));
  });

  it("a metrics token: the server reads it from its file, the ServiceMonitor sends it from the Secret", () => {
    const res = ok("metrics-token");
    expect(envOf(res).XMPP_PUSH_METRICS_TOKEN_FILE).toBe("/etc/xmpp-push/secrets/metrics-token");
    const config = loadConfig({ env: materialize(res, mkdtempSync(join(tmpdir(), "xp-helm-"))) });
    expect(config.http.metricsToken).toBe("metrics-token-0123456789");
    const monitor = kindOf(res, "ServiceMonitor")[0]!;
    const endpoint = ((monitor.spec as Obj).endpoints as Obj[])[0]!;
    expect(endpoint.authorization).toEqual({ type: "Bearer", credentials: { name: "rel-xmpp-push", key: "metrics-token" } });
    expect(JSON.stringify(deploymentOf(res))).not.toContain("metrics-token-0123456789");
    // Prometheus reads the Secret from the ServiceMonitor's namespace, where the chart's Secret is not.
    failsWith("metrics-token-elsewhere", /serviceMonitor\.namespace must be the release's namespace when secrets\.metricsToken is set/);
  });

  it("a token key rotation (the README's example): both keys reach the server as files, and it loads them", () => {
    const i = readmeExamples.findIndex((f) => readFileSync(f, "utf8").includes("tokenEncryptionPreviousKey"));
    expect(i).toBeGreaterThanOrEqual(0);
    const example = JSON.parse(readFileSync(readmeExamples[i]!, "utf8")) as { secrets: Record<string, string> };
    const res = ok(`readme-example-${i}`);
    expect(envOf(res)).toMatchObject({
      XMPP_PUSH_TOKEN_ENCRYPTION_KEY_FILE: "/etc/xmpp-push/secrets/token-encryption-key",
      XMPP_PUSH_TOKEN_ENCRYPTION_PREVIOUS_KEY_FILE: "/etc/xmpp-push/secrets/token-encryption-previous-key",
    });
    const config = loadConfig({ env: materialize(res, mkdtempSync(join(tmpdir(), "xp-helm-"))) });
    expect(config.tokenEncryptionKey).toBe(example.secrets.tokenEncryptionKey);
    expect(config.tokenEncryptionPreviousKey).toBe(example.secrets.tokenEncryptionPreviousKey);
    // Neither key is ever an environment variable's value or in the ConfigMap.
    const dep = JSON.stringify(deploymentOf(res));
    const cm = JSON.stringify(kindOf(res, "ConfigMap"));
    for (const key of Object.values(example.secrets)) {
      expect(dep).not.toContain(key);
      expect(cm).not.toContain(key);
    }
  });

  it("caps the V8 heap at a share of the container's memory limit, and leaves it to Node without a limit", () => {
    expect(envOf(ok("postgres-values.yaml")).NODE_OPTIONS).toBe("--max-old-space-size=256 --max-semi-space-size=4");
    expect(envOf(ok("limit-1536")).NODE_OPTIONS).toBe("--max-old-space-size=768 --max-semi-space-size=4");
    expect(envOf(ok("embedded-default")).NODE_OPTIONS).toBe("--max-old-space-size=384 --max-semi-space-size=4");
    expect(envOf(ok("no-limit")).NODE_OPTIONS).toBeUndefined();
  });

  it("the migration Job honours extraEnv, extraVolumes, affinity and priorityClassName like the Deployment", () => {
    const res = ok("extras");
    const job = kindOf(res, "Job")[0] as Obj & { spec: { template: { spec: Obj & { containers: Obj[]; volumes: Obj[] } } } };
    const dep = deploymentOf(res);
    for (const pod of [job.spec.template.spec, dep.spec.template.spec]) {
      expect(pod.priorityClassName).toBe("push-critical");
      expect(pod.affinity).toEqual({
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: "pool", operator: "Exists" }] }],
          },
        },
      });
      expect(pod.volumes).toContainEqual({ name: "ca", configMap: { name: "pg-ca" } });
      expect(pod.containers[0]!.env).toContainEqual({ name: "HTTPS_PROXY", value: "http://proxy:3128" });
      expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: "ca", mountPath: "/etc/ssl/pg" });
    }
  });

  it("a NetworkPolicy lets in only the HTTP port and out only DNS, the component port, Postgres and the providers", () => {
    const np = kindOf(ok("extras"), "NetworkPolicy")[0] as Obj & { spec: { ingress: Obj[]; egress: Array<{ ports: Obj[] }> } };
    expect(np.spec.ingress).toEqual([{ ports: [{ port: "http", protocol: "TCP" }] }]);
    const ports = np.spec.egress.flatMap((r) => r.ports.map((p) => `${String(p.port)}/${String(p.protocol)}`));
    expect(ports.sort()).toEqual(["2197/TCP", "443/TCP", "53/TCP", "53/UDP", "5347/TCP", "5432/TCP"].sort());
    expect(kindOf(ok("postgres-values.yaml"), "NetworkPolicy")).toEqual([]);
  });

  it("the PrometheusRule carries the rules file's alerts, and the dashboard ConfigMap the dashboard", () => {
    const res = ok("extras");
    const rule = kindOf(res, "PrometheusRule")[0] as Obj & { spec: { groups: Obj[] } };
    const file = parseYaml(read("files/prometheus-rules.yaml")) as { groups: Obj[] };
    expect(rule.spec.groups).toEqual(file.groups);
    const cm = kindOf(res, "ConfigMap").find((c) => (c.metadata as Obj).name === "rel-xmpp-push-dashboard")!;
    expect(((cm.metadata as Obj).labels as Obj).grafana_dashboard).toBe("1");
    expect(JSON.parse(String((cm.data as Obj)["xmpp-push.json"]))).toEqual(JSON.parse(read("files/grafana-dashboard.json")));
  });

  it("helm test fetches /readyz through the Service", () => {
    const pod = kindOf(ok("postgres-values.yaml"), "Pod")[0] as Obj & { metadata: Obj; spec: { containers: Obj[] } };
    expect((pod.metadata.annotations as Obj)["helm.sh/hook"]).toBe("test");
    expect(String((pod.spec.containers[0]!.args as string[])[0])).toContain("http://rel-xmpp-push:8080/readyz");
  });
});
