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
import type { Engine, LogitsSession, SequenceStep } from "../engine.js";
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

/**
 * `rows` x `vocab` logits from batch element `element` of a [batch, positions, vocab] tensor (the
 * element's last rows, so graphs that return only the last position work too), as float32
 * whatever float type ORT handed over.
 */
function logitRows(data: unknown, batch: number, element: number, vocab: number, rows: number): Float32Array {
  if (!ArrayBuffer.isView(data) || data instanceof DataView) throw new Error("logits are not a numeric tensor");
  const values = data as unknown as ArrayLike<number> & { subarray(a: number, b?: number): ArrayLike<number> };
  const perElement = values.length / batch;
  const count = rows * vocab;
  if (!Number.isInteger(perElement) || perElement < count) {
    throw new Error(`the graph returned logits for ${perElement / vocab} positions, expected ${rows}`);
  }
  const offset = (element + 1) * perElement - count;
  if (data instanceof Float32Array) return data.slice(offset, offset + count);
  // float16 arrives as raw bits in a Uint16Array unless the runtime has Float16Array
  if (data instanceof Uint16Array) return halfBitsToFloat32(data, offset, count);
  return Float32Array.from(values.subarray(offset, offset + count));
}

type KvArray = Float32Array | Uint16Array;

function kvData(tensor: ort.Tensor): KvArray {
  const data = tensor.data;
  if (data instanceof Float32Array || data instanceof Uint16Array) return data;
  throw new Error(`a KV tensor arrived as ${data.constructor.name}; tritgate carries float32 or float16 bits`);
}

/**
 * The present.* of one batched run, [batch, kv_heads, length, dim] per tensor, shared by the
 * sessions of its rows: while the same sessions keep stepping together it is fed back as it is
 * (no copy); a session stepping in another company copies its row out.
 */
class SharedCache {
  /** sessions (or uncommitted results) still holding a row */
  private holders: number;

  constructor(
    readonly tensors: readonly ort.Tensor[],
    readonly batch: number,
    /** positions per row, pads included */
    readonly length: number,
  ) {
    this.holders = batch;
  }

  release(): void {
    if (--this.holders === 0) for (const t of this.tensors) t.dispose();
  }
}

/**
 * A sequence's KV cache: its own tensors [1, kv_heads, positions, dim] (after a run alone), or
 * row `row` of a shared batch cache whose first `pads` positions are padding.
 */
export type SequenceCache =
  | { readonly kind: "own"; readonly tensors: readonly ort.Tensor[] }
  | { readonly kind: "shared"; readonly shared: SharedCache; readonly row: number; readonly pads: number };

/** Gives a cache back: own tensors are disposed, a shared one when its last holder lets go. */
function releaseCache(cache: SequenceCache | undefined): void {
  if (cache?.kind === "own") for (const t of cache.tensors) t.dispose();
  else cache?.shared.release();
}

/** One sequence's part of a decoder run. */
export interface DecoderStep {
  readonly tokens: readonly number[];
  /** positions already in `past` */
  readonly pastLength: number;
  /** undefined for an empty cache */
  readonly past: SequenceCache | undefined;
  /** logits of every token (row-major [tokens x vocab]) instead of the last one's */
  readonly allLogits: boolean;
}

export interface DecoderResult {
  readonly logits: Float32Array;
  /** the sequence's new cache of pastLength + tokens positions; the caller owns it (`releaseCache`) */
  readonly present: SequenceCache;
}

/** The graph plus what it needs to run one step; shared by all sessions of a model. */
export class OnnxDecoder {
  private closed = false;
  private readonly fetches: readonly string[];
  /** pads are exact only when the mask hides them and positions are fed, not derived from the cache index */
  private readonly pads: boolean;

