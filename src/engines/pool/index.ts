/** Each variant's engine on its own worker thread, behind a bounded priority queue. */
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
export type {
  PoolGenerateRequest,
  PoolResult,
  PoolToken,
  PromptInput,
  TokenAlternative,
  VariantInfo,
  WorkerInit,
} from "./protocol.js";
