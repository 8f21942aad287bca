/** Every dashboard by the name its JSON file and `GET /dashboards/{name}.json` use. */
import { efficiency } from "./efficiency.js";
import { routing } from "./routing.js";
import { sla } from "./sla.js";
import { tenants } from "./tenants.js";

export const DASHBOARDS = { efficiency, routing, sla, tenants } as const;
export type DashboardName = keyof typeof DASHBOARDS;

interface PanelTree {
  id?: number;
  panels?: PanelTree[];
}

/** Panel ids unique within a dashboard, rows and their nested panels included, in reading order. */
function numberPanels(dashboard: { panels?: PanelTree[] }): void {
  let next = 1;
  const walk = (panels: PanelTree[] | undefined) => {
    for (const panel of panels ?? []) {
      panel.id = next++;
      walk(panel.panels);
    }
  };
  walk(dashboard.panels);
}

/** The committed JSON text of each dashboard: stable key order from the builders, two-space indent. */
export function renderDashboards(): Record<DashboardName, string> {
  const out = {} as Record<DashboardName, string>;
  for (const [name, build] of Object.entries(DASHBOARDS) as [DashboardName, () => { panels?: PanelTree[] }][]) {
    const dashboard = build();
    numberPanels(dashboard);
    out[name] = `${JSON.stringify(dashboard, null, 2)}\n`;
  }
  return out;
}
