/** Routing: why requests went where they went, how often the answer was not the first choice, and how good the predictions are. */
import { DashboardBuilder, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { PanelBuilder as TimeSeries } from "@grafana/grafana-foundation-sdk/timeseries";
import { prom, prometheusVariable, rateSum, tierVariable } from "./common.js";

const ANSWERED = rateSum("tritgate_requests_total", ["tier"], 'variant!="none"');
const shareOfAnswered = (metric: string) => `${rateSum(metric, ["tier"])} / ${ANSWERED}`;
const meanSeconds = (histogram: string) =>
  `${rateSum(`${histogram}_sum`, ["variant"])} / ${rateSum(`${histogram}_count`, ["variant"])}`;

export function routing() {
  return new DashboardBuilder("tritgate / Routing")
    .uid("tritgate-routing")
    .tags(["tritgate"])
    .description(
      "Routing decisions by reason; degraded, fallback and cascade rates; predicted against measured latency.",
    )
    .refresh("30s")
    .time({ from: "now-1h", to: "now" })
    .withVariable(prometheusVariable())
    .withVariable(tierVariable())
    .withRow(new RowBuilder("Decisions"))
    .withPanel(
      new TimeSeries()
        .title("Routing decisions by reason")
        .unit("reqps")
        .withTarget(prom(rateSum("tritgate_routing_decisions_total", ["reason"]), "{{reason}}"))
        .gridPos({ h: 8, w: 12, x: 0, y: 1 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Requests by answering variant and status")
        .unit("reqps")
        .withTarget(prom(rateSum("tritgate_requests_total", ["variant", "status"]), "{{variant}} {{status}}"))
        .gridPos({ h: 8, w: 12, x: 12, y: 1 }),
    )
    .withRow(new RowBuilder("Not the plain answer"))
    .withPanel(
      new TimeSeries()
        .title("Degraded answers (share of answered, by tier)")
        .description("Answered by a variant below the request's quality need.")
        .unit("percentunit")
        .withTarget(prom(shareOfAnswered("tritgate_degraded_requests_total"), "{{tier}}"))
        .gridPos({ h: 8, w: 8, x: 0, y: 10 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Fallback answers (share of answered, by tier)")
        .description("Answered by a variant other than the router's first choice, which failed or refused.")
        .unit("percentunit")
        .withTarget(prom(shareOfAnswered("tritgate_fallback_requests_total"), "{{tier}}"))
        .gridPos({ h: 8, w: 8, x: 8, y: 10 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Cascade escalations (share of answered, by tier)")
        .unit("percentunit")
        .withTarget(prom(shareOfAnswered("tritgate_escalated_requests_total"), "{{tier}}"))
        .gridPos({ h: 8, w: 8, x: 16, y: 10 }),
    )
    .withRow(new RowBuilder("Predictions and health"))
    .withPanel(
      new TimeSeries()
        .title("Predicted against measured request time (mean, by variant)")
        .unit("s")
        .withTarget(prom(meanSeconds("tritgate_predicted_request_duration_seconds"), "{{variant}} predicted", "A"))
        .withTarget(prom(meanSeconds("tritgate_request_duration_seconds"), "{{variant}} measured", "B"))
        .gridPos({ h: 8, w: 12, x: 0, y: 19 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Circuit breaker by variant (0 closed, 1 half open, 2 open)")
        .min(0)
        .max(2)
        .withTarget(prom("max by (variant) (tritgate_variant_breaker_state)", "{{variant}}"))
        .gridPos({ h: 8, w: 12, x: 12, y: 19 }),
    )
    .build();
}
