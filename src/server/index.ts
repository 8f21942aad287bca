/** The gateway's HTTP surface: `createApp(deps)` (or `createGateway` for its parts) and `startServer`. */
export { createApp, createGateway, DEFAULT_BODY_LIMIT, type GatewayApp } from "./app.js";
export { type CanaryPolicy, type RegistryDeps, UNVERSIONED, VariantVersions } from "./canary/versions.js";
export { ApiError, type OpenAIErrorBody } from "./errors.js";
export { AUTO_MODEL, Gateway } from "./gateway/gateway.js";
export type { ObserverDeps, ObserverFactory, OutcomeObserver, RequestOutcome } from "./outcome/outcome.js";
export {
  type DecisionRecorder,
  type DecisionRow,
  MemoryRecorder,
  type RecordedEntry,
  type RequestRow,
} from "./recorder.js";
export { type RunningServer, type ServeOptions, startServer } from "./serve.js";
export type { AppDeps, GatewayEnv, ServedVariant, VariantProfile, VariantRuntime } from "./types.js";
