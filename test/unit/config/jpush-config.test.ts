import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_THIRD_PARTY_CHANNEL } from "../../../src/config/jpush-config-schema.js";
import { ConfigError, loadConfig } from "../../../src/config/load-config.js";

// The jpush section: vendor channels checked per vendor and field, the data centre's report host,
// receipts off by default, and what strategy.confirmWithinSeconds needs.

const dir = mkdtempSync(join(tmpdir(), "xp-jpush-config-"));
let n = 0;
function load(lines: string[]) {
  const p = join(dir, `c${(n += 1)}.yaml`);
  writeFileSync(
    p,
    [
      "apps:",
      "  - id: chat",
      "    jpush:",
      "      appKey: 0123456789abcdefABCDEF01",
      "      masterSecret: masterSecret0123456789ab",
      ...lines,
    ].join("\n"),
  );
  return loadConfig({ env: {}, file: p });
}
function problems(lines: string[]): readonly string[] {
  try {
    load(lines);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("jpush config", () => {
  it("defaults: IM vendor options, classification 1, receipts off, the default report host", () => {
    const j = load([]).apps[0]!.jpush!;
    expect(j.thirdPartyChannel).toEqual(DEFAULT_THIRD_PARTY_CHANNEL);
    expect(j.classification).toBe(1);
    expect(j.receipts).toEqual({ enabled: false, windowSeconds: 600, pollSeconds: 10 });
    expect(j.reportBaseUrl).toBe("https://report.jpush.cn/v3");
  });

  it("takes the Beijing report host for an app in the Beijing data centre", () => {
    expect(load(["      baseUrl: https://bjapi.push.jiguang.cn"]).apps[0]!.jpush!.reportBaseUrl).toBe(
      "https://bjapi.push.jiguang.cn/v3/report",
    );
  });

  it("refuses unknown vendors, unknown fields and wrong types, each with its path", () => {
    const p = problems([
      "      thirdPartyChannel:",
      "        xiaomi: { channel_id: chat, chanel: typo }",
      "        vivo: { classification: 2 }",
      "        oppo: { notify_level: high }",
      "        samsung: {}",
      "      timeToLiveSeconds: 9999999",
    ]);
    expect(p.some((x) => x.includes("apps[0].jpush.thirdPartyChannel.xiaomi") && x.includes("chanel"))).toBe(true);
    expect(p.some((x) => x.includes("apps[0].jpush.thirdPartyChannel.vivo.classification"))).toBe(true);
    expect(p.some((x) => x.includes("apps[0].jpush.thirdPartyChannel.oppo.notify_level"))).toBe(true);
    expect(p.some((x) => x.includes("apps[0].jpush.thirdPartyChannel") && x.includes("samsung"))).toBe(true);
    expect(p.some((x) => x.includes("apps[0].jpush.timeToLiveSeconds"))).toBe(true);
  });

  it("lets confirmWithinSeconds through only with receipts on, a provider after jpush, and inside the window", () => {
    const strategy = (providers: string, within: number) => [
      "    strategy:",
      `      providers: [${providers}]`,
      `      confirmWithinSeconds: ${within}`,
    ];
    const fcm = [
      "    fcm:",
      '      serviceAccount: \'{"client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\\nx\\n-----END PRIVATE KEY-----","project_id":"p"}\'',
    ];
    const path = "apps[0].strategy.confirmWithinSeconds";
    expect(problems([...strategy("jpush, fcm", 30), ...fcm]).find((x) => x.startsWith(`${path}`))).toMatch(/jpush\.receipts\.enabled/);
    expect(problems(["      receipts: { enabled: true }", ...strategy("jpush", 30)]).find((x) => x.startsWith(path))).toMatch(
      /provider after jpush/,
    );
    expect(
      problems(["      receipts: { enabled: true, windowSeconds: 60 }", ...strategy("jpush, fcm", 60), ...fcm]).find((x) =>
        x.startsWith(path),
      ),
    ).toMatch(/shorter than/);
    expect(
      problems(["      receipts: { enabled: true }", ...strategy("jpush, fcm", 30), "      mode: all", ...fcm]).find((x) =>
        x.startsWith(path),
      ),
    ).toMatch(/mode: fallback only/);
    expect(load(["      receipts: { enabled: true }", ...strategy("jpush, fcm", 30), ...fcm]).apps[0]!.strategy.confirmWithinSeconds).toBe(
      30,
    );
  });
});
