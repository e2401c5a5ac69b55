import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The package version, read once from package.json so `--version`, /metrics' build_info and the XMPP
// software-version reply all say what npm, the image and the chart say. The file sits two levels up
// from the sources (src/observability) and three from the build (dist/src/observability).
function readPackageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    dir = dirname(dir);
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "xmpp-push" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // not here: one level further up
    }
  }
  return "unknown";
}

export const PACKAGE_VERSION = readPackageVersion();

/** What `xmpp_push_build_info` carries: this package's version and the Node.js running it. */
export function buildInfo(): { version: string; node: string } {
  return { version: PACKAGE_VERSION, node: process.version };
}
