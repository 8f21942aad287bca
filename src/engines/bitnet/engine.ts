/** A BitNet GGUF file as an Engine: tokenizer and hyper-parameters from the file, kernels below. */

import { type Isa, type KvCacheType, kvBytesPerPosition } from "../../../kernels/index.js";
import {
  GGUFError,
  type GGUFFile,
  metaBool,
  metaNumber,
  metaNumbers,
  metaString,
  metaStrings,
  readGGUF,
} from "../../formats/gguf/index.js";
import type { Engine, LogitsSession, SequenceStep } from "../engine.js";
import { encodeChatWith, generateWith } from "../generate.js";
import { type GGUFVocabExtras, type Tokenizer, tokenizerFromGGUF } from "../tokenizer/index.js";
import { type BitNetConfig, readBitNetConfig } from "./config.js";
import { type BatchStep, BitNetForward } from "./forward.js";
import type { KVCache } from "./kv-cache.js";
import type { StepProfile } from "./profile.js";
import { loadBitNetWeights } from "./weights.js";

export interface BitNetEngineOptions {
  readonly isa?: Isa;
  /** "float" runs ternary layers on fp32 activations (the reference mode) */
  readonly activations?: "int8" | "float";
  /** cap the context below the model's (KV cache memory) */
  readonly contextLength?: number;
  /** what the KV caches store: f32 (default) or f16, llama.cpp's --cache-type-k/v */
  readonly kvCacheType?: KvCacheType;
  /** time per forward-pass step (diagnostics) */
  readonly profile?: StepProfile;
}

/** The tokenizer.ggml.* keys as the tokenizer module wants them. */
export function ggufVocab(file: GGUFFile): GGUFVocabExtras {
  const tokens = metaStrings(file, "tokenizer.ggml.tokens");
  const model = metaString(file, "tokenizer.ggml.model");
  if (tokens === undefined || model === undefined) {
    throw new GGUFError(file.path, "has no tokenizer (tokenizer.ggml.model and tokenizer.ggml.tokens are required)");
  }
  const id = (key: string) => metaNumber(file, `tokenizer.ggml.${key}`);
  return {
    model,
    pre: metaString(file, "tokenizer.ggml.pre"),
    tokens,
    scores: metaNumbers(file, "tokenizer.ggml.scores"),
    tokenTypes: metaNumbers(file, "tokenizer.ggml.token_type"),
    merges: metaStrings(file, "tokenizer.ggml.merges"),
    bosId: id("bos_token_id"),
    eosId: id("eos_token_id"),
    eotId: id("eot_token_id"),
    unknownId: id("unknown_token_id"),
    paddingId: id("padding_token_id"),
    addBos: metaBool(file, "tokenizer.ggml.add_bos_token"),
    addEos: metaBool(file, "tokenizer.ggml.add_eos_token"),
    chatTemplate: metaString(file, "tokenizer.chat_template"),
    // llama.cpp applies it to SentencePiece vocabularies only (its BPE tokenizer ignores the key)
    addSpacePrefix: model === "llama" ? metaBool(file, "tokenizer.ggml.add_space_prefix") : undefined,
  };
}

/** A sequence: its own KV cache and position. `append` is a batch of one. */
export class BitNetSession implements LogitsSession {
  private closed = false;

  constructor(
    private readonly forward: BitNetForward,
    private readonly cache: KVCache,
    private readonly recycle: (cache: KVCache) => void,
  ) {}

  /** This session's part of a batched step (throws when closed or not of `forward`). */
  stepWith(forward: BitNetForward, tokens: readonly number[], allLogits = false, logitsInto?: Float32Array): BatchStep {
    this.check();
    if (forward !== this.forward) throw new Error("this session belongs to another engine");
    return { cache: this.cache, tokens, allLogits, logitsInto };
  }

  get length(): number {
    return this.cache.length;
  }

  get capacity(): number {
    return this.cache.capacity;
  }

  async append(tokens: readonly number[]): Promise<Float32Array> {
    this.check();
    return this.forward.forward(tokens, this.cache);
  }

  async appendAll(tokens: readonly number[]): Promise<Float32Array> {
    this.check();
    return this.forward.forward(tokens, this.cache, true);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.recycle(this.cache);
  }

  private check(): void {
    if (this.closed) throw new Error("this session was closed");
  }
}

