// ESLint flat config. Beyond typescript-eslint's recommended rules it enforces the layering that
// ARCHITECTURE.md describes: domain/ and ports/ know nothing of adapters (XML, HTTP, SQL, providers),
// and no module cycle can form anywhere in src/. @xmpp/jid is allowed in the domain: it is a pure JID
// parser (no XML, no I/O), and JID rules belong to the domain.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { importX } from "eslint-plugin-import-x";

const ADAPTER_FOLDERS = ["store", "xmpp", "http", "providers", "delivery", "registration", "cli", "observability", "config"];
const ADAPTER_PACKAGES = [
  "pg",
  "knex",
  "knex-pglite",
  "@electric-sql/pglite",
  "fastify",
  "@fastify/*",
  "@xmpp/xml",
  "@xmpp/component-core",
  "@xmpp/reconnect",
  "@xmpp/client",
  "axios",
  "undici",
  "node:http",
  "node:http2",
  "prom-client",
  "pino",
];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", ".tools/**", ".test-runs/**", "coverage/**", "data/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2024, sourceType: "module" },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports", disallowTypeAnnotations: false }],
    },
  },
  {
    files: ["src/**/*.ts"],
    ...importX.flatConfigs.typescript,
    settings: { ...importX.flatConfigs.typescript.settings, "import-x/resolver": { typescript: { project: "tsconfig.json" } } },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
  {
    files: ["src/domain/**/*.ts", "src/ports/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ADAPTER_FOLDERS.flatMap((f) => [`../${f}/*`, `../../${f}/*`]),
              message: "domain/ and ports/ must not import adapters (see ARCHITECTURE.md): depend on a port instead.",
            },
            { group: ADAPTER_PACKAGES, message: "domain/ and ports/ know nothing of XML, HTTP, SQL or providers." },
          ],
        },
      ],
    },
  },
);
