/** Each variant's engine on its own worker thread, behind a bounded priority queue. */
export { type CpuTurnStats, type CpuTurns, createCpuTurns } from "./cpu-turns.js";
export { EngineError, GenerationAbortedError, QueueFullError, VariantUnavailableError } from "./errors.js";
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
