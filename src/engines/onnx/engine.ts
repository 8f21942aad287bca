/**
 * A full-precision decoder LLM exported to ONNX (Hugging Face Optimum convention) as an Engine,
 * run on onnxruntime-node's CPU provider. One InferenceSession per model, shared by every
 * LogitsSession; each LogitsSession carries its own KV cache as the graph's present.* outputs,
 * fed back as past_key_values.* on the next step.
 */
import { readFile, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { halfBitsToFloat32 } from "../../util/half.js";
import type { Engine, LogitsSession } from "../engine.js";
import { ContextOverflowError, ModelLoadError } from "../errors.js";
import { encodeChatWith, generateWith } from "../generate.js";
import { loadTokenizerDir, type Tokenizer } from "../tokenizer/index.js";
import { type DecoderSignature, type IndexType, readDecoderSignature } from "./signature.js";

export interface OnnxEngineOptions {
  /** intra-op threads; default TRITGATE_THREADS, else one per physical core */
  readonly threads?: number;
  /** context length; default config.json's max_position_embeddings (and capped by it) */
  readonly contextLength?: number;
  /**
   * intra-op threads spin-wait for work after each run (onnxruntime's default, on); off when engines
   * take turns on the cores, where a spinning thread burns the other engine's turn
   */
  readonly spinning?: boolean;
}

function indexTensor(type: IndexType, values: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
  if (type === "int32") return new ort.Tensor("int32", Int32Array.from(values), dims);
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i] as number);
  return new ort.Tensor("int64", data, dims);
}

/** The last `rows` x `vocab` entries of a logits tensor as float32, whatever float type ORT handed over. */
function lastRows(data: unknown, vocab: number, rows: number): Float32Array {
  if (!ArrayBuffer.isView(data) || data instanceof DataView) throw new Error("logits are not a numeric tensor");
  const values = data as unknown as ArrayLike<number> & { subarray(a: number, b?: number): ArrayLike<number> };
  const count = rows * vocab;
  if (values.length < count) {
    throw new Error(`the graph returned logits for ${values.length / vocab} positions, expected ${rows}`);
  }
  const offset = values.length - count;
  if (data instanceof Float32Array) return data.slice(offset);
  // float16 arrives as raw bits in a Uint16Array unless the runtime has Float16Array
  if (data instanceof Uint16Array) return halfBitsToFloat32(data, offset, count);
  return Float32Array.from(values.subarray(offset));
}

/** The graph plus what it needs to run one step; shared by all sessions of a model. */
export class OnnxDecoder {
  private closed = false;
  private readonly fetches: readonly string[];

  constructor(
    readonly file: string,
    readonly session: ort.InferenceSession,
    readonly signature: DecoderSignature,
    readonly vocabSize: number,
  ) {
    this.fetches = ["logits", ...signature.names.flatMap((n) => [n.presentKey, n.presentValue])];
  }

  /** An empty past ([1, kv_heads, 0, head_dim]) for the first step. */
  private emptyPast(dim: number): ort.Tensor {
    const { kvType, kvHeads } = this.signature;
    const data = kvType === "float16" ? new Uint16Array(0) : new Float32Array(0);
    return new ort.Tensor(kvType, data, [1, kvHeads, 0, dim]);
  }

