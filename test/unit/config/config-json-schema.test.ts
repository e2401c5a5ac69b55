import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { configJsonSchema } from "../../../src/config/config-json-schema.js";

// `xmpp-push config schema` as an editor or a CI check would use it, with a standard JSON Schema validator.
const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
const section = readme.slice(readme.indexOf("### Config file"));
// The full example: the section's yaml block that configures apps (the other one is the editor modeline).
const readmeExample = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)]
  .map((m) => parseYaml(m[1]!) as Record<string, unknown> | null)
  .find((doc) => doc !== null && typeof doc === "object" && "apps" in doc)!;

const validate = new Ajv({ allErrors: true, strict: false }).compile(configJsonSchema());
const errorsOf = (doc: unknown) =>
  validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ""} ${JSON.stringify(e.params)}`);

describe("the config file's JSON Schema", () => {
  it("accepts the README's example config", () => {
    expect(Object.keys(readmeExample)).toEqual(expect.arrayContaining(["component", "database", "delivery", "apps"]));
    expect(errorsOf(readmeExample)).toEqual([]);
  });

  it("rejects a typo'd key, naming it", () => {
    const typo = { ...readmeExample, delivery: { ...(readmeExample.delivery as object), retryMaxMS: 1000 } };
    expect(errorsOf(typo)).toEqual([expect.stringMatching(/^\/delivery must NOT have additional properties .*retryMaxMS/)]);
    expect(errorsOf({ compnent: {} })).toEqual([expect.stringMatching(/additionalProperty.*compnent/)]);
  });

  it("takes a credential as <key>File, not both ways at once, and needs required credentials one way or the other", () => {
    const jpush = (fields: object) => ({ apps: [{ id: "chat", jpush: { appKey: "0123456789abcdef01234567", ...fields } }] });
    expect(errorsOf(jpush({ masterSecretFile: "/run/secrets/jpush" }))).toEqual([]);
    expect(errorsOf(jpush({ masterSecret: "abcdef0123456789abcdef01" }))).toEqual([]);
    expect(errorsOf(jpush({}))).not.toEqual([]);
    expect(errorsOf(jpush({ masterSecret: "abcdef0123456789abcdef01", masterSecretFile: "/run/secrets/jpush" }))).not.toEqual([]);
    expect(errorsOf({ apps: [{ id: "a", fcm: { serviceAccountFile: "/run/sa.json" } }] })).toEqual([]);
  });

  it("checks values as the server does: enums, ranges, patterns", () => {
    expect(errorsOf({ component: { mode: "both" } })).not.toEqual([]);
    expect(errorsOf({ http: { port: 70000 } })).not.toEqual([]);
    expect(errorsOf({ component: { service: "http://wrong" } })).not.toEqual([]);
    expect(errorsOf({ log: { level: "debug" }, database: { migrateOnStart: "false" } })).toEqual([]);
  });
});
