import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PRODUCTION_NODE_FLAGS } from "../../support/app-process.js";

// `npm ci && npm start` is the README's first line: the embedded default must start with the flags that
// keep its memory small, as the image does, and from the sources (no build step on a fresh clone).
const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { scripts: Record<string, string> };

describe("npm start", () => {
  const argv = pkg.scripts.start!.split(" ");

  it("runs node itself, with the production flags NODE_OPTIONS cannot carry", () => {
    expect(argv[0]).toBe("node");
    for (const flag of PRODUCTION_NODE_FLAGS) expect(argv).toContain(flag);
    // The image's young generation; the old generation stays uncapped (npm start may run on Postgres).
    expect(argv).toContain("--max-semi-space-size=4");
  });

  it("loads the TypeScript sources through tsx in the same process and serves", () => {
    expect(argv.slice(-4)).toEqual(["--import", "tsx", "src/cli/main.ts", "serve"]);
  });
});
