export { analyse, SIGNAL_FLAG_THRESHOLD } from "./analyse.js";
export {
  type AttemptSample,
  type CanaryBounds,
  type CanaryFigures,
  type CanaryInput,
  type CanaryRule,
  type CanaryVerdict,
  canaryPoint,
  DEFAULT_CANARY_BOUNDS,
  judgeCanary,
  routesToCanary,
  summarize,
  type WindowStats,
} from "./canary.js";
export {
  allowsAttempt,
  type BreakerConfig,
  type BreakerState,
  beginAttempt,
  CLOSED_BREAKER,
  DEFAULT_BREAKER_CONFIG,
  recordFailure,
  recordSuccess,
  secondsUntilRetry,
} from "./circuit.js";
export { costOf, priceOf, type ServingCost } from "./cost.js";
export { decide, shouldEscalate } from "./decide.js";
export { type PredictContext, predict, type RateObservation, seedRates, updateRates } from "./predict.js";
export type {
  Candidate,
  CandidateIssue,
  CardRates,
  CostParams,
  Decision,
  DecisionInput,
  EngineKind,
  Escalation,
  LiveRates,
  OverloadPolicy,
  Prediction,
  QualityHint,
  ReasonCode,
  RejectedDecision,
  RejectedReason,
  Rejection,
  RequestFeatures,
  RoutedDecision,
  RoutedReason,
  RouteMessage,
  RouteRequest,
  Signal,
  SignalKind,
  Strategy,
  Tier,
  TierPrices,
  VariantState,
} from "./types.js";
export { REASON_CODES, REJECTED_REASONS, ROUTED_REASONS } from "./types.js";
