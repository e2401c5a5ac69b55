import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

// One version for the npm package, the container image and the Helm chart, recorded in the changelog.
const read = (p: string) => readFileSync(new URL(`../../../${p}`, import.meta.url), "utf8");
const pkg = JSON.parse(read("package.json")) as {
  version: string;
  scripts: Record<string, string>;
  files: string[];
  bin: Record<string, string>;
};
const chart = parseYaml(read("helm/xmpp-push/Chart.yaml")) as { version: string; appVersion: string };
const changelog = read("CHANGELOG.md");

describe("release metadata", () => {
  it("the version is semantic", () => {
    expect(pkg.version).toMatch(/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$/);
  });

  it("the image and the chart carry the package's version", () => {
    expect(/^ARG VERSION=(\S+)$/m.exec(read("Dockerfile"))?.[1]).toBe(pkg.version);
    expect(read("Dockerfile")).toMatch(/org\.opencontainers\.image\.version="\$\{VERSION\}"/);
    expect(chart.appVersion).toBe(pkg.version);
    expect(String(chart.version)).toBe(pkg.version);
  });

  it("the changelog follows Keep a Changelog: an Unreleased section, then the current version with its date", () => {
    const releases = [...changelog.matchAll(/^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$/gm)].map((m) => ({ version: m[1]!, date: m[2] }));
    expect(releases[0]).toEqual({ version: "Unreleased", date: undefined });
    expect(releases[1]).toEqual({ version: pkg.version, date: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/) });
    const sections = new Set([...changelog.matchAll(/^### (\w+)$/gm)].map((m) => m[1]!));
    for (const s of sections) expect(["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"]).toContain(s);
  });

  it("npm pack builds first and ships the compiled binary", () => {
    expect(pkg.scripts.prepack).toBe("npm run build");
    expect(pkg.files).toContain("dist");
    expect(pkg.bin["xmpp-push"]).toBe("dist/src/cli/main.js");
  });
});
