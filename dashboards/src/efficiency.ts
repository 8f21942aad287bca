/** Efficiency: what each variant delivers per token, and what routing to ternary saves. */
import { DashboardBuilder, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { PanelBuilder as StatPanel } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TimeSeries } from "@grafana/grafana-foundation-sdk/timeseries";
import { prom, prometheusVariable, rateSum, tierVariable } from "./common.js";

const tokensBy = (by: readonly string[]) =>
  `(${rateSum("tritgate_prompt_tokens_total", by)} + ${rateSum("tritgate_completion_tokens_total", by)})`;
/** a counter's rate per million prompt + completion tokens, by variant */
const perMillionTokens = (metric: string, by: readonly string[] = ["variant"]) =>
  `1e6 * ${rateSum(metric, by)} / ignoring(source) group_left() ${tokensBy(["variant"])}`;
/** answered requests: a variant ran them */
const ANSWERED = 'variant!="none"';

export function efficiency() {
  return new DashboardBuilder("tritgate / Efficiency")
    .uid("tritgate-efficiency")
    .tags(["tritgate"])
    .description("Tokens per second, cost and energy per million tokens by variant; ternary share and savings.")
    .refresh("30s")
    .time({ from: "now-1h", to: "now" })
    .withVariable(prometheusVariable())
    .withVariable(tierVariable())
    .withRow(new RowBuilder("Throughput and unit cost"))
    .withPanel(
      new TimeSeries()
        .title("Output tokens per second by variant")
        .unit("short")
        .withTarget(prom(rateSum("tritgate_completion_tokens_total", ["variant"]), "{{variant}}"))
        .gridPos({ h: 8, w: 12, x: 0, y: 1 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Cost per 1M tokens by variant")
        .description("Serving cost (CPU core-hours at each variant's price) per million prompt + completion tokens.")
        .unit("currencyUSD")
        .withTarget(prom(perMillionTokens("tritgate_cost_dollars_total"), "{{variant}}"))
        .gridPos({ h: 8, w: 12, x: 12, y: 1 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Energy per 1M tokens by variant")
        .description(
          'source="rapl" is measured package energy split by CPU time; "estimate" is CPU time x watts per core.',
        )
        .unit("joule")
        .withTarget(
          prom(perMillionTokens("tritgate_energy_joules_total", ["variant", "source"]), "{{variant}} ({{source}})"),
        )
        .gridPos({ h: 8, w: 12, x: 0, y: 9 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Model memory by variant")
        .unit("bytes")
        .withTarget(prom("sum by (variant) (tritgate_variant_model_bytes)", "{{variant}}"))
        .gridPos({ h: 8, w: 12, x: 12, y: 9 }),
    )
    .withRow(new RowBuilder("Ternary routing"))
    .withPanel(
      new StatPanel()
        .title("Ternary share of answered requests")
        .unit("percentunit")
        .withTarget(
          prom(
            `${rateSum("tritgate_requests_total", [], 'engine="bitnet"')} / ${rateSum("tritgate_requests_total", [], ANSWERED)}`,
            "ternary",
          ),
        )
        .gridPos({ h: 6, w: 8, x: 0, y: 18 }),
    )
    .withPanel(
      new StatPanel()
        .title("Savings against the fp32 counterfactual")
        .description("1 - cost / what the same requests would have cost on the family's fp32 reference.")
        .unit("percentunit")
        .withTarget(
          prom(
            `1 - ${rateSum("tritgate_cost_dollars_total")} / ${rateSum("tritgate_counterfactual_cost_dollars_total")}`,
            "saved",
          ),
        )
        .gridPos({ h: 6, w: 8, x: 8, y: 18 }),
    )
    .withPanel(
      new TimeSeries()
        .title("Cost against the fp32 counterfactual (per hour)")
        .unit("currencyUSD")
        .withTarget(prom(`3600 * ${rateSum("tritgate_cost_dollars_total")}`, "actual", "A"))
        .withTarget(prom(`3600 * ${rateSum("tritgate_counterfactual_cost_dollars_total")}`, "fp32 counterfactual", "B"))
        .gridPos({ h: 6, w: 8, x: 16, y: 18 }),
    )
    .withRow(
      new RowBuilder("Machine")
        .collapsed(true)
        .withPanel(
          new StatPanel()
            .title("Kernel ISA and threads")
            .withTarget(prom("max by (isa) (tritgate_kernel_info)", "{{isa}}", "A"))
            .withTarget(prom("max(tritgate_kernel_threads)", "threads", "B"))
            .gridPos({ h: 5, w: 8, x: 0, y: 25 }),
        )
        .withPanel(
          new TimeSeries()
            .title("Batch occupancy by variant")
            .unit("percentunit")
            .withTarget(prom("max by (variant) (tritgate_variant_batch_occupancy_ratio)", "{{variant}}"))
            .gridPos({ h: 5, w: 8, x: 8, y: 25 }),
        )
        .withPanel(
          new TimeSeries()
            .title("Gateway process CPU")
            .unit("percentunit")
            .withTarget(prom(`rate(tritgate_process_cpu_seconds_total${"[$__rate_interval]"})`, "cpu"))
            .gridPos({ h: 5, w: 8, x: 16, y: 25 }),
        ),
    )
    .build();
}
