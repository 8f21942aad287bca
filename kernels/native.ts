/** Finds and loads the compiled addon, typed at the boundary. */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

type IsaArg = string | undefined;
type WeightArgs = readonly [type: number, data: Uint8Array, rows: number, cols: number];

/** The trainer's shape as kernels/src/train.c reads it. */
export interface NativeTrainerConfig {
  readonly layers: number;
  readonly embedding: number;
  readonly feedForward: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly vocab: number;
  readonly context: number;
  readonly ropeBase: number;
  readonly eps: number;
  readonly batch: number;
  /** 1: BitNet b1.58 quantization-aware, 0: fp32 */
  readonly qat: 0 | 1;
  readonly isa?: "generic" | "avx512";
}

/** An opaque native trainer (napi external). */
export type NativeTrainerHandle = { readonly __brand: "NativeTrainerHandle" };

export interface NativeKernels {
  matmul(
    isa: IsaArg,
    ...rest: [...WeightArgs, x: Float32Array, m: number, activations: string | undefined, out: Float32Array | undefined]
  ): Float32Array;
  matmulShared(
    isa: IsaArg,
    weights: readonly WeightArgs[],
    x: Float32Array,
    m: number,
    activations: string | undefined,
    outs: readonly Float32Array[],
  ): readonly Float32Array[];
  matmulAsync(
    isa: IsaArg,
    ...rest: [...WeightArgs, x: Float32Array, m: number, activations: string | undefined, out: Float32Array | undefined]
  ): Promise<Float32Array>;
  quantize(type: number, values: Float32Array, rows: number, cols: number, absmean: boolean): Uint8Array;
  dequantize(...args: WeightArgs): Float32Array;
  dequantizeRows(...args: [...WeightArgs, ids: Int32Array, out: Float32Array]): Float32Array;
  quantizeActivations(isa: IsaArg, x: Float32Array, m: number, k: number): [Int8Array, Float32Array];
  tensorBytes(type: number, rows: number, cols: number): number;
  setThreads(threads: number): number;
  parkThreads(): void;
  setActiveThreads(threads: number): number;
  poolThreadTasks(): number[];
  takeMostJobsAtOnce(): number;
  readBandwidth(isa: IsaArg, bytes: number, passes: number): number;
  /** spans: [first, rows, start, positions] per sequence, whose cache is keys[i], values[i] (all fp32 or all
   * fp16 bits, as keys[0]); k, v are stored first */
  attention(
    isa: IsaArg,
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    keys: ReadonlyArray<Float32Array | Uint16Array>,
    values: ReadonlyArray<Float32Array | Uint16Array>,
    spans: Int32Array,
    heads: number,
    kvHeads: number,
    headDim: number,
    out: Float32Array,
  ): Float32Array;
  /** angles: [rows][half][cos, sin] */
  rope(x: Float32Array, rows: number, heads: number, headDim: number, angles: Float64Array): Float32Array;
  rmsNorm(x: Float32Array, weight: Float32Array, rows: number, eps: number, out: Float32Array): Float32Array;
  /** kind: 0 relu2, 1 silu */
  gatedActivation(kind: 0 | 1, gate: Float32Array, up: Float32Array, out: Float32Array): Float32Array;
  addInPlace(x: Float32Array, delta: Float32Array): Float32Array;
  scaleInPlace(x: Float32Array, scale: number): Float32Array;
  /** stats = [max, argmax, sumExp] of the first n clean logits; x and w are filled unless null; sumExp false: no exps */
  logitStats(
    isa: IsaArg,
    logits: Float32Array,
    n: number,
    stats: Float64Array,
    x: Float64Array | null,
    w: Float64Array | null,
    sumExp: boolean,
  ): void;
  trainerCreate(
    config: NativeTrainerConfig,
    params: Float32Array,
    grads: Float32Array,
    m: Float32Array,
    v: Float32Array,
  ): NativeTrainerHandle;
  trainerStep(trainer: NativeTrainerHandle, tokens: Int32Array, batch: number, seq: number, grads: boolean): number;
  trainerAdamw(
    trainer: NativeTrainerHandle,
    lr: number,
    weightDecay: number,
    beta1: number,
    beta2: number,
    eps: number,
    step: number,
    gradScale: number,
    clip: number,
  ): number;
  trainerIsa(trainer: NativeTrainerHandle): string;
  hardware(): {
    isa?: string;
    isaError?: string;
    available: string[];
    features: Record<string, boolean>;
    threads: number;
    physicalCores: number;
  };
}

const ADDON = join("kernels", "build", "Release", "tritgate_kernels.node");

/** The addon sits under the package root, which is an ancestor of both src and dist builds. */
function findAddon(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(
    `tritgate: the native kernels are not built (${ADDON} is missing). Run \`npm install\` (or \`npm run build:kernels\`); it needs a C compiler, make and python3.`,
  );
}

export function loadNative(): NativeKernels {
  return createRequire(import.meta.url)(findAddon()) as NativeKernels;
}
