import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { dashboardValidator, grafanaSchemaVersion } from "./grafana-schema.js";
import { DASHBOARDS } from "./src/index.js";

const JSON_DIR = join(import.meta.dirname, "json");
const committed = (name: string) => JSON.parse(readFileSync(join(JSON_DIR, `${name}.json`), "utf8"));

describe(`dashboards against Grafana's schema (@grafana/schema ${grafanaSchemaVersion()})`, () => {
  let check: (dashboard: unknown) => string[];
  beforeAll(() => {
    check = dashboardValidator();
  }, 120_000);

  for (const name of Object.keys(DASHBOARDS)) {
    it(`json/${name}.json conforms`, () => {
      expect(check(committed(name))).toEqual([]);
    });
  }

  it("refuses what Grafana would not read: a wrong type, an unknown field, a panel field misspelt", () => {
    const dashboard = committed("sla");
    dashboard.refresh = 5;
    dashboard.panels[0].gridPos.w = "wide";
    dashboard.panels[0].fieldconfig = dashboard.panels[0].fieldConfig;
    dashboard.schemaVersoin = 42;
    const errors = check(dashboard);
    expect(errors).toContain("/refresh: must be string");
    expect(errors).toContain("/panels/0/gridPos/w: must be number");
    expect(errors).toContain("/: must NOT have additional properties (schemaVersoin)");
    expect(errors.some((e) => e.startsWith("/panels/0: must NOT have additional properties (fieldconfig)"))).toBe(true);
  });

  it("a nested row's panels are checked too", () => {
    const dashboard = committed("efficiency");
    const row = dashboard.panels.find(
      (p: { type: string; panels?: unknown[] }) => p.type === "row" && p.panels?.length,
    );
    expect(row, "the efficiency dashboard has a collapsed row with panels").toBeDefined();
    row.panels[0].targets = "up";
    expect(check(dashboard).length).toBeGreaterThan(0);
  });
});
