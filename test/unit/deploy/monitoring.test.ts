import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createMetrics } from "../../../src/observability/metrics.js";

// The alert rules and the Grafana dashboard shipped in helm/xmpp-push/files against what the server exports
// and what docs/operations.md tells operators to watch.
const file = (p: string) => readFileSync(new URL(`../../../${p}`, import.meta.url), "utf8");
const rules = parseYaml(file("helm/xmpp-push/files/prometheus-rules.yaml")) as {
  groups: Array<{ rules: Array<{ alert: string; expr: string; labels: { severity: string } }> }>;
};
const alerts = rules.groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(file("helm/xmpp-push/files/grafana-dashboard.json")) as {
  panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
};
const dashboardExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
const operations = file("docs/operations.md");
const watchTable = operations.slice(
  operations.indexOf("## Metrics and alerts worth setting"),
  operations.indexOf("Plus `xmpp_push_registrations"),
);
// One row per thing to watch; its first cell names one or more metrics.
const watchRows = watchTable
  .split("\n")
  .filter((l) => l.startsWith("| `xmpp_push"))
  .map((l) => [...l.split("|")[1]!.matchAll(/`(xmpp_push_[a-z_]+)/g)].map((m) => m[1]!));

async function exportedNames(): Promise<Set<string>> {
  const m = createMetrics(
    { queueStats: async () => ({ depth: 0, oldestAgeMs: 0 }), registrationCounts: async () => [], apnsCertificates: () => [] },
    { apps: [] },
  );
  const text = await m.registry.metrics();
  return new Set(
    [...text.matchAll(/^# TYPE (\S+) (\w+)/gm)].flatMap(([, name, type]) =>
      type === "histogram" ? [name!, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!],
    ),
  );
}
const namesIn = (expr: string) => [...expr.matchAll(/\b((?:xmpp_push|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!);

describe("alert rules and dashboard", () => {
  it("docs/operations.md lists metrics to watch, and every one has an alert rule and a dashboard panel", () => {
    expect(watchRows.length).toBeGreaterThanOrEqual(10);
    for (const row of watchRows) {
      expect(
        alerts.some((a) => row.some((metric) => a.expr.includes(metric))),
        `alert on ${row.join(", ")}`,
      ).toBe(true);
      for (const metric of row)
        expect(
          dashboardExprs.some((e) => e.includes(metric)),
          `panel for ${metric}`,
        ).toBe(true);
    }
  });

  it("use only metrics the server exports", async () => {
    const exported = await exportedNames();
    const used = [...new Set([...alerts.map((a) => a.expr), ...dashboardExprs].flatMap(namesIn))];
    expect(used.length).toBeGreaterThan(15);
    expect(used.filter((n) => !exported.has(n))).toEqual([]);
  });

  it("every alert has a severity, a summary-worthy name and a distinct name", () => {
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
    for (const a of alerts) expect(["critical", "warning"], a.alert).toContain(a.labels.severity);
  });
});