  constructor(
    readonly file: string,
    readonly session: ort.InferenceSession,
    readonly signature: DecoderSignature,
    readonly vocabSize: number,
  ) {
    this.fetches = ["logits", ...signature.names.flatMap((n) => [n.presentKey, n.presentValue])];
    this.pads = signature.attentionMaskType !== undefined && signature.positionIdsType !== undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Which steps share one `session.run`: steps with the same token count (all decodes together;
   * prefills of different lengths apart, since each already fills its matmuls with rows). Past
   * lengths may differ when the graph takes attention_mask and position_ids (the shorter pasts are
   * left-padded); a graph that derives positions itself only batches equal past lengths, which need
   * no pads. A graph with a fixed batch of 1 runs every step alone.
   */
  groups(steps: readonly DecoderStep[]): number[][] {
    if (!this.signature.batchable) return steps.map((_, i) => [i]);
    const byKey = new Map<string, number[]>();
    steps.forEach((step, i) => {
      const key = this.pads ? `${step.tokens.length}` : `${step.tokens.length}:${step.pastLength}`;
      const group = byKey.get(key);
      if (group === undefined) byKey.set(key, [i]);
      else group.push(i);
    });
    return [...byKey.values()];
  }

  /**
   * Runs every step (grouped by `groups`, one `session.run` a group) and returns, per step in
   * order, its logits and new cache. The inputs' caches are only read: on failure every cache made
   * so far is released and the callers' caches are as they were.
   */
  async runAll(steps: readonly DecoderStep[]): Promise<DecoderResult[]> {
    const results: DecoderResult[] = new Array(steps.length);
    const done: number[] = [];
    try {
      for (const group of this.groups(steps)) {
        const out = await this.run(group.map((i) => steps[i] as DecoderStep));
        group.forEach((i, at) => {
          results[i] = out[at] as DecoderResult;
          done.push(i);
        });
      }
    } catch (err) {
      for (const i of done) releaseCache(results[i]?.present);
      throw err;
    }
    return results;
  }

  /** One step of one sequence: `tokens` after `pastLength` cached positions. */
  async step(
    tokens: readonly number[],
    pastLength: number,
    past: SequenceCache | undefined,
    allLogits = false,
  ): Promise<DecoderResult> {
    return (await this.run([{ tokens, pastLength, past, allLogits }]))[0] as DecoderResult;
  }

  /**
   * The shared cache every step holds a row of, covering all its rows, or undefined. Such a
   * group is the same company as in the last run: its present is fed back without a copy.
   */
  private sharedByAll(steps: readonly DecoderStep[]): SharedCache | undefined {
    const first = steps[0]?.past;
    if (steps.length < 2 || first?.kind !== "shared" || first.shared.batch !== steps.length) return undefined;
    const rows = new Set<number>();
    for (const step of steps) {
      if (step.past?.kind !== "shared" || step.past.shared !== first.shared) return undefined;
      rows.add(step.past.row);
    }
    return rows.size === steps.length ? first.shared : undefined;
  }

  /**
   * One `session.run` for steps of equal token count S. Element b of the batch holds its past
   * left-padded to a common length L: cache indices L - P_b .. L - 1 are its past and the new
   * tokens sit at L .. L + S - 1 for every element, so the graph's causal rule (the query at index
   * past + s sees keys 0..past + s) holds for all; attention_mask is 0 on the pads, position_ids
   * are P_b + s. The batch's present stays shared by the group, each session keeping its row and
   * pad count; the next run of the same group feeds it back as it is, any other group copies the
   * rows it needs (L = the longest past). One step alone feeds its own tensors as they are.
   */
  private async run(given: readonly DecoderStep[]): Promise<DecoderResult[]> {
    if (this.closed) throw new Error(`${this.file}: the engine is closed`);
    const sig = this.signature;
    const shared = this.sharedByAll(given);
    // the shared cache's rows fix the batch order
    const order = given.map((_, i) => i);
    if (shared !== undefined) {
      const rowOf = (i: number) => {
        const past = given[i]?.past;
        return past?.kind === "shared" ? past.row : 0;
      };
      order.sort((a, b) => rowOf(a) - rowOf(b));
    }
    const steps = order.map((i) => given[i] as DecoderStep);
    const batch = steps.length;
    const n = (steps[0] as DecoderStep).tokens.length;
    const padded = shared?.length ?? Math.max(...steps.map((s) => s.pastLength));
    const pads = steps.map((s) => padded - s.pastLength);
    const total = padded + n;
    const owned: ort.Tensor[] = [];
    const feeds: Record<string, ort.Tensor> = {};
    const feed = (name: string, tensor: ort.Tensor) => {
      feeds[name] = tensor;
      owned.push(tensor);
    };
    const ids: number[] = [];
    const mask: number[] = [];
    const positions: number[] = [];
    steps.forEach((step, b) => {
      if (step.tokens.length !== n) throw new Error("the steps of one run must have equal token counts");
      ids.push(...step.tokens);
      for (let t = 0; t < total; t++) mask.push(t < (pads[b] as number) ? 0 : 1);
      for (let s = 0; s < n; s++) positions.push(step.pastLength + s);
    });
    feed("input_ids", indexTensor(sig.inputIdsType, ids, [batch, n]));
    if (sig.attentionMaskType !== undefined) {
      feed("attention_mask", indexTensor(sig.attentionMaskType, mask, [batch, total]));
    }
    if (sig.positionIdsType !== undefined) {
      feed("position_ids", indexTensor(sig.positionIdsType, positions, [batch, n]));
    }
    if (sig.useCacheBranch) feed("use_cache_branch", new ort.Tensor("bool", Uint8Array.of(padded > 0 ? 1 : 0), [1]));
    const only = steps[0]?.past;
    sig.names.forEach((names, layer) => {
      const pair: Array<[string, number, number]> = [
        [names.pastKey, 2 * layer, sig.headDim],
        [names.pastValue, 2 * layer + 1, sig.valueDim],
      ];
      for (const [name, slot, dim] of pair) {
        if (shared !== undefined) feeds[name] = shared.tensors[slot] as ort.Tensor;
        else if (batch === 1 && only?.kind === "own") feeds[name] = only.tensors[slot] as ort.Tensor;
        else feed(name, this.paddedPast(steps, slot, dim, padded));
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
      if (grown !== total || present[0]?.dims[0] !== batch) {
        throw new Error(
          `${this.file}: present.0.key holds ${grown} positions after a step over ${padded} + ${n}; ` +
            "the graph must return the past concatenated with the new keys",
        );
      }
      const next = batch === 1 ? undefined : new SharedCache(present, batch, total);
      const out = steps.map(
        (step, b): DecoderResult => ({
          logits: logitRows(logitsTensor.data, batch, b, vocab, step.allLogits ? n : 1),
          present:
            next === undefined
              ? { kind: "own", tensors: present }
              : { kind: "shared", shared: next, row: b, pads: pads[b] as number },
        }),
      );
      // back to the callers' order
      const byGiven: DecoderResult[] = new Array(batch);
      order.forEach((i, at) => {
        byGiven[i] = out[at] as DecoderResult;
      });
      return byGiven;
    } catch (err) {
      for (const t of present) t.dispose();
      throw err;
    } finally {
      logitsTensor.dispose();
    }
  }

  /** past[slot] of every step stacked into [batch, kv_heads, padded, dim], each left-padded with zeros. */
  private paddedPast(steps: readonly DecoderStep[], slot: number, dim: number, padded: number): ort.Tensor {
    const { kvType, kvHeads } = this.signature;
    const size = steps.length * kvHeads * padded * dim;
    const data = kvType === "float16" ? new Uint16Array(size) : new Float32Array(size);
    steps.forEach((step, b) => {
      const past = step.past;
      if (past === undefined || step.pastLength === 0) return;
      const run = step.pastLength * dim;
      // where head h of this sequence's past starts in its source tensor
      let source: KvArray;
      let start: (h: number) => number;
      if (past.kind === "own") {
        source = kvData(past.tensors[slot] as ort.Tensor);
        start = (h) => h * run;
      } else {
        const { shared, row, pads } = past;
        source = kvData(shared.tensors[slot] as ort.Tensor);
        start = (h) => ((row * kvHeads + h) * shared.length + pads) * dim;
      }
      for (let h = 0; h < kvHeads; h++) {
        const to = ((b * kvHeads + h) * padded + padded - step.pastLength) * dim;
        data.set(source.subarray(start(h), start(h) + run), to);
      }
    });
    return new ort.Tensor(kvType, data, [steps.length, kvHeads, padded, dim]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

class OnnxSession implements LogitsSession {
  private past: SequenceCache | undefined;
  private position = 0;
  private busy = false;
  private closed = false;

  constructor(
    readonly decoder: OnnxDecoder,
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // a step still running commits into a closed session, which releases its result then
    if (!this.busy) {
      releaseCache(this.past);
      this.past = undefined;
    }
  }

  /** Throws what `tokens` cannot run for (nothing changes); otherwise the step to hand the decoder. */
  check(tokens: readonly number[], allLogits: boolean): DecoderStep {
    if (this.closed) throw new Error("this session is closed");
    if (this.decoder.isClosed) throw new Error(`${this.decoder.file}: the engine is closed`);
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
    return { tokens, pastLength: this.position, past: this.past, allLogits };
  }

  /** Marks the session as running (true) or done (false); `check` refuses a running one. */
  hold(running: boolean): void {
    this.busy = running;
    // closed while its step ran, and the step failed: the cache it kept for the step goes now
    if (!running && this.closed && this.past !== undefined) {
      releaseCache(this.past);
      this.past = undefined;
    }
  }

  /** Takes the cache of a successful step over `count` tokens. */
  commit(present: SequenceCache, count: number): void {
    releaseCache(this.past);
    this.past = present;
    this.position += count;
    // closed while the step ran: nothing will use the cache
    if (this.closed) {
      releaseCache(present);
      this.past = undefined;
    }
  }

  private async run(tokens: readonly number[], allLogits: boolean): Promise<Float32Array> {
    const step = this.check(tokens, allLogits);
    this.hold(true);
    try {
      const { logits, present } = await this.decoder.step(step.tokens, step.pastLength, step.past, allLogits);
      this.commit(present, tokens.length);
      return logits;
    } finally {
      this.hold(false);
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

  /**
   * One step for several sessions: decodes (and equal-length prefills) share one `session.run`
   * through the batch dimension (see `OnnxDecoder.groups` for what is batched). Returns per step,
   * in order, what `append` (or `appendAll` with `allLogits`) would have returned, within
   * onnxruntime's batch-size rounding (README.md). Rejects before changing any session when a step
   * cannot run, and leaves every session as it was when onnxruntime fails.
   */
  async forwardBatch(steps: readonly SequenceStep[]): Promise<Float32Array[]> {
    if (steps.length === 0) throw new Error("forwardBatch needs at least one sequence");
    const sessions = steps.map(({ session }) => {
      if (!(session instanceof OnnxSession) || session.decoder !== this.decoder) {
        throw new Error("this session belongs to another engine");
      }
      return session;
    });
    if (new Set(sessions).size !== sessions.length) throw new Error("a session may appear only once in a batch");
    const prepared = steps.map((s, i) => (sessions[i] as OnnxSession).check(s.tokens, s.allLogits === true));
    for (const session of sessions) session.hold(true);
    try {
      const results = await this.decoder.runAll(prepared);
      return results.map(({ logits, present }, i) => {
        (sessions[i] as OnnxSession).commit(present, prepared[i]?.tokens.length ?? 0);
        return logits;
      });
    } finally {
      for (const session of sessions) session.hold(false);
    }
  }

  encodeChat(...[messages, tools]: Parameters<Engine["encodeChat"]>): number[] {
    return encodeChatWith(this.tokenizer, messages, tools);
  }

  generate(...[request, onToken]: Parameters<Engine["generate"]>): ReturnType<Engine["generate"]> {
    const session = this.newSession();
    // the KV tensors go as soon as the request ends, not when the collector finds them
    return generateWith(session, this.tokenizer, this.vocabSize, request, onToken).finally(() => session.close?.());
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
