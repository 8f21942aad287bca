export {
  type CapacityInput,
  type CapacityPolicy,
  DEFAULT_CAPACITY_POLICY,
  recommendedReplicas,
  TtftSlaWindow,
  type VariantLoad,
} from "./capacity.js";
export { DASHBOARDS_DIR, dashboardsRoute } from "./dashboards-route.js";
export {
  createEnergyMeter,
  type EnergyFigure,
  type EnergyMeter,
  type EnergyMeterOptions,
  type EnergySource,
} from "./energy.js";
export { BREAKER_STATE_VALUE, BUCKETS, createMetrics, type GatewayMetrics, type MetricsSources } from "./metrics.js";
export { NO_VARIANT, observeRequest, type RequestMetricsInput, type SlaBound, slaViolations } from "./observe.js";
export {
  type RecentRequest,
  RecentRequests,
  type RecentSummary,
  type SummaryOptions,
  summarize,
  type TierSla,
} from "./recent.js";
export { metricsRoute } from "./route.js";
export {
  type BreakerStateName,
  type KernelInfoSource,
  type RecorderStats,
  type RecorderStatsSource,
  type ServedVariantLike,
  servedVariantSource,
  type VariantGaugeState,
  type VariantSourceOptions,
  type VariantStateSource,
} from "./sources.js";
export { type UiOptions, uiRoute } from "./ui-route.js";
