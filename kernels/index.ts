/**
 * tritgate's native kernels: packed weight formats and the ternary matmul.
 *
 * Threading: `matmul` runs on the calling thread plus the native pool and returns when done.
 * Engines call it from their worker thread (src/engines runs each variant in a worker), where
 * blocking is what we want: a forward pass is hundreds of small products and a promise per
 * product would cost more than the product. `matmulAsync` is for the main thread: it queues the
 * work on libuv's pool and resolves with the result, so the event loop never waits.
 */

import { type HostInfo, readHostInfo } from "./host.js";
import { loadNative } from "./native.js";

export const WEIGHT_TYPE_IDS = { F32: 0, F16: 1, Q8_0: 8, Q6_K: 14, TQ1_0: 34, TQ2_0: 35, I2_S: 36 } as const;
export type WeightType = keyof typeof WEIGHT_TYPE_IDS;
export const TERNARY_TYPES: readonly WeightType[] = ["TQ1_0", "TQ2_0", "I2_S"];

/** Is this a ternary packing (the kernels' int8-activation path applies)? */
export function isTernary(type: string): boolean {
  return (TERNARY_TYPES as readonly string[]).includes(type);
}
export const ISAS = ["scalar", "avx2", "avx512"] as const;
export type Isa = (typeof ISAS)[number];

/** A weight matrix of `rows` x `cols` (GGUF's ne[1] x ne[0]), packed as llama.cpp stores it. */
export interface PackedWeight {
  readonly type: WeightType;
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;
}

export interface MatmulOptions {
  /** Force an instruction-set path; default: TRITGATE_ISA or the best this CPU runs. */
  readonly isa?: Isa;
  /**
   * Ternary weights default to BitNet's per-token int8 activations; "float" keeps fp32 (the default
   * for every other type); "q8_0" (Q8_0 weights only) quantizes each 32 activations to int8 with
   * their own scale, as llama.cpp multiplies a Q8_0 head: integer block sums on VNNI instead of
   * widening every weight to fp32.
   */
  readonly activations?: "int8" | "q8_0" | "float";
  /** Write the [m x rows] result here instead of allocating. */
  readonly out?: Float32Array;
}

export interface HardwareReport extends HostInfo {
  /** The path used when a call names none. */
  readonly isa: Isa;
  readonly available: readonly Isa[];
  readonly features: Readonly<Record<string, boolean>>;
  /** Kernel pool threads (the calling thread included). */
  readonly threads: number;
  readonly physicalCores: number;
}

const native = loadNative();

function typeId(type: unknown, name: string): number {
  if (typeof type === "string" && Object.hasOwn(WEIGHT_TYPE_IDS, type)) {
    return WEIGHT_TYPE_IDS[type as WeightType];
  }
  throw new TypeError(
    `${name}: unknown weight type ${JSON.stringify(type)} (expected one of ${Object.keys(WEIGHT_TYPE_IDS).join(", ")})`,
  );
}

function weightArgs(weight: PackedWeight): [number, Uint8Array, number, number] {
  if (typeof weight !== "object" || weight === null) {
    throw new TypeError("weight: expected { type, rows, cols, data }");
  }
  return [typeId(weight.type, "weight.type"), weight.data, weight.rows, weight.cols];
}

function matmulArgs(weight: PackedWeight, x: Float32Array, m: number, options: MatmulOptions) {
  return [options.isa, ...weightArgs(weight), x, m, options.activations, options.out] as const;
}

/** y[m x rows] = x[m x cols] · Wᵀ, with the weight's scales applied. */
export function matmul(weight: PackedWeight, x: Float32Array, m: number, options: MatmulOptions = {}): Float32Array {
  return native.matmul(...matmulArgs(weight, x, m, options));
}

/**
 * `matmul` for up to four weights with the same `cols` that read the same `x` (a layer's q, k
 * and v; gate and up), into `outs[i]` ([m x weights[i].rows] each). The results equal separate
 * `matmul` calls bit for bit; the activations are quantized once and, for m = 1, all weights'
 * rows are one job on the kernel pool, so the threads meet once instead of once per weight.
 */
export function matmulShared(
  weights: readonly PackedWeight[],
  x: Float32Array,
  m: number,
  outs: readonly Float32Array[],
  options: Omit<MatmulOptions, "out"> = {},
): readonly Float32Array[] {
  return native.matmulShared(options.isa, weights.map(weightArgs), x, m, options.activations, outs);
}

