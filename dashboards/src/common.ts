/** What the dashboards share: data sources, the tier variable, and query builders. */
import type { Builder, Dataquery } from "@grafana/grafana-foundation-sdk/cog";
import { DatasourceVariableBuilder, QueryVariableBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";

export const PROMETHEUS = { type: "prometheus", uid: "$datasource" } as const;
export const POSTGRES = { type: "grafana-postgresql-datasource", uid: "$postgres" } as const;

export const prometheusVariable = () =>
  new DatasourceVariableBuilder("datasource").label("Prometheus").type("prometheus");

export const postgresVariable = () =>
  new DatasourceVariableBuilder("postgres").label("PostgreSQL").type("grafana-postgresql-datasource");

/** Tiers seen by Prometheus; "All" matches every tier. */
export const tierVariable = () =>
  new QueryVariableBuilder("tier")
    .label("Tier")
    .datasource(PROMETHEUS)
    .query({ query: "label_values(tritgate_requests_total, tier)", refId: "tiers" })
    .definition("label_values(tritgate_requests_total, tier)")
    .multi(true)
    .includeAll(true)
    .allValue(".*")
    .refresh(2);

/** The tier filter every Prometheus query carries. */
export const TIER = 'tier=~"$tier"';
export const RATE = "[$__rate_interval]";

/** `sum by (labels) (rate(metric{tier filter, extra}[interval]))` */
export function rateSum(metric: string, by: readonly string[] = [], extra = ""): string {
  const filter = extra === "" ? TIER : `${TIER}, ${extra}`;
  const group = by.length > 0 ? ` by (${by.join(", ")})` : "";
  return `sum${group} (rate(${metric}{${filter}}${RATE}))`;
}

export function prom(expr: string, legend: string, refId = "A"): DataqueryBuilder {
  return new DataqueryBuilder().datasource(PROMETHEUS).expr(expr).legendFormat(legend).refId(refId).range();
}

/** `histogram_quantile(q, …)` over a histogram's buckets, grouped by `by`. */
export function quantile(q: number, histogram: string, by: readonly string[]): string {
  return `histogram_quantile(${q}, ${rateSum(`${histogram}_bucket`, [...by, "le"])})`;
}

/** A raw-SQL query for Grafana's PostgreSQL data source (the SDK ships no builder for it). */
export interface SqlQuery {
  refId?: string;
  hide?: boolean;
  datasource?: { type: string; uid: string };
  rawSql: string;
  rawQuery: boolean;
  editorMode: "code";
  format: "table" | "time_series";
  _implementsDataqueryVariant(): void;
}

export class SqlQueryBuilder implements Builder<Dataquery> {
  private readonly internal: SqlQuery;

  constructor(rawSql: string, format: SqlQuery["format"] = "table") {
    this.internal = {
      datasource: { ...POSTGRES },
      rawSql,
      rawQuery: true,
      editorMode: "code",
      format,
      _implementsDataqueryVariant() {},
    };
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  build(): SqlQuery {
    return this.internal;
  }
}