/** KV caches kept for reuse per engine: a request's cache is a few MB to hundreds of MB; reallocating it is GC churn. */
const POOLED_CACHES = 4;

export class BitNetEngine implements Engine {
  readonly kind = "bitnet" as const;

  constructor(
    readonly source: string,
    readonly config: BitNetConfig,
    readonly tokenizer: Tokenizer,
    private readonly forward: BitNetForward,
    readonly contextLength: number,
    /** bytes of tensor data held (the file's data section) */
    readonly weightBytes: number,
  ) {}

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** what its KV caches store */
  get kvCacheType(): KvCacheType {
    return this.forward.kvCacheType;
  }

  /** keys and values of every layer (what `KVCache` allocates per position) */
  get kvBytesPerToken(): number {
    return this.config.layers * kvBytesPerPosition(this.config, this.forward.kvCacheType);
  }

  private readonly freeCaches: KVCache[] = [];

  /** Caches waiting for reuse (tests and diagnostics). */
  get pooledCaches(): number {
    return this.freeCaches.length;
  }

  /**
   * A new sequence (its own KV cache, reused from closed ones of a similar size). Sequences are
   * created and closed independently; `forwardBatch` steps any set of open ones together.
   */
  newSession(contextLength = this.contextLength): BitNetSession {
    const wanted = Math.max(1, Math.min(contextLength, this.contextLength));
    // reuse a free cache that fits without wasting more than half of it
    const index = this.freeCaches.findIndex((c) => c.capacity >= wanted && c.capacity <= 2 * wanted);
    const cache = index >= 0 ? this.freeCaches.splice(index, 1)[0]! : this.forward.newCache(wanted);
    return new BitNetSession(this.forward, cache, (used) => {
      used.truncate(0);
      this.freeCaches.push(used);
      if (this.freeCaches.length > POOLED_CACHES) this.freeCaches.shift();
    });
  }

  /**
   * One step for several sequences (the continuous-batching scheduler's entry): each runs its
   * tokens at its own next positions, a prefill of several tokens beside decodes of one, and every
   * linear layer is one matmul over all their rows. Returns per step, in order, the logits of its
   * last token (or of all its tokens with `allLogits`), bit for bit what `append` on each alone
   * returns. Synchronous: the engine's worker thread runs it (see kernels/README.md). A step whose
   * tokens would overflow any sequence's cache throws before changing any.
   */
  forwardBatch(steps: readonly SequenceStep[]): Float32Array[] {
    return this.forward.forwardBatch(
      steps.map((s) => {
        if (!(s.session instanceof BitNetSession)) throw new Error("this session belongs to another engine");
        return s.session.stepWith(this.forward, s.tokens, s.allLogits, s.logitsInto);
      }),
    );
  }

  encodeChat(...[messages, tools]: Parameters<Engine["encodeChat"]>): number[] {
    return encodeChatWith(this.tokenizer, messages, tools);
  }

  generate(...[request, onToken]: Parameters<Engine["generate"]>): ReturnType<Engine["generate"]> {
    // a request can use at most prompt + max tokens positions; a full-context KV cache would be
    // ~630 MB per request on the 2B-4T shape
    const positions = request.prompt.length + Math.max(0, request.maxTokens) + 1;
    const session = this.newSession(positions);
    return generateWith(session, this.tokenizer, this.vocabSize, request, onToken).finally(() => session.close?.());
  }

  async close(): Promise<void> {}
}

export function bitnetEngineFromFile(file: GGUFFile, options: BitNetEngineOptions = {}): BitNetEngine {
  const config = readBitNetConfig(file);
  const weights = loadBitNetWeights(file, config);
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromGGUF(ggufVocab(file));
  } catch (e) {
    if (e instanceof GGUFError) throw e;
    throw new GGUFError(file.path, `has a tokenizer tritgate cannot use: ${(e as Error).message}`);
  }
  const forward = new BitNetForward(config, weights, options);
  const contextLength = Math.min(options.contextLength ?? config.contextLength, config.contextLength);
  const bytes = file.tensors.reduce((a, t) => a + t.byteSize, 0);
  return new BitNetEngine(file.path, config, tokenizer, forward, contextLength, bytes);
}

export async function loadBitNetEngine(path: string, options: BitNetEngineOptions = {}): Promise<BitNetEngine> {
  return bitnetEngineFromFile(await readGGUF(path), options);
}
