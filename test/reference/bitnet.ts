/**
 * A straightforward BitNet forward pass for tests: no kernels, no KV cache, float64 math, the
 * whole sequence recomputed each call. Ternary products go through the TypeScript int8
 * reference (or float64 over decoded weights in "float" mode). Written from the published BitNet
 * b1.58 architecture, independently of src/engines/bitnet.
 */
import type { PackedWeight, WeightType } from "../../kernels/index.js";
import type { GGUFFile } from "../../src/formats/gguf/index.js";
import { decodeRow, fp16ToFp32, i2sTensorScale, matmulInt8Ref } from "./ternary.js";

type Matrix = { rows: number; cols: number; get: (row: number) => Float64Array; packed?: PackedWeight };

function num(file: GGUFFile, key: string): number | undefined {
  const v = file.metadata.get(key);
  return v === undefined ? undefined : Number(v.value);
}

function tensor(file: GGUFFile, name: string): { type: string; dims: readonly number[]; data: Uint8Array } | undefined {
  const info = file.tensors.find((t) => t.name === name);
  return info && { type: info.type, dims: info.dims, data: file.tensorData(name) };
}

function floatsOf(type: string, data: Uint8Array): Float64Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (type === "F32") return Float64Array.from({ length: data.byteLength / 4 }, (_, i) => view.getFloat32(4 * i, true));
  if (type === "F16")
    return Float64Array.from({ length: data.byteLength / 2 }, (_, i) => fp16ToFp32(view.getUint16(2 * i, true)));
  throw new Error(`reference cannot read ${type} as floats`);
}

function matrix(file: GGUFFile, name: string): Matrix {
  const t = tensor(file, name);
  if (!t) throw new Error(`missing ${name}`);
  const [cols = 0, rows = 1] = t.dims;
  if (t.type === "F32" || t.type === "F16") {
    const all = floatsOf(t.type, t.data);
    return { rows, cols, get: (r) => all.subarray(r * cols, (r + 1) * cols) };
  }
  const packed: PackedWeight = { type: t.type as WeightType, rows, cols, data: t.data };
  const get = (r: number) => {
    const { codes, blockScaleBits } = decodeRow(packed, r);
    const out = new Float64Array(cols);
    for (let j = 0; j < cols; j++) {
      const d = packed.type === "I2_S" ? i2sTensorScale(packed) : fp16ToFp32(blockScaleBits[Math.floor(j / 256)] ?? 0);
      out[j] = ((codes[j] ?? 0) - 1) * d;
    }
    return out;
  };
  return { rows, cols, get, packed };
}

function vector(file: GGUFFile, name: string): Float64Array {
  const t = tensor(file, name);
  if (!t) throw new Error(`missing ${name}`);
  return floatsOf(t.type, t.data);
}

function rmsNorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * (w[i] ?? 0));
}

/** y = W x for each row of xs; int8 mode quantizes each row per token exactly as BitNet does. */
function linear(file: GGUFFile, name: string, xs: Float64Array[], mode: "int8" | "float"): Float64Array[] {
  const w = matrix(file, `${name}.weight`);
  const scaleTensor = tensor(file, `${name}.scale`);
  const scale = scaleTensor ? (floatsOf(scaleTensor.type, scaleTensor.data)[0] ?? 1) : 1;
  if (w.packed && mode === "int8") {
    const x = new Float32Array(xs.length * w.cols);
    for (const [r, row] of xs.entries()) x.set(row, r * w.cols);
    const y = matmulInt8Ref(w.packed, x, xs.length);
    return xs.map((_, r) => Float64Array.from(y.subarray(r * w.rows, (r + 1) * w.rows), (v) => v * scale));
  }
  return xs.map((x) => {
    const out = new Float64Array(w.rows);
    for (let n = 0; n < w.rows; n++) {
      const row = w.get(n);
      let s = 0;
      for (let j = 0; j < w.cols; j++) s += (row[j] ?? 0) * (x[j] ?? 0);
      out[n] = s * scale;
    }
    return out;
  });
}

