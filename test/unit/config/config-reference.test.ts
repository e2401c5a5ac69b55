import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SETTING_DOCS } from "../../../src/config/config-docs.js";
import { settingRows, withSettingsTable } from "../../../src/config/config-reference.js";
import { ENV_VARS } from "../../../src/config/load-config.js";

// The README's configuration reference against the schema the server validates with.
const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
const rows = settingRows();

describe("README configuration reference", () => {
  it("documents every setting of the config schema", () => {
    expect(rows.length).toBeGreaterThan(60);
    expect(rows.filter((r) => r.doc === undefined).map((r) => r.path)).toEqual([]);
  });

  it("documents no setting the schema does not have", () => {
    const paths = new Set(rows.map((r) => r.path));
    expect(Object.keys(SETTING_DOCS).filter((p) => !paths.has(p))).toEqual([]);
  });

  it("its settings table is the one generated from the schema (run `npm run docs:config` after changing a setting)", () => {
    expect(withSettingsTable(readme)).toBe(readme);
  });

  it("lists every environment variable the server reads, in the variables table too", () => {
    const envTable = readme.slice(readme.indexOf("### Environment variables"), readme.indexOf("### Config file"));
    for (const v of ENV_VARS) expect(envTable, v.name).toContain(`| \`${v.name}\``);
  });

  it("names the settings the issue found missing", () => {
    for (const p of [
      "apps[].apns.address",
      "apps[].apns.port",
      "apps[].apns.ca",
      "apps[].apns.passphrase",
      "apps[].apns.alertExpirySeconds",
      "apps[].fcm.baseUrl",
      "apps[].fcm.tokenUrl",
      "apps[].jpush.timeoutMs",
      "delivery.auditFlushMs",
      "delivery.auditBatchSize",
    ]) {
      expect(readme).toContain(`| \`${p}\``);
    }
    expect(readme).toContain("`XMPP_PUSH_COMPONENT_MODE`");
  });
});