  /**
   * Runs `tokens` after `pastLength` cached positions. `past` holds [key0, value0, key1, ...] or
   * undefined for an empty cache; returns the last position's logits (or, with `allLogits`,
   * every position's, row-major [tokens x vocab]) and the new cache.
   */
  async step(
    tokens: readonly number[],
    pastLength: number,
    past: readonly ort.Tensor[] | undefined,
    allLogits = false,
  ): Promise<{ logits: Float32Array; present: ort.Tensor[] }> {
    if (this.closed) throw new Error(`${this.file}: the engine is closed`);
    const sig = this.signature;
    const n = tokens.length;
    const total = pastLength + n;
    const owned: ort.Tensor[] = [];
    const feeds: Record<string, ort.Tensor> = {};
    const feed = (name: string, tensor: ort.Tensor) => {
      feeds[name] = tensor;
      owned.push(tensor);
    };
    feed("input_ids", indexTensor(sig.inputIdsType, tokens, [1, n]));
    if (sig.attentionMaskType !== undefined) {
      feed("attention_mask", indexTensor(sig.attentionMaskType, new Array<number>(total).fill(1), [1, total]));
    }
    if (sig.positionIdsType !== undefined) {
      const positions = Array.from({ length: n }, (_, i) => pastLength + i);
      feed("position_ids", indexTensor(sig.positionIdsType, positions, [1, n]));
    }
    if (sig.useCacheBranch)
      feed("use_cache_branch", new ort.Tensor("bool", Uint8Array.of(pastLength > 0 ? 1 : 0), [1]));
    sig.names.forEach((names, layer) => {
      if (past === undefined) {
        feed(names.pastKey, this.emptyPast(sig.headDim));
        feed(names.pastValue, this.emptyPast(sig.valueDim));
      } else {
        feeds[names.pastKey] = past[2 * layer] as ort.Tensor;
        feeds[names.pastValue] = past[2 * layer + 1] as ort.Tensor;
      }
    });

    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(feeds, this.fetches);
    } finally {
      for (const t of owned) t.dispose();
    }
    const logitsTensor = results.logits as ort.Tensor;
    const present = sig.names.flatMap((names) => [
      results[names.presentKey] as ort.Tensor,
      results[names.presentValue] as ort.Tensor,
    ]);
    try {
      const vocab = logitsTensor.dims[logitsTensor.dims.length - 1];
      if (vocab !== this.vocabSize) {
        throw new Error(`${this.file}: the graph returned ${vocab} logits per position, expected ${this.vocabSize}`);
      }
      const grown = present[0]?.dims[2];
      if (grown !== total) {
        throw new Error(
          `${this.file}: present.0.key holds ${grown} positions after a step over ${pastLength} + ${n}; ` +
            "the graph must return the past concatenated with the new keys",
        );
      }
      return { logits: lastRows(logitsTensor.data, vocab, allLogits ? n : 1), present };
    } catch (err) {
      for (const t of present) t.dispose();
      throw err;
    } finally {
      logitsTensor.dispose();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

class OnnxSession implements LogitsSession {
  private past: ort.Tensor[] | undefined;
  private position = 0;
  private busy = false;

  constructor(
    private readonly decoder: OnnxDecoder,
    readonly capacity: number,
  ) {}

  get length(): number {
    return this.position;
  }

  append(tokens: readonly number[]): Promise<Float32Array> {
    return this.run(tokens, false);
  }

  appendAll(tokens: readonly number[]): Promise<Float32Array> {
    return this.run(tokens, true);
  }

  private async run(tokens: readonly number[], allLogits: boolean): Promise<Float32Array> {
    if (tokens.length === 0) throw new Error("append needs at least one token");
    if (this.position + tokens.length > this.capacity) {
      throw new ContextOverflowError(this.position + tokens.length, this.capacity);
    }
    const vocab = this.decoder.vocabSize;
    for (const id of tokens) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new RangeError(`token id ${id} is outside 0..${vocab - 1}`);
    }
    if (this.busy) throw new Error("this session is already running a step; await each append before the next");
    this.busy = true;
    try {
      const { logits, present } = await this.decoder.step(tokens, this.position, this.past, allLogits);
      for (const t of this.past ?? []) t.dispose();
      this.past = present;
      this.position += tokens.length;
      return logits;
    } finally {
      this.busy = false;
    }
  }
}

export class OnnxEngine implements Engine {
  readonly kind = "onnx" as const;

  constructor(
    readonly source: string,
    readonly tokenizer: Tokenizer,
    private readonly decoder: OnnxDecoder,
    readonly contextLength: number,
    /** intra-op threads the session was created with */
    readonly threads: number,
  ) {}

  get signature(): DecoderSignature {
    return this.decoder.signature;
  }

  get vocabSize(): number {
    return this.decoder.vocabSize;
  }

  newSession(contextLength = this.contextLength): LogitsSession {
    return new OnnxSession(this.decoder, Math.min(contextLength, this.contextLength));
  }