/** Logits for every position of `tokens` (row t predicts token t+1). */
export function referenceLogits(file: GGUFFile, tokens: readonly number[], mode: "int8" | "float"): Float64Array[] {
  const arch = String(file.metadata.get("general.architecture")?.value);
  const p = (k: string) => num(file, `${arch}.${k}`);
  const E = p("embedding_length") ?? 0;
  const H = p("attention.head_count") ?? 0;
  const KVH = p("attention.head_count_kv") ?? H;
  const D = E / H;
  const eps = p("attention.layer_norm_rms_epsilon") ?? 1e-5;
  const base = p("rope.freq_base") ?? 10000;
  const relu2 = (file.metadata.get(`${arch}.hidden_activation`)?.value ?? "relu2") === "relu2";

  const embedding = matrix(file, "token_embd.weight");
  let xs = tokens.map((t) => Float64Array.from(embedding.get(t)));
  // NeoX pairing (element i with i + D/2), as llama.cpp runs the bitnet architectures
  const rope = (v: Float64Array, heads: number, pos: number) => {
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < D / 2; i++) {
        const theta = pos * base ** ((-2 * i) / D);
        const a = v[h * D + i] ?? 0;
        const b = v[h * D + i + D / 2] ?? 0;
        v[h * D + i] = a * Math.cos(theta) - b * Math.sin(theta);
        v[h * D + i + D / 2] = a * Math.sin(theta) + b * Math.cos(theta);
      }
  };
  for (let l = 0; l < (p("block_count") ?? 0); l++) {
    const blk = `blk.${l}`;
    const n = xs.map((x) => rmsNorm(x, vector(file, `${blk}.attn_norm.weight`), eps));
    const q = linear(file, `${blk}.attn_q`, n, mode);
    const k = linear(file, `${blk}.attn_k`, n, mode);
    const v = linear(file, `${blk}.attn_v`, n, mode);
    for (const [t, row] of q.entries()) rope(row, H, t);
    for (const [t, row] of k.entries()) rope(row, KVH, t);
    const attended = q.map((qt, t) => {
      const out = new Float64Array(H * D);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / KVH));
        const scores = Array.from({ length: t + 1 }, (_, s) => {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += (qt[h * D + d] ?? 0) * (k[s]?.[g * D + d] ?? 0);
          return dot / Math.sqrt(D);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const total = e.reduce((a, b) => a + b, 0);
        e.forEach((w, s) => {
          for (let d = 0; d < D; d++) out[h * D + d] = (out[h * D + d] ?? 0) + (w / total) * (v[s]?.[g * D + d] ?? 0);
        });
      }
      return rmsNorm(out, vector(file, `${blk}.attn_sub_norm.weight`), eps);
    });
    const o = linear(file, `${blk}.attn_output`, attended, mode);
    xs = xs.map((x, t) => x.map((val, i) => val + (o[t]?.[i] ?? 0)));
    const m = xs.map((x) => rmsNorm(x, vector(file, `${blk}.ffn_norm.weight`), eps));
    const gate = linear(file, `${blk}.ffn_gate`, m, mode);
    const up = linear(file, `${blk}.ffn_up`, m, mode);
    const hidden = gate.map((g, t) => {
      const h = g.map((gv, i) => (relu2 ? Math.max(0, gv) ** 2 : gv / (1 + Math.exp(-gv))) * (up[t]?.[i] ?? 0));
      return rmsNorm(h, vector(file, `${blk}.ffn_sub_norm.weight`), eps);
    });
    const down = linear(file, `${blk}.ffn_down`, hidden, mode);
    xs = xs.map((x, t) => x.map((val, i) => val + (down[t]?.[i] ?? 0)));
  }
  const head = file.tensors.some((t) => t.name === "output.weight") ? "output" : "token_embd";
  const normed = xs.map((x) => rmsNorm(x, vector(file, "output_norm.weight"), eps));
  return linear(file, head, normed, "float");
}

/** Greedy tokens after `prompt`, recomputing the whole sequence each step. */
export function referenceGreedy(
  file: GGUFFile,
  prompt: readonly number[],
  count: number,
  mode: "int8" | "float",
): number[] {
  const seq = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const logits = referenceLogits(file, seq, mode).at(-1) ?? new Float64Array();
    let best = 0;
    for (let j = 1; j < logits.length; j++) if ((logits[j] ?? 0) > (logits[best] ?? 0)) best = j;
    out.push(best);
    seq.push(best);
  }
  return out;
}
