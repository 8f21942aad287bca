/**
 * Tenants: spend, tokens, requests and SLA misses per tenant, from PostgreSQL. Tenants are never
 * Prometheus labels (one series per tenant would grow without bound); these panels read the
 * recorder's daily rollup `daily_usage` (tenant × variant × UTC day), never a scan of `requests`.
 */
import { DashboardBuilder, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { PanelBuilder as Table } from "@grafana/grafana-foundation-sdk/table";
import { PanelBuilder as TimeSeries } from "@grafana/grafana-foundation-sdk/timeseries";
import { POSTGRES, postgresVariable, SqlQueryBuilder } from "./common.js";

const sql = (...lines: string[]) => lines.join("\n");

export function tenants() {
  return new DashboardBuilder("tritgate / Tenants")
    .uid("tritgate-tenants")
    .tags(["tritgate"])
    .description("Spend, tokens, requests and SLA misses per tenant, from the request log's daily rollup.")
    .refresh("5m")
    .time({ from: "now-30d", to: "now" })
    .withVariable(postgresVariable())
    .withRow(new RowBuilder("Per tenant over the range"))
    .withPanel(
      new Table()
        .title("Spend and usage per tenant")
        .datasource(POSTGRES)
        .withTarget(
          new SqlQueryBuilder(
            sql(
              "SELECT tenant_id AS tenant,",
              "  sum(requests) AS requests,",
              "  sum(tokens_in + tokens_out) AS tokens,",
              "  sum(price) AS spend,",
              "  sum(cost) AS cost,",
              "  sum(counterfactual_cost) - sum(cost) AS saved_vs_fp32,",
              "  sum(energy_j) AS energy_j",
              "FROM daily_usage",
              "WHERE $__timeFilter(day)",
              "GROUP BY tenant_id",
              "ORDER BY spend DESC",
            ),
          ).refId("A"),
        )
        .gridPos({ h: 8, w: 24, x: 0, y: 1 }),
    )
    .withPanel(
      new Table()
        .title("Requests, errors and SLA misses per tenant")
        .datasource(POSTGRES)
        .withTarget(
          new SqlQueryBuilder(
            sql(
              "SELECT tenant_id AS tenant,",
              "  sum(requests) AS requests,",
              "  sum(errors) AS errors,",
              "  sum(sla_misses) AS sla_misses,",
              "  sum(sla_misses)::float8 / greatest(sum(requests), 1) AS sla_miss_share,",
              "  sum(degraded) AS degraded,",
              "  sum(escalated) AS escalated",
              "FROM daily_usage",
              "WHERE $__timeFilter(day)",
              "GROUP BY tenant_id",
              "ORDER BY sla_misses DESC, requests DESC",
            ),
          ).refId("A"),
        )
        .gridPos({ h: 8, w: 24, x: 0, y: 9 }),
    )
    .withRow(new RowBuilder("Per tenant per day"))
    .withPanel(
      new TimeSeries()
        .title("Spend per tenant per day")
        .datasource(POSTGRES)
        .unit("currencyUSD")
        .withTarget(
          new SqlQueryBuilder(
            sql(
              "SELECT day::timestamptz AS time, tenant_id AS metric, sum(price) AS spend",
              "FROM daily_usage",
              "WHERE $__timeFilter(day)",
              "GROUP BY 1, 2",
              "ORDER BY 1",
            ),
            "time_series",
          ).refId("A"),
        )
        .gridPos({ h: 8, w: 12, x: 0, y: 18 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Tokens per tenant per day")
        .datasource(POSTGRES)
        .withTarget(
          new SqlQueryBuilder(
            sql(
              "SELECT day::timestamptz AS time, tenant_id AS metric, sum(tokens_in + tokens_out) AS tokens",
              "FROM daily_usage",
              "WHERE $__timeFilter(day)",
              "GROUP BY 1, 2",
              "ORDER BY 1",
            ),
            "time_series",
          ).refId("A"),
        )
        .gridPos({ h: 8, w: 12, x: 12, y: 18 }),
    )
    .build();
}
