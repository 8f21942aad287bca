/**
 * What the gateway sees of a model: the same interface for a BitNet variant on our kernels and
 * a full-precision variant on onnxruntime, so routing can treat them alike.
 */
import type { Constraint } from "./constrain/index.js";
import type { SamplingParams, TokenLogprob } from "./sampler/index.js";
import type { ChatMessage, ChatTool, Tokenizer } from "./tokenizer/index.js";

/** A sequence being extended: its KV cache lives as long as the session. */
export interface LogitsSession {
  /** positions already processed */
  readonly length: number;
  readonly capacity: number;
  /**
   * Runs `tokens` at the next positions; returns the logits of the last one (vocab floats). Read them
   * before the session's next append: a batching scheduler writes every step's into the same array.
   */
  append(tokens: readonly number[]): Promise<Float32Array>;
  /**
   * Like `append`, but returns the logits of every one of `tokens`, row-major
   * [tokens.length x vocab]: row i predicts the token after tokens[i] (scoring, perplexity).
   */
  appendAll(tokens: readonly number[]): Promise<Float32Array>;
  /** Hands the session's buffers back to its engine for reuse; the session is not used again. */
  close?(): void;
}

export interface GenerationRequest {
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly sampling?: SamplingParams;
  readonly stop?: readonly string[];
  /** keep going past end-of-sequence tokens (benchmarks) */
  readonly ignoreEos?: boolean;
  readonly signal?: AbortSignal;
  /** only tokens that keep the output a valid prefix of the grammar may be sampled (constrain/) */
  readonly constraint?: Constraint | undefined;
  /**
   * false: nothing reads the tokens' `logprob` (no logprobs asked for, no cascade judging them), so greedy
   * steps without alternatives skip the log-partition over the vocabulary and report NaN. Tokens, text
   * and every other field are unchanged. Default true.
   */
  readonly logprobs?: boolean | undefined;
}

export interface GeneratedToken {
  readonly id: number;
  /** text this token made safe to show (may be empty while a character or stop string is pending) */
  readonly text: string;
  readonly logprob: number;
  readonly top: readonly TokenLogprob[];
}

export type FinishReason = "stop" | "length" | "abort";

export interface GenerationResult {
  readonly text: string;
  readonly tokens: readonly GeneratedToken[];
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
}

/** One sequence's part of a batched step (`Engine.forwardBatch`): the tokens to run at its next positions. */
export interface SequenceStep<S extends LogitsSession = LogitsSession> {
  readonly session: S;
  readonly tokens: readonly number[];
  /** logits of every token (row-major [tokens x vocab]) instead of the last one's */
  readonly allLogits?: boolean;
  /**
   * Without allLogits: vocab floats the engine may write the last token's logits into and return
   * instead of a new array, so a decode loop reuses one buffer per sequence (a fresh vocab-sized
   * array every step is most of a small model's garbage). An engine that does not reuse ignores it.
   */
  readonly logitsInto?: Float32Array;
}

export interface Engine {
  readonly kind: "bitnet" | "onnx";
  /** file the variant was loaded from */
  readonly source: string;
  readonly tokenizer: Tokenizer;
  readonly vocabSize: number;
  readonly contextLength: number;
  /** bytes one cached position takes across all layers (keys and values), when the engine knows it */
  readonly kvBytesPerToken?: number;
  newSession(contextLength?: number): LogitsSession;
  /**
   * One step for several of this engine's open sessions (what continuous batching runs): each
   * advances by its tokens at its own next positions; returns, per step in order, the logits its
   * `append` (or `appendAll`, with `allLogits`) would have returned. Absent: the engine runs one
   * sequence per call. A step that cannot run throws before changing any session.
   */
  forwardBatch?(steps: readonly SequenceStep[]): Float32Array[] | Promise<Float32Array[]>;
  /** Chat messages (and the tools the template may describe) → prompt token ids, through the model's chat template. */
  encodeChat(messages: readonly ChatMessage[], tools?: readonly ChatTool[]): number[];
  generate(request: GenerationRequest, onToken?: (token: GeneratedToken) => void): Promise<GenerationResult>;
  close(): Promise<void>;
}
