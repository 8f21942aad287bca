import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { panelQueries, substitutePromql, substituteSql, unsubstituted } from "./queries.js";
import { DASHBOARDS, renderDashboards } from "./src/index.js";

const JSON_DIR = join(import.meta.dirname, "json");

describe("dashboards as code", () => {
  it("the committed JSON is what `npm run dashboards` generates", () => {
    const rendered = renderDashboards();
    expect(readdirSync(JSON_DIR).sort()).toEqual(
      Object.keys(DASHBOARDS)
        .map((n) => `${n}.json`)
        .sort(),
    );
    for (const [name, text] of Object.entries(rendered)) {
      expect(
        readFileSync(join(JSON_DIR, `${name}.json`), "utf8"),
        `dashboards/json/${name}.json is stale: run npm run dashboards`,
      ).toBe(text);
    }
  });

  it("every panel has a query; panel ids are unique; queries name only tritgate_ metrics", () => {
    for (const text of Object.values(renderDashboards())) {
      const dashboard = JSON.parse(text);
      const ids: number[] = [];
      const walk = (panels: { id: number; type: string; targets?: unknown[]; panels?: unknown[] }[]) => {
        for (const p of panels) {
          ids.push(p.id);
          if (p.type !== "row")
            expect(p.targets?.length ?? 0, `${dashboard.title}: a panel without a query`).toBeGreaterThan(0);
          walk((p.panels ?? []) as never);
        }
      };
      walk(dashboard.panels);
      expect(new Set(ids).size).toBe(ids.length);
      for (const q of panelQueries(dashboard)) {
        if (q.kind !== "prometheus") continue;
        const names = q.raw.match(/[a-z_]+(?=\{|\s*\)|\[)/g) ?? [];
        for (const name of names.filter((n) => n.includes("_") && !n.startsWith("__"))) {
          expect(name, `${q.panel}: ${q.raw}`).toMatch(/^tritgate_/);
        }
      }
    }
  });

  it("finds the panels nested in collapsed rows, and substitutes every variable", () => {
    const efficiency = JSON.parse(renderDashboards().efficiency);
    const collapsed = efficiency.panels.find((p: { collapsed?: boolean }) => p.collapsed);
    expect(collapsed.panels.length).toBeGreaterThan(0);
    const queries = panelQueries(efficiency);
    expect(queries.map((q) => q.panel)).toContain(collapsed.panels[0].title);
    for (const text of Object.values(renderDashboards())) {
      for (const q of panelQueries(JSON.parse(text))) {
        const ready =
          q.kind === "prometheus" ? substitutePromql(q.raw, "1m") : substituteSql(q.raw, new Date(0), new Date());
        expect(unsubstituted(ready), `${q.dashboard} / ${q.panel}`).toBeNull();
      }
    }
  });

  it("lays panels on Grafana's 24-column grid without overlaps, and every data source is a declared variable", () => {
    interface Grid {
      x: number;
      y: number;
      w: number;
      h: number;
    }
    interface Panel {
      title: string;
      type: string;
      gridPos: Grid;
      datasource?: { uid: string };
      targets?: { datasource?: { uid: string } }[];
      panels?: Panel[];
    }
    const overlap = (a: Grid, b: Grid) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    for (const text of Object.values(renderDashboards())) {
      const dashboard = JSON.parse(text) as {
        title: string;
        panels: Panel[];
        templating: { list: { name: string; type: string }[] };
      };
      const sources = new Set(
        dashboard.templating.list.filter((v) => v.type === "datasource").map((v) => `$${v.name}`),
      );
      const all = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
      for (const p of all) {
        expect(["row", "timeseries", "stat", "table"], p.title).toContain(p.type);
        expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
        for (const uid of [p.datasource?.uid, ...(p.targets ?? []).map((t) => t.datasource?.uid)]) {
          if (uid !== undefined) expect(sources, `${dashboard.title} / ${p.title}`).toContain(uid);
        }
      }
      for (let i = 0; i < all.length; i++) {
        for (let j = i + 1; j < all.length; j++) {
          expect(overlap(all[i]!.gridPos, all[j]!.gridPos), `${all[i]!.title} overlaps ${all[j]!.title}`).toBe(false);
        }
      }
    }
  });
});
