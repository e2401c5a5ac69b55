import { z } from "zod";
import { SETTING_DOCS } from "./config-docs.js";
import { configSchema } from "./config-schema.js";
import { FILE_BACKED_KEYS } from "./load-config.js";

// The config file's JSON Schema, for editors (YAML language server, VS Code) and CI checks of config
// files: generated from the zod schema the server validates with, so the two cannot drift. It
// describes the file as written, before the server's own steps: every credential may be given as
// `<key>File: /path` instead (one of the two, not both), and values have their input types.

export type JsonSchema = {
  [k: string]: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
};

export function configJsonSchema(): JsonSchema {
  // draft-07: what the YAML language server and most editors understand best.
  const schema = z.toJSONSchema(configSchema, { io: "input", target: "draft-7", unrepresentable: "any" }) as JsonSchema;
  addFileVariants(schema);
  addDescriptions(schema, "");
  return {
    ...schema,
    title: "xmpp-push configuration file",
    description: "YAML or JSON file given with --config or XMPP_PUSH_CONFIG. Environment variables override it.",
  };
}

/** Beside each credential `k`, a `kFile` path; a required credential may be given either way, never both. */
function addFileVariants(node: JsonSchema): void {
  for (const key of ["items", "additionalProperties"] as const) {
    const sub = node[key];
    if (sub !== null && typeof sub === "object") addFileVariants(sub as JsonSchema);
  }
  for (const sub of [...(node.anyOf ?? []), ...((node.allOf as JsonSchema[] | undefined) ?? [])]) addFileVariants(sub);
  if (!node.properties) return;
  for (const sub of Object.values(node.properties)) addFileVariants(sub);
  const alternatives: JsonSchema[] = [];
  for (const k of Object.keys(node.properties).filter((p) => FILE_BACKED_KEYS.has(p))) {
    node.properties[`${k}File`] = {
      type: "string",
      minLength: 1,
      description: `Path of a file holding ${k} (its content, trimmed, is the value)`,
    };
    alternatives.push({ not: { required: [k, `${k}File`] } });
    if (node.required?.includes(k)) {
      node.required = node.required.filter((r) => r !== k);
      alternatives.push({ anyOf: [{ required: [k] }, { required: [`${k}File`] }] });
    }
  }
  if (node.required?.length === 0) delete node.required;
  if (alternatives.length > 0) node.allOf = [...((node.allOf as JsonSchema[] | undefined) ?? []), ...alternatives];
}

/** Each setting's meaning (config-docs.ts) as its description: editors show it on hover. */
function addDescriptions(node: JsonSchema, path: string): void {
  const doc = SETTING_DOCS[path];
  if (doc && node.description === undefined) node.description = doc.description;
  for (const [k, sub] of Object.entries(node.properties ?? {})) addDescriptions(sub, path ? `${path}.${k}` : k);
  if (node.type === "array" && node.items) addDescriptions(node.items, `${path}[]`);
}