/** `matmul` on libuv's thread pool; the buffers must not change until the promise settles. */
export function matmulAsync(
  weight: PackedWeight,
  x: Float32Array,
  m: number,
  options: MatmulOptions = {},
): Promise<Float32Array> {
  try {
    return native.matmulAsync(...matmulArgs(weight, x, m, options));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Pack fp32 values ([rows x cols], row-major) into a format with ggml's reference quantizer.
 * `absmean` first ternarizes the whole tensor as BitNet b1.58 does (alpha = mean|W|).
 */
export function quantize(
  type: WeightType,
  values: Float32Array,
  rows: number,
  cols: number,
  options: { absmean?: boolean } = {},
): PackedWeight {
  const data = native.quantize(typeId(type, "type"), values, rows, cols, options.absmean === true);
  return { type, rows, cols, data };
}

export function dequantize(weight: PackedWeight): Float32Array {
  return native.dequantize(...weightArgs(weight));
}

/** Rows `ids[i]` of `weight` as fp32 into `out[i * cols ..]` (an embedding lookup), bit for bit `dequantize`'s rows. */
export function dequantizeRows(weight: PackedWeight, ids: Int32Array, out: Float32Array): Float32Array {
  return native.dequantizeRows(...weightArgs(weight), ids, out);
}

/** BitNet's per-token absmax int8 quantization of m rows of k values. */
export function quantizeActivations(
  x: Float32Array,
  m: number,
  k: number,
  options: { isa?: Isa } = {},
): { q: Int8Array; scale: Float32Array } {
  const [q, scale] = native.quantizeActivations(options.isa, x, m, k);
  return { q, scale };
}

export interface AttentionShape {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/** Cache slots are allocated in blocks of this many positions (the kernels' key layout). */
const ATTENTION_BLOCK = 16;

/**
 * What a KV cache stores: fp32, or fp16 (llama.cpp's default `--cache-type-k/v f16`), half the bytes
 * an attention task streams, each value the fp32 one rounded to nearest even. Attention is computed in
 * fp32 either way.
 */
const KV_CACHE_TYPES = ["f32", "f16"] as const;
export type KvCacheType = (typeof KV_CACHE_TYPES)[number];

/** Whether a string (a command-line value, say) names a KV cache type. */
export function isKvCacheType(name: string): name is KvCacheType {
  return (KV_CACHE_TYPES as readonly string[]).includes(name);
}

/**
 * One layer's keys and values of one sequence, in the kernels' layout (kernels/src/tg.h: per KV head
 * a plane, keys transposed in blocks of 16 positions): written only by `attentionBatch`. The planes
 * are Float32Arrays for an fp32 cache and Uint16Arrays (the halves' bits) for an fp16 one.
 */
export interface AttentionCache {
  readonly keys: Float32Array | Uint16Array;
  readonly values: Float32Array | Uint16Array;
  /** slots per KV head: the capacity asked for, rounded up to a block */
  readonly positions: number;
}

/** An empty cache for `capacity` positions of one layer. */
export function attentionCache(capacity: number, shape: AttentionShape, type: KvCacheType = "f32"): AttentionCache {
  const positions = Math.ceil(Math.max(1, capacity) / ATTENTION_BLOCK) * ATTENTION_BLOCK;
  const elements = positions * shape.kvHeads * shape.headDim;
  const plane = () => (type === "f16" ? new Uint16Array(elements) : new Float32Array(elements));
  return { keys: plane(), values: plane(), positions };
}

/** Bytes a cache of `type` holds per position (keys and values of every KV head of one layer). */
export function kvBytesPerPosition(shape: AttentionShape, type: KvCacheType): number {
  return 2 * shape.kvHeads * shape.headDim * (type === "f16" ? 2 : 4);
}

/** One sequence of a batched attention call: its rows in the stacked batch and its cache. */
export interface AttentionSequence {
  /** holds positions 0..start-1; this step's rows are stored at start.. */
  readonly cache: AttentionCache;
  /** its rows first..first+rows-1 of the batch */
  readonly first: number;
  readonly rows: number;
  /** position of its first row */
  readonly start: number;
}

/**
 * Causal grouped-query attention in fp32 (over fp32 or fp16 caches, every sequence's the same type)
 * for every sequence of a step, in one native call and one job on the kernel pool: `q`, `k`, `v` and
 * `out` are the stacked batch (rotated queries
 * [rows][heads x headDim], rotated keys and values [rows][kvHeads x headDim]). Each sequence's keys
 * and values are first stored in its cache at positions start.., then its rows attend over
 * positions 0..start+r. Query head h reads KV head floor(h / (heads / kvHeads)). A row's result
 * depends on nothing else in the call, so a batch gives each sequence exactly what calling it alone
 * does. Rows no sequence names are left as they are (and their k, v are not stored).
 */
export function attentionBatch(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  sequences: readonly AttentionSequence[],
  shape: AttentionShape,
  out: Float32Array,
  options: { isa?: Isa } = {},
): Float32Array {
  const spans = new Int32Array(sequences.length * 4);
  const keys: Array<Float32Array | Uint16Array> = [];
  const values: Array<Float32Array | Uint16Array> = [];
  sequences.forEach((s, i) => {
    spans[i * 4] = s.first;
    spans[i * 4 + 1] = s.rows;
    spans[i * 4 + 2] = s.start;
    spans[i * 4 + 3] = s.cache.positions;
    keys.push(s.cache.keys);
    values.push(s.cache.values);
  });
  return native.attention(options.isa, q, k, v, keys, values, spans, shape.heads, shape.kvHeads, shape.headDim, out);
}

/**
 * The float steps between matmuls, native (kernels/src/floatops.c): one C version for every CPU
 * and path, so they give the same bits everywhere. RMSNorm sums squares in double, in 16
 * interleaved partial sums folded pairwise (see floatops.c); the rest is the plain double
 * arithmetic rounded to float once.
 */
export const floatOps = {
  /** out[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight for `rows` rows of weight.length values (out may be x). */
  rmsNorm(x: Float32Array, weight: Float32Array, rows: number, eps: number, out: Float32Array): Float32Array {
    return native.rmsNorm(x, weight, rows, eps, out);
  },
  /** out = act(gate) ⊙ up, act = relu(g)² or silu(g) (out may be gate). */
  gatedActivation(kind: "relu2" | "silu", gate: Float32Array, up: Float32Array, out: Float32Array): Float32Array {
    return native.gatedActivation(kind === "relu2" ? 0 : 1, gate, up, out);
  },
  /** x += delta elementwise. */
  addInPlace(x: Float32Array, delta: Float32Array): Float32Array {
    return native.addInPlace(x, delta);
  },
  /**
   * NeoX RoPE in place on `rows` rows of `heads` heads: in each head, x[i] and x[i + half] rotate by
   * the row's angle i, given as angles[(r * half + i) * 2 + 0 | 1] = cos | sin (half = ropeDim / 2;
   * dims past ropeDim stay); the arithmetic is double, rounded to float once.
   */
  rope(x: Float32Array, rows: number, heads: number, headDim: number, angles: Float64Array): Float32Array {
    return native.rope(x, rows, heads, headDim, angles);
  },
  /** x *= scale elementwise (the product is rounded to float once). */
  scaleInPlace(x: Float32Array, scale: number): Float32Array {
    return native.scaleInPlace(x, scale);
  },
} as const;

/**
 * The sampler's pass over one row of logits, bit for bit the JS it replaced (`loadLogits` then
 * `sumExpShifted` in src/engines/sampler/logprobs.ts, with fastexp.ts's exp): the first `n` logits,
 * cleaned (NaN → -Infinity, +Infinity → the largest double), into `x`; exp(x[i] - max) into `w`; and
 * `[max, argmax, sumExp]` into `stats` (argmax the lowest id holding the maximum, -1 with max -Infinity;
 * the sum in index order, 0 when max is -Infinity). `x` and `w` may be null when the caller needs
 * only the statistics. `sumExp` false: no exps at all (`w` untouched, stats[2] NaN), for a caller that
 * needs only the max and argmax. `isa`: the plain, AVX2 or AVX-512 path (the same bits; AVX-512 is
 * ~4x faster than plain); default as for `matmul`.
 */
export function logitStats(
  logits: Float32Array,
  n: number,
  stats: Float64Array,
  x: Float64Array | null,
  w: Float64Array | null,
  sumExp = true,
  isa?: Isa,
): void {
  native.logitStats(isa, logits, n, stats, x, w, sumExp);
}

/** Bytes a packed [rows x cols] tensor occupies, or -1 when cols does not fit the block. */
export function tensorBytes(type: WeightType, rows: number, cols: number): number {
  return native.tensorBytes(typeId(type, "type"), rows, cols);
}

/** Resize the kernel thread pool (the calling thread counts as one). */
export function setThreads(threads: number): number {
  return native.setThreads(threads);
}

/**
 * The pool's threads stop spinning for the next job and sleep until it comes (it wakes them): call
 * when the cores go to other work for a while, such as another engine's CPU turn.
 */
export function parkThreads(): void {
  native.parkThreads();
}

/**
 * Pool jobs from now on use `threads` of the pool's threads (the caller included; clamped to the pool's
 * size), the others sleeping: the CPU budget sets it before each forward pass to the cores the other
 * engines leave. Cheap (no thread is created or stopped). Returns the count jobs will use.
 */
export function setActiveThreads(threads: number): number {
  return native.setActiveThreads(threads);
}

/** Tasks each pool thread has run since the process started (index 0: the calling threads). */
export function poolThreadTasks(): number[] {
  return native.poolThreadTasks();
}

/**
 * The most kernel jobs that ran at once since the last call (then counting again from those running
 * now). A job that needs only its caller (one task, or a pool of one thread) runs without the pool's
 * lock, so engine threads with one kernel thread each compute at once; jobs on the pool's threads
 * run one at a time.
 */
export function takeMostJobsAtOnce(): number {
  return native.takeMostJobsAtOnce();
}

/** Best read bandwidth in bytes/s over a buffer of `bytes` (choose one far larger than cache). */
export function readBandwidth(bytes = 1 << 30, passes = 5, options: { isa?: Isa } = {}): number {
  return native.readBandwidth(options.isa, bytes, passes);
}

export function hardware(): HardwareReport {
  const report = native.hardware();
  if (report.isaError !== undefined) throw new Error(report.isaError);
  return {
    ...readHostInfo(),
    isa: report.isa as Isa,
    available: report.available as Isa[],
    features: report.features,
    threads: report.threads,
    physicalCores: report.physicalCores,
  };
}
