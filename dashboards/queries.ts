/**
 * Every query of a dashboard's JSON, rows' nested panels included, with its template variables
 * substituted as Grafana would for "All": what the Prometheus and PostgreSQL tests run.
 */

export interface PanelQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly refId: string;
  readonly kind: "prometheus" | "sql";
  /** the query as committed */
  readonly raw: string;
}

interface PanelJson {
  readonly title?: string;
  readonly type?: string;
  readonly datasource?: { readonly type?: string };
  readonly targets?: readonly {
    readonly refId?: string;
    readonly expr?: string;
    readonly rawSql?: string;
    readonly datasource?: { readonly type?: string };
  }[];
  readonly panels?: readonly PanelJson[];
}

export function panelQueries(dashboard: {
  readonly title: string;
  readonly panels?: readonly PanelJson[];
}): PanelQuery[] {
  const out: PanelQuery[] = [];
  const walk = (panels: readonly PanelJson[] | undefined) => {
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) {
        const type = target.datasource?.type ?? panel.datasource?.type;
        const base = { dashboard: dashboard.title, panel: panel.title ?? "(untitled)", refId: target.refId ?? "" };
        if (type === "prometheus" && target.expr !== undefined)
          out.push({ ...base, kind: "prometheus", raw: target.expr });
        else if (type === "grafana-postgresql-datasource" && target.rawSql !== undefined) {
          out.push({ ...base, kind: "sql", raw: target.rawSql });
        } else throw new Error(`${dashboard.title} / ${panel.title}: a query of unknown kind (${type})`);
      }
      walk(panel.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

/** PromQL with the dashboards' variables as "All" and Grafana's interval macros given values. */
export function substitutePromql(expr: string, rateInterval: string): string {
  return expr.replaceAll("$__rate_interval", rateInterval).replaceAll('=~"$tier"', '=~".*"');
}

/** SQL with Grafana's time macros expanded over [from, to] as the PostgreSQL data source does. */
export function substituteSql(sql: string, from: Date, to: Date): string {
  return sql.replace(
    /\$__timeFilter\(([a-z_]+)\)/g,
    (_m, column: string) => `${column} BETWEEN '${from.toISOString()}' AND '${to.toISOString()}'`,
  );
}

/** Anything left that looks like a variable is a query the tests could not run as Grafana would. */
export function unsubstituted(query: string): string | null {
  return /\$\{?[a-zA-Z_]+/.exec(query)?.[0] ?? null;
}
