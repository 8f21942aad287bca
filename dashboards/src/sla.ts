/** SLA: latency quantiles per tier against their bounds, violations, and the queue. */
import { DashboardBuilder, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { PanelBuilder as TimeSeries } from "@grafana/grafana-foundation-sdk/timeseries";
import { prom, prometheusVariable, quantile, rateSum, tierVariable } from "./common.js";

const QUANTILES = [0.5, 0.95, 0.99] as const;
const REF_IDS = ["A", "B", "C"] as const;

/** One panel, three quantiles per tier; each is a quantile of the merged buckets, never an average of quantiles. */
function quantilePanel(title: string, histogram: string, y: number, x: number) {
  const panel = new TimeSeries().title(title).unit("s").gridPos({ h: 8, w: 12, x, y });
  QUANTILES.forEach((q, i) => {
    panel.withTarget(prom(quantile(q, histogram, ["tier"]), `{{tier}} p${q * 100}`, REF_IDS[i]));
  });
  return panel;
}

export function sla() {
  return new DashboardBuilder("tritgate / SLA")
    .uid("tritgate-sla")
    .tags(["tritgate"])
    .description(
      "TTFT and total time p50/p95/p99 by tier, SLA violations by tier and bound, queue wait and depth, the capacity signal.",
    )
    .refresh("30s")
    .time({ from: "now-1h", to: "now" })
    .withVariable(prometheusVariable())
    .withVariable(tierVariable())
    .withRow(new RowBuilder("Latency by tier"))
    .withPanel(
      quantilePanel("Time to first token p50 / p95 / p99 by tier", "tritgate_time_to_first_token_seconds", 1, 0),
    )
    .withPanel(quantilePanel("Request time p50 / p95 / p99 by tier", "tritgate_request_duration_seconds", 1, 12))
    .withPanel(
      new TimeSeries()
        .title("Time per output token p95 by variant")
        .unit("s")
        .withTarget(prom(quantile(0.95, "tritgate_time_per_output_token_seconds", ["variant"]), "{{variant}}"))
        .gridPos({ h: 8, w: 12, x: 0, y: 9 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Gateway overhead p99 by tier")
        .unit("s")
        .withTarget(prom(quantile(0.99, "tritgate_gateway_overhead_seconds", ["tier"]), "{{tier}}"))
        .gridPos({ h: 8, w: 12, x: 12, y: 9 }),
    )
    .withRow(new RowBuilder("Violations"))
    .withPanel(
      new TimeSeries()
        .title("SLA violations by tier and bound")
        .unit("reqps")
        .withTarget(prom(rateSum("tritgate_sla_violations_total", ["tier", "reason"]), "{{tier}} {{reason}}"))
        .gridPos({ h: 8, w: 12, x: 0, y: 18 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Share of requests over their total-time SLA, by tier")
        .unit("percentunit")
        .withTarget(
          prom(
            `${rateSum("tritgate_sla_violations_total", ["tier"], 'reason="total"')} / ${rateSum("tritgate_requests_total", ["tier"])}`,
            "{{tier}}",
          ),
        )
        .gridPos({ h: 8, w: 12, x: 12, y: 18 }),
    )
    .withRow(new RowBuilder("Queue"))
    .withPanel(
      new TimeSeries()
        .title("Queue wait p95 by tier")
        .unit("s")
        .withTarget(prom(quantile(0.95, "tritgate_queue_wait_seconds", ["tier"]), "{{tier}}"))
        .gridPos({ h: 8, w: 12, x: 0, y: 27 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Running and waiting requests by variant")
        .withTarget(prom("sum by (variant) (tritgate_variant_running_requests)", "{{variant}} running", "A"))
        .withTarget(prom("sum by (variant) (tritgate_variant_waiting_requests)", "{{variant}} waiting", "B"))
        .gridPos({ h: 8, w: 12, x: 12, y: 27 }),
    )
    .withRow(new RowBuilder("Capacity"))
    .withPanel(
      new TimeSeries()
        .title("Recommended replicas (what the HPA scales to) against replicas reporting")
        .description(
          "Each replica reports how many replicas like it its load needs (busiest variant's running+waiting over slots at 80% target occupancy, or p95 TTFT/SLA when over 1); the sum is the fleet's need (docs/CAPACITY.md).",
        )
        .withTarget(prom("sum(tritgate_capacity_recommended_replicas)", "recommended", "A"))
        .withTarget(prom("count(tritgate_capacity_recommended_replicas)", "reporting", "B"))
        .gridPos({ h: 8, w: 12, x: 0, y: 36 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Variants unloaded for idleness")
        .withTarget(prom("sum by (variant) (tritgate_variant_unloaded)", "{{variant}}"))
        .gridPos({ h: 8, w: 12, x: 12, y: 36 }),
    )
    .build();
}
