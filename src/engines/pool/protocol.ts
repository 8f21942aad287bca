/**
 * Messages between a variant's handle (main thread) and its worker. Everything here crosses
 * postMessage, so it is plain data: no class instances, no functions.
 */
import type { KvCacheType } from "../../../kernels/index.js";
import type { ConstraintSpec } from "../constrain/index.js";
import type { FinishReason } from "../engine.js";
import type { SamplingParams } from "../sampler/index.js";
import type { ChatMessage, ChatTool } from "../tokenizer/index.js";
import type { CpuTurnSeat } from "./cpu-turns.js";

/** What the worker is started with (`workerData`). */
export interface WorkerInit {
  readonly name: string;
  readonly path: string;
  readonly threads?: number | undefined;
  readonly contextLength?: number | undefined;
  readonly activations?: "int8" | "float" | undefined;
  /** what a BitNet model's KV caches store (the engine's default when unset) */
  readonly kvCacheType?: KvCacheType | undefined;
  /** the process's CPU turn lock: every forward call of this worker's engine runs inside a turn */
  readonly cpuTurns?: CpuTurnSeat | undefined;
  /** generations the handle runs at once (the default KV budget holds this many full contexts) */
  readonly slots?: number | undefined;
  /** false: run each generation's passes alone even when the engine batches (A/B benchmarks); default true */
  readonly batching?: boolean | undefined;
  /** tokens one batched step may run (decodes, then prefill chunks); default 256 */
  readonly stepTokenBudget?: number | undefined;
  /** most KV-cache positions the worker's generations reserve at once; default: see `defaultKvTokenBudget` */
  readonly kvTokenBudget?: number | undefined;
  /** how long a generation may wait for KV budget before it is refused; default 10 s */
  readonly maxKvWaitMs?: number | undefined;
}

/** What the worker reports once the model is loaded. */
export interface VariantInfo {
  readonly kind: "bitnet" | "onnx";
  readonly contextLength: number;
  readonly vocabSize: number;
  readonly loadMs: number;
  /** the worker's KV budget in positions (what all its generations may reserve at once); a pool worker always says */
  readonly kvTokenBudget?: number;
  /** bytes one cached position takes (keys and values of every layer), when the engine says */
  readonly kvBytesPerToken?: number;
  /** whether the engine steps its sequences together (`Engine.forwardBatch`); a pool worker always says */
  readonly batched?: boolean;
}

/** The prompt: chat messages go through the model's chat template, text is encoded as is. */
export type PromptInput =
  | {
      readonly kind: "chat";
      readonly messages: readonly ChatMessage[];
      /** OpenAI `tools`, passed to the chat template as Hugging Face templates take them */
      readonly tools?: readonly ChatTool[] | undefined;
    }
  | { readonly kind: "text"; readonly text: string };

export interface PoolGenerateRequest {
  readonly input: PromptInput;
  readonly maxTokens: number;
  /**
   * maxTokens came from the client: a prompt plus maxTokens beyond the context is a ContextOverflowError
   * (OpenAI answers 400), not a shorter answer. Unset: maxTokens is a ceiling, cut to what the context leaves.
   */
  readonly strictMaxTokens?: boolean | undefined;
  readonly sampling?: SamplingParams | undefined;
  readonly stop?: readonly string[] | undefined;
  readonly ignoreEos?: boolean | undefined;
  /** also send each token's text and UTF-8 bytes (and its alternatives'), for OpenAI logprobs */
  readonly tokenInfo?: boolean | undefined;
  /**
   * false: the caller reads no token's `logprob` (no logprobs asked for, no cascade judging them): greedy
   * steps skip the log-partition and tokens carry NaN (`GenerationRequest.logprobs`). Default true.
   */
  readonly logprobs?: boolean | undefined;
  /** the output must be this JSON / schema / tool call (compiled in the worker) */
  readonly constraint?: ConstraintSpec | undefined;
  /** higher runs first when the variant is busy; default 0 */
  readonly priority?: number | undefined;
}

export interface TokenAlternative {
  readonly id: number;
  readonly logprob: number;
  /** present when the request asked for tokenInfo */
  readonly token?: string;
  readonly bytes?: readonly number[];
}

export interface PoolToken {
  readonly id: number;
  /** text this token made safe to show (may be empty while a character or stop string is pending) */
  readonly text: string;
  readonly logprob: number;
  readonly top: readonly TokenAlternative[];
  /** the token's own text and bytes, when the request asked for tokenInfo */
  readonly token?: string;
  readonly bytes?: readonly number[];
}

export interface PoolResult {
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  /** time spent waiting for a slot */
  readonly queueMs: number;
  readonly tokens: readonly PoolToken[];
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  /** present when the request was at fault, with what rebuilds its error class on the main thread */
  readonly request?:
    | {
        readonly kind: "context";
        readonly needed: number;
        readonly capacity: number;
        readonly param: "messages" | "max_tokens";
      }
    | { readonly kind: "template" }
    | { readonly kind: "invalid"; readonly param: string | null };
  /** present when the worker refused for capacity (the KV budget stayed spent), with what rebuilds it */
  readonly capacity?: { readonly kind: "kv"; readonly limit: number; readonly tokens: number };
}

export type ToWorker =
  | {
      readonly type: "generate";
      readonly id: number;
      readonly request: Omit<PoolGenerateRequest, "priority">;
    }
  | { readonly type: "cancel"; readonly id: number }
  /** test hook: the worker exits abnormally, as a crashed native kernel would take it down */
  | { readonly type: "crash" };

/** One batched step that ran: how many sequences and tokens it carried. */
export interface StepRun {
  readonly batchSize: number;
  readonly tokens: number;
}

/** One sampled token of one generation. */
export interface TokenMessage {
  readonly id: number;
  readonly token: PoolToken;
  /**
   * KV-cache positions this generation's session holds as the token is sampled: the prompt and the
   * tokens before this one (the sampled token enters the cache on the next forward pass)
   */
  readonly kvTokens: number;
}

export type FromWorker =
  | { readonly type: "ready"; readonly info: VariantInfo }
  /** the generation's KV reservation does not fit the budget now: it waits in the worker */
  | { readonly type: "kv-wait"; readonly id: number }
  /** the generation has its KV reservation and runs */
  | { readonly type: "admitted"; readonly id: number; readonly kvReserved: number }
  | { readonly type: "load-error"; readonly error: SerializedError }
  /**
   * what ran since the last message, in order: the batched steps (`forwardBatch`), then the tokens
   * sampled (one per sequence of a step). One message for a step and all its tokens, or for a few
   * short steps (outbox.ts: a token waits at most ~1 ms plus one short step; a first token does not wait).
   */
  | { readonly type: "progress"; readonly steps: readonly StepRun[]; readonly tokens: readonly TokenMessage[] }
  | {
      readonly type: "done";
      readonly id: number;
      readonly result: Omit<PoolResult, "tokens" | "queueMs">;
    }
  | { readonly type: "error"; readonly id: number; readonly error: SerializedError };