  encodeChat(...[messages, tools]: Parameters<Engine["encodeChat"]>): number[] {
    return encodeChatWith(this.tokenizer, messages, tools);
  }

  generate(...[request, onToken]: Parameters<Engine["generate"]>): ReturnType<Engine["generate"]> {
    return generateWith(this.newSession(), this.tokenizer, this.vocabSize, request, onToken);
  }

  close(): Promise<void> {
    return this.decoder.close();
  }
}

/** options → TRITGATE_THREADS → physical cores (from the native kernels' probe) → logical CPUs. */
export async function defaultThreads(requested?: number): Promise<number> {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1) throw new RangeError(`threads must be a positive integer`);
    return requested;
  }
  const env = process.env.TRITGATE_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (Number.isInteger(n) && n >= 1) return n;
    throw new RangeError(`TRITGATE_THREADS must be a positive integer, got ${JSON.stringify(env)}`);
  }
  try {
    const { hardware } = await import("../../../kernels/index.js");
    return hardware().physicalCores;
  } catch {
    return availableParallelism();
  }
}

/** config.json's context length, when the directory has one. */
async function configContextLength(file: string, dir: string): Promise<number | undefined> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ModelLoadError(file, `cannot read ${path}: ${(err as Error).message}`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(file, `${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof config !== "object" || config === null) return undefined;
  const record = config as Record<string, unknown>;
  for (const key of ["max_position_embeddings", "n_positions"]) {
    const value = record[key];
    if (typeof value === "number" && Number.isInteger(value) && value > 0) return value;
  }
  return undefined;
}

/** How every onnxruntime session is configured (the kernel bench's fp32 anchor uses it too). */
export function onnxSessionOptions(threads: number, spinning = true): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    enableCpuMemArena: true,
    logSeverityLevel: 3,
    ...(!spinning && { extra: { session: { intra_op: { allow_spinning: "0" } } } }),
  };
}

async function createSession(file: string, threads: number, spinning: boolean): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(file, onnxSessionOptions(threads, spinning));
  } catch (err) {
    throw new ModelLoadError(
      file,
      `onnxruntime cannot load it: ${err instanceof Error ? err.message : String(err)}`.trim(),
    );
  }
}

export async function loadOnnxEngine(path: string, options: OnnxEngineOptions = {}): Promise<OnnxEngine> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ModelLoadError(path, "is not a file");
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(path, `cannot open it: ${(err as Error).message}`);
  }
  if (options.contextLength !== undefined && (!Number.isInteger(options.contextLength) || options.contextLength < 1)) {
    throw new RangeError(`contextLength must be a positive integer, got ${options.contextLength}`);
  }
  const dir = dirname(path);
  const threads = await defaultThreads(options.threads);

  let tokenizer: Tokenizer;
  try {
    tokenizer = await loadTokenizerDir(dir);
  } catch (err) {
    throw new ModelLoadError(
      path,
      `needs a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json) beside it: ${(err as Error).message}`,
    );
  }
  const configured = await configContextLength(path, dir);
  const contextLength =
    options.contextLength === undefined
      ? configured
      : configured === undefined
        ? options.contextLength
        : Math.min(options.contextLength, configured);
  if (contextLength === undefined) {
    throw new ModelLoadError(
      path,
      `its context length is unknown: ${join(dir, "config.json")} has no max_position_embeddings; pass --ctx <tokens>`,
    );
  }

  const session = await createSession(path, threads, options.spinning ?? true);
  try {
    const signature = readDecoderSignature(path, session.inputMetadata, session.outputMetadata);
    const vocabSize = signature.vocabSize ?? tokenizer.vocabSize;
    if (vocabSize < tokenizer.vocabSize) {
      throw new ModelLoadError(
        path,
        `the graph's logits cover ${vocabSize} tokens but the tokenizer has ${tokenizer.vocabSize}`,
      );
    }
    const decoder = new OnnxDecoder(path, session, signature, vocabSize);
    return new OnnxEngine(path, tokenizer, decoder, contextLength, threads);
  } catch (err) {
    await session.release();
    throw err;
  }
}
