// Rewrites the settings table of README.md from the config schema and src/config/config-docs.ts:
// `npm run docs:config`. test/unit/config/config-reference.test.ts fails while the README is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { withSettingsTable } from "../src/config/config-reference.js";

const file = new URL("../README.md", import.meta.url);
const before = readFileSync(file, "utf8");
const after = withSettingsTable(before);
writeFileSync(file, after);
process.stdout.write(after === before ? "README.md settings table is up to date\n" : "README.md settings table rewritten\n");
