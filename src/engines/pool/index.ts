/** Each variant's engine on its own worker thread, behind a bounded priority queue. */
export { engineOfPath, engineThreads } from "./cpu-budget.js";
export { type CpuTurnStats, type CpuTurns, createCpuTurns } from "./cpu-turns.js";
export {
  CapacityError,
  EngineError,
  GenerationAbortedError,
  KvBudgetExhaustedError,
  QueueFullError,
  VariantUnavailableError,
} from "./errors.js";
export {
  startVariantWorker,
  type VariantWorker,
  type VariantWorkerOptions,
  type VariantWorkerState,
} from "./handle.js";
export { startVariantInstances, type VariantInstancesOptions } from "./instances.js";
export { DEFAULT_MAX_KV_WAIT_MS, defaultKvTokenBudget } from "./kv-budget.js";
export type {
  PoolGenerateRequest,
  PoolResult,
  PoolToken,
  PromptInput,
  TokenAlternative,
  VariantInfo,
  WorkerInit,
} from "./protocol.js";
export { DEFAULT_STEP_TOKEN_BUDGET } from "./scheduler.js";
