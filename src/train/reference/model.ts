/**
 * The nano model's trainable parameters as plain float64 tensors: the reference the native
 * trainer is checked against. Shapes follow the inference engine (src/engines/bitnet): every
 * matrix is row-major [out x in] and a linear layer computes y = W·x, which is exactly the
 * [rows x cols] layout a GGUF tensor with dims [cols, rows] holds.
 *
 *   embedding      [vocab x embedding]   tied: also the output head
 *   per layer      attnNorm [E], wq [H·d x E], wk [KV·d x E], wv [KV·d x E], wo [E x H·d],
 *                  attnSubNorm [H·d], ffnNorm [E], wGate [F x E], wUp [F x E], wDown [E x F],
 *                  ffnSubNorm [F]
 *   finalNorm      [E]
 */
import { seededRandom } from "../../util/seeded-random.js";

export interface NanoConfig {
  readonly layers: number;
  readonly embedding: number;
  readonly feedForward: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly vocab: number;
  /** longest sequence the model is trained for (positions 0..context-1) */
  readonly context: number;
  readonly ropeBase: number;
  /** RMSNorm epsilon */
  readonly eps: number;
}

export interface LayerParams {
  attnNorm: Float64Array;
  wq: Float64Array;
  wk: Float64Array;
  wv: Float64Array;
  wo: Float64Array;
  attnSubNorm: Float64Array;
  ffnNorm: Float64Array;
  wGate: Float64Array;
  wUp: Float64Array;
  wDown: Float64Array;
  ffnSubNorm: Float64Array;
}

export interface NanoParams {
  embedding: Float64Array;
  layers: LayerParams[];
  finalNorm: Float64Array;
}

/** What a tensor is, which decides weight decay (matrices) and quantization (linear). */
export type TensorKind = "embedding" | "linear" | "norm";

export interface NamedTensor {
  readonly name: string;
  readonly kind: TensorKind;
  readonly tensor: Float64Array;
}

export const LINEAR_NAMES = ["wq", "wk", "wv", "wo", "wGate", "wUp", "wDown"] as const;
export type LinearName = (typeof LINEAR_NAMES)[number];
export const NORM_NAMES = ["attnNorm", "attnSubNorm", "ffnNorm", "ffnSubNorm"] as const;

export function headDim(c: NanoConfig): number {
  return c.embedding / c.heads;
}

export function checkNanoConfig(c: NanoConfig): void {
  for (const key of ["embedding", "feedForward", "heads", "kvHeads", "vocab", "context"] as const) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) throw new RangeError(`${key} must be a positive integer`);
  }
  if (!Number.isInteger(c.layers) || c.layers < 0) throw new RangeError("layers must be a non-negative integer");
  if (c.embedding % c.heads !== 0) throw new RangeError("embedding must be a multiple of heads");
  if (headDim(c) % 2 !== 0) throw new RangeError("the head size must be even for RoPE");
  if (c.heads % c.kvHeads !== 0) throw new RangeError("heads must be a multiple of kvHeads");
}

/** Shapes [rows, cols] of one layer's tensors (norms are [length, 1]). */
export function layerShapes(c: NanoConfig): Record<keyof LayerParams, readonly [number, number]> {
  const d = headDim(c);
  const q = c.heads * d;
  const kv = c.kvHeads * d;
  return {
    attnNorm: [c.embedding, 1],
    wq: [q, c.embedding],
    wk: [kv, c.embedding],
    wv: [kv, c.embedding],
    wo: [c.embedding, q],
    attnSubNorm: [q, 1],
    ffnNorm: [c.embedding, 1],
    wGate: [c.feedForward, c.embedding],
    wUp: [c.feedForward, c.embedding],
    wDown: [c.embedding, c.feedForward],
    ffnSubNorm: [c.feedForward, 1],
  };
}

function build(c: NanoConfig, matrix: (length: number) => Float64Array, norm: (length: number) => Float64Array) {
  checkNanoConfig(c);
  const shapes = layerShapes(c);
  const layers: LayerParams[] = [];
  for (let l = 0; l < c.layers; l++) {
    const layer = {} as LayerParams;
    for (const name of Object.keys(shapes) as (keyof LayerParams)[]) {
      const [rows, cols] = shapes[name];
      layer[name] = (NORM_NAMES as readonly string[]).includes(name) ? norm(rows) : matrix(rows * cols);
    }
    layers.push(layer);
  }
  return { embedding: matrix(c.vocab * c.embedding), layers, finalNorm: norm(c.embedding) };
}

/** Standard normal draws (Box-Muller) from a seeded uniform source. */
export function normalSource(seed: number): () => number {
  const uniform = seededRandom(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - uniform(); // (0, 1]: log stays finite
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Matrices (embedding included) ~ N(0, std²), norms at 1. Same seed, same parameters. */
export function initParams(c: NanoConfig, seed: number, std = 0.02): NanoParams {
  const normal = normalSource(seed);
  return build(
    c,
    (n) => Float64Array.from({ length: n }, () => std * normal()),
    (n) => new Float64Array(n).fill(1),
  );
}

/** Zeros shaped like the parameters (gradients, optimizer moments). */
export function zeroParams(c: NanoConfig): NanoParams {
  return build(
    c,
    (n) => new Float64Array(n),
    (n) => new Float64Array(n),
  );
}

export function cloneParams(p: NanoParams): NanoParams {
  return {
    embedding: p.embedding.slice(),
    layers: p.layers.map((l) => {
      const out = {} as LayerParams;
      for (const name of Object.keys(l) as (keyof LayerParams)[]) out[name] = l[name].slice();
      return out;
    }),
    finalNorm: p.finalNorm.slice(),
  };
}

/** Every tensor once, in a fixed order, with a stable name ("embedding", "layers.0.wq", "finalNorm"). */
export function namedTensors(p: NanoParams): NamedTensor[] {
  const out: NamedTensor[] = [{ name: "embedding", kind: "embedding", tensor: p.embedding }];
  p.layers.forEach((layer, l) => {
    for (const name of Object.keys(layer) as (keyof LayerParams)[]) {
      const kind: TensorKind = (NORM_NAMES as readonly string[]).includes(name) ? "norm" : "linear";
      out.push({ name: `layers.${l}.${name}`, kind, tensor: layer[name] });
    }
  });
  out.push({ name: "finalNorm", kind: "norm", tensor: p.finalNorm });
  return out;
}

export function parameterCount(p: NanoParams): number {
  return namedTensors(p).reduce((n, t) => n + t.tensor.length, 0);
}
