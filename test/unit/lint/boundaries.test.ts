import { resolve } from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

// The layering ARCHITECTURE.md describes is enforced by eslint.config.js: these check that the rules
// really fire, on code that is linted as if it stood at the named path (nothing is written to disk).
const root = resolve(import.meta.dirname, "../../..");
const eslint = new ESLint({ cwd: root });

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(root, filePath) });
  return result!.messages.map((m) => m.ruleId ?? m.message);
}

describe("lint: layer boundaries", () => {
  it("refuses an import of the store inside src/domain", async () => {
    const ids = await ruleIds(
      'import { openDatabase } from "../store/database.js";\nexport const open = openDatabase;\n',
      "src/domain/boundary-probe.ts",
    );
    expect(ids).toContain("no-restricted-imports");
  });

  it("refuses adapter packages (SQL, HTTP, XML) inside src/ports", async () => {
    const ids = await ruleIds('import type { Knex } from "knex";\nexport type K = Knex;\n', "src/ports/boundary-probe.ts");
    expect(ids).toContain("no-restricted-imports");
  });

  it("lets an adapter import the store, and the domain import the domain", async () => {
    expect(
      await ruleIds(
        'import { openDatabase } from "../store/database.js";\nexport const open = openDatabase;\n',
        "src/http/boundary-probe.ts",
      ),
    ).toEqual([]);
    expect(await ruleIds('import { bareJid } from "./jid.js";\nexport const j = bareJid;\n', "src/domain/boundary-probe.ts")).toEqual([]);
  });
}, 60_000);
