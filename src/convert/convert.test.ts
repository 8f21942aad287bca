import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dequantize, quantize, type WeightType } from "../../kernels/index.js";
import { BitNetForward, loadBitNetWeights, readBitNetConfig } from "../engines/bitnet/index.js";
import { syntheticBitNet } from "../engines/bitnet/synthetic.js";
import { tokenizerFromGGUF } from "../engines/tokenizer/index.js";
import { LLAMA3_SPLIT, TINY_MERGES, TINY_SPECIAL, TINY_TEMPLATE } from "../engines/tokenizer/testkit.js";
import { encodeGGUF, type GGUFFile, metaString, metaStrings, readGGUF } from "../formats/gguf/index.js";
import { encodeSafetensors } from "../formats/safetensors/index.js";
import { randomFloats, seededRandom } from "../util/seeded-random.js";
import {
  convertFromGGUF,
  convertFromHF,
  convertRopePairsToNeoX,
  LINEAR_TENSOR,
  PAIRS_TO_NEOX_NOTE,
  pairsToNeoXRowSource,
  permuteRows,
  preTokenizerName,
} from "./index.js";
import { type TinyCheckpoint, writeTinyCheckpoint } from "./testkit.js";

const root = mkdtempSync(join(tmpdir(), "tritgate-convert-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (name: string) => join(root, `${name}-${++counter}`);

// ---------- an independent float64 forward pass over the Hugging Face weights ----------

interface RefConfig {
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  layers: number;
  vocab: number;
  eps: number;
  theta: number;
  activation: "relu2" | "silu";
  tied: boolean;
  subNorms: [string, string];
}

function refConfig(ck: TinyCheckpoint): RefConfig {
  const c = ck.config;
  const old = ck.weights.has("model.layers.0.self_attn.inner_attn_ln.weight");
  return {
    hidden: c.hidden_size as number,
    intermediate: c.intermediate_size as number,
    heads: c.num_attention_heads as number,
    kvHeads: c.num_key_value_heads as number,
    layers: c.num_hidden_layers as number,
    vocab: c.vocab_size as number,
    eps: c.rms_norm_eps as number,
    theta: c.rope_theta as number,
    activation: c.hidden_act as "relu2" | "silu",
    tied: c.tie_word_embeddings as boolean,
    subNorms: old ? ["self_attn.inner_attn_ln", "mlp.ffn_layernorm"] : ["self_attn.attn_sub_norm", "mlp.ffn_sub_norm"],
  };
}

/** fp16 rounding of a positive normal value (the TQ formats store their block scale as fp16). */
function roundToHalf(x: number): number {
  const ulp = 2 ** (Math.floor(Math.log2(x)) - 10);
  return Math.round(x / ulp) * ulp;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** BitNet b1.58's absmean ternarization, W ≈ alpha · clamp(round(W / alpha), -1, 1). */
function ternarize(w: Float64Array, type: WeightType): Float64Array {
  let sum = 0;
  for (const v of w) sum += Math.abs(v);
  const alpha = Math.fround(sum / w.length);
  const inverse = Math.fround(1 / alpha);
  const stored = type === "I2_S" ? alpha : roundToHalf(alpha);
  return w.map((v) => stored * Math.max(-1, Math.min(1, roundHalfEven(Math.fround(v * inverse)))));
}

function rmsNorm(x: Float64Array, weight: Float64Array, eps: number): Float64Array {
  let sum = 0;
  for (const v of x) sum += v * v;
  const inv = 1 / Math.sqrt(sum / x.length + eps);
  return x.map((v, i) => v * inv * (weight[i] ?? 0));
}

function matVec(w: Float64Array, rows: number, cols: number, x: Float64Array): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += (w[r * cols + c] ?? 0) * (x[c] ?? 0);
    out[r] = s;
  }
  return out;
}

/** Hugging Face's rope: rotate_half pairs value i with i + D/2 inside each head. */
function ropeHalf(x: Float64Array, heads: number, headDim: number, position: number, theta: number): void {
  const half = headDim / 2;
  for (let i = 0; i < half; i++) {
    const angle = position * theta ** ((-2 * i) / headDim);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    for (let h = 0; h < heads; h++) {
      const a = x[h * headDim + i] ?? 0;
      const b = x[h * headDim + half + i] ?? 0;
      x[h * headDim + i] = a * cos - b * sin;
      x[h * headDim + half + i] = b * cos + a * sin;
    }
  }
}

/** llama's "normal" rope (2i, 2i+1) — used only to show the test can tell the two apart. */
function ropePairs(x: Float64Array, heads: number, headDim: number, position: number, theta: number): void {
  for (let i = 0; i < headDim / 2; i++) {
    const angle = position * theta ** ((-2 * i) / headDim);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    for (let h = 0; h < heads; h++) {
      const a = x[h * headDim + 2 * i] ?? 0;
      const b = x[h * headDim + 2 * i + 1] ?? 0;
      x[h * headDim + 2 * i] = a * cos - b * sin;
      x[h * headDim + 2 * i + 1] = a * sin + b * cos;
    }
  }
}

function hfForward(ck: TinyCheckpoint, tokens: readonly number[], type: WeightType, rope = ropeHalf): Float64Array[] {
  const c = refConfig(ck);
  const w = (name: string) => {
    const v = ck.weights.get(name);
    if (!v) throw new Error(`reference: no ${name}`);
    return v;
  };
  const ternary = new Map<string, Float64Array>();
  const t = (name: string) => {
    let v = ternary.get(name);
    if (v === undefined) {
      v = ternarize(w(name), type);
      ternary.set(name, v);
    }
    return v;
  };
  const D = c.hidden / c.heads;
  const qDim = c.heads * D;
  const kvDim = c.kvHeads * D;
  const group = c.heads / c.kvHeads;
  const embed = w("model.embed_tokens.weight");
  const xs = tokens.map((id) => embed.slice(id * c.hidden, (id + 1) * c.hidden));
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    const keys: Float64Array[] = [];
    const values: Float64Array[] = [];
    const queries: Float64Array[] = [];
    xs.forEach((x, pos) => {
      const h = rmsNorm(x, w(`${p}.input_layernorm.weight`), c.eps);
      const q = matVec(t(`${p}.self_attn.q_proj.weight`), qDim, c.hidden, h);
      const k = matVec(t(`${p}.self_attn.k_proj.weight`), kvDim, c.hidden, h);
      rope(q, c.heads, D, pos, c.theta);
      rope(k, c.kvHeads, D, pos, c.theta);
      queries.push(q);
      keys.push(k);
      values.push(matVec(t(`${p}.self_attn.v_proj.weight`), kvDim, c.hidden, h));
    });
    xs.forEach((x, pos) => {
      const attn = new Float64Array(qDim);
      const q = queries[pos] as Float64Array;
      for (let head = 0; head < c.heads; head++) {
        const kv = Math.floor(head / group) * D;
        const scores = keys.slice(0, pos + 1).map((k) => {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += (q[head * D + d] ?? 0) * (k[kv + d] ?? 0);
          return dot / Math.sqrt(D);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const total = e.reduce((a, b) => a + b, 0);
        e.forEach((p, s) => {
          const v = values[s] as Float64Array;
          for (let d = 0; d < D; d++) attn[head * D + d] = (attn[head * D + d] ?? 0) + (p / total) * (v[kv + d] ?? 0);
        });
      }
      const o = matVec(
        t(`${p}.self_attn.o_proj.weight`),
        c.hidden,
        qDim,
        rmsNorm(attn, w(`${p}.${c.subNorms[0]}.weight`), c.eps),
      );
      for (let i = 0; i < c.hidden; i++) x[i] = (x[i] ?? 0) + (o[i] ?? 0);
    });
    for (const x of xs) {
      const h = rmsNorm(x, w(`${p}.post_attention_layernorm.weight`), c.eps);
      const g = matVec(t(`${p}.mlp.gate_proj.weight`), c.intermediate, c.hidden, h);
      const u = matVec(t(`${p}.mlp.up_proj.weight`), c.intermediate, c.hidden, h);
      const m = g.map((gv, i) => {
        const act = c.activation === "relu2" ? Math.max(0, gv) ** 2 : gv / (1 + Math.exp(-gv));
        return act * (u[i] ?? 0);
      });
      const d = matVec(
        t(`${p}.mlp.down_proj.weight`),
        c.hidden,
        c.intermediate,
        rmsNorm(m, w(`${p}.${c.subNorms[1]}.weight`), c.eps),
      );
      for (let i = 0; i < c.hidden; i++) x[i] = (x[i] ?? 0) + (d[i] ?? 0);
    }
  }
  const head = c.tied ? embed : w("lm_head.weight");
  return xs.map((x) => matVec(head, c.vocab, c.hidden, rmsNorm(x, w("model.norm.weight"), c.eps)));
}

function engineLogits(file: GGUFFile, tokens: readonly number[]): Float32Array[] {
  const config = readBitNetConfig(file);
  const engine = new BitNetForward(config, loadBitNetWeights(file, config), { activations: "float" });
  const all = engine.forward(tokens, engine.newCache(), true);
  return tokens.map((_, t) => all.subarray(t * config.vocabSize, (t + 1) * config.vocabSize));
}

/** max |a - b| over a row, relative to the row's largest reference logit. */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs((got[i] ?? 0) - (want[i] ?? 0)));
    scale = Math.max(scale, Math.abs(want[i] ?? 0));
  }
  return diff / scale;
}

const PROMPT = [TINY_SPECIAL.bos, 72, 258, 101, 260, 261, 33, 10, 7];

// ---------- tests ----------

describe("rope row permutation (consecutive pairs → NeoX)", () => {
  it("takes new row i from old row 2i and new row i + D/2 from old row 2i + 1, per head", () => {
    expect(Array.from(pairsToNeoXRowSource(2, 8))).toEqual([0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15]);
  });

  it("moves whole rows", () => {
    const values = Float32Array.from({ length: 4 * 3 }, (_, i) => i);
    const out = permuteRows(values, pairsToNeoXRowSource(1, 4), 3);
    expect(Array.from(out)).toEqual([0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11]);
    expect(() => permuteRows(values, pairsToNeoXRowSource(1, 4), 4)).toThrow(/not 4 rows of 4/);
  });

  it("leaves the rows past a partial rope where they are", () => {
    expect(Array.from(pairsToNeoXRowSource(1, 8, 4))).toEqual([0, 2, 1, 3, 4, 5, 6, 7]);
  });

  it("refuses odd or oversized rotated sizes", () => {
    expect(() => pairsToNeoXRowSource(2, 7)).toThrow(RangeError);
    expect(() => pairsToNeoXRowSource(2, 8, 10)).toThrow(RangeError);
  });
});

describe("convert --rope-pairs-to-neox", () => {
  const ck = writeTinyCheckpoint(fresh("pairs"), { seed: 5 });

  it.each(["TQ2_0", "TQ1_0", "I2_S"] as const)(
    "%s: a model laid out for consecutive-pair rope runs under the engine's NeoX rope like the pair reference",
    async (type) => {
      // the HF weights read as a consecutive-pair model: the reference rotates (2i, 2i+1)
      const pairsFile = `${fresh("pairs")}.gguf`;
      await convertFromHF(ck.dir, pairsFile, { type });
      const out = `${fresh("neox")}.gguf`;
      await convertRopePairsToNeoX(pairsFile, out);
      const want = hfForward(ck, PROMPT, type, ropePairs);
      const file = await readGGUF(out);
      engineLogits(file, PROMPT).forEach((row, t) => {
        expect(relativeError(row, want[t] as Float64Array), `position ${t}`).toBeLessThan(1e-3);
      });
      // without the permutation the engine runs a different network
      const unpermuted = engineLogits(await readGGUF(pairsFile), PROMPT);
      const last = PROMPT.length - 1;
      expect(relativeError(unpermuted[last] as Float32Array, want[last] as Float64Array)).toBeGreaterThan(1e-2);
      expect(metaString(file, "general.description")).toContain(PAIRS_TO_NEOX_NOTE);
    },
  );

  it("moves only attn_q / attn_k, and refuses a file it already permuted", async () => {
    const pairsFile = `${fresh("pairs")}.gguf`;
    await convertFromHF(ck.dir, pairsFile, { type: "I2_S" });
    const out = `${fresh("neox")}.gguf`;
    await convertRopePairsToNeoX(pairsFile, out);
    const [before, after] = [await readGGUF(pairsFile), await readGGUF(out)];
    for (const t of before.tensors) {
      const same = Buffer.compare(before.tensorData(t.name), after.tensorData(t.name)) === 0;
      expect(same, t.name).toBe(!/attn_(q|k)\.weight$/.test(t.name));
    }
    // the I2_S scale after the rows stays
    const q = before.tensorData("blk.0.attn_q.weight");
    expect(Array.from(after.tensorData("blk.0.attn_q.weight").subarray(-32))).toEqual(Array.from(q.subarray(-32)));
    await expect(convertRopePairsToNeoX(out, `${fresh("twice")}.gguf`)).rejects.toThrow(/already permuted/);
  });
});

describe("convert --from-hf", () => {
  const ck = writeTinyCheckpoint(fresh("hf"), { seed: 11 });

  it.each(["TQ2_0", "TQ1_0", "I2_S"] as const)(
    "%s: logits match a float64 HF forward (rotate_half rope, absmean weights) within 1e-3",
    async (type) => {
      const out = `${fresh("out")}.gguf`;
      const summary = await convertFromHF(ck.dir, out, { type });
      expect(summary.tensors).toBe(1 + 2 * 11 + 1);
      const file = await readGGUF(out);
      const want = hfForward(ck, PROMPT, type);
      engineLogits(file, PROMPT).forEach((row, t) => {
        expect(relativeError(row, want[t] as Float64Array), `position ${t}`).toBeLessThan(1e-3);
      });
    },
  );

  it("keeps q_proj / k_proj in Hugging Face's row order (no permutation)", async () => {
    const out = `${fresh("order")}.gguf`;
    await convertFromHF(ck.dir, out, { type: "I2_S" });
    const file = await readGGUF(out);
    for (const [gguf, hf, rows] of [
      ["blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 256],
      ["blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight", 128],
    ] as const) {
      const got = dequantize({ type: "I2_S", rows, cols: 256, data: file.tensorData(gguf) });
      const want = ternarize(ck.weights.get(hf) as Float64Array, "I2_S");
      const differing = want.filter((v, i) => Math.sign(v) !== Math.sign(got[i] ?? Number.NaN)).length;
      expect(differing, gguf).toBe(0);
    }
  });

  it("the reference can tell the rope conventions apart (the row order matters)", () => {
    const halves = hfForward(ck, PROMPT, "I2_S", ropeHalf);
    const pairs = hfForward(ck, PROMPT, "I2_S", ropePairs);
    expect(
      relativeError(pairs[PROMPT.length - 1] as Float64Array, halves[PROMPT.length - 1] as Float64Array),
    ).toBeGreaterThan(1e-2);
  });

  it("writes our BitNet metadata, tensor names and types", async () => {
    const out = `${fresh("meta")}.gguf`;
    await convertFromHF(ck.dir, out);
    const file = await readGGUF(out);
    const config = readBitNetConfig(file);
    expect(config).toMatchObject({
      architecture: "bitnet-b1.58",
      layers: 2,
      embedding: 256,
      feedForward: 512,
      heads: 4,
      kvHeads: 2,
      headDim: 64,
      ropeDim: 64,
      contextLength: 64,
      vocabSize: 300,
      activation: "relu2",
    });
    expect(config.rmsEpsilon).toBeCloseTo(1e-5, 10);
    const types = Object.fromEntries(file.tensors.map((t) => [t.name, t.type]));
    expect(types["token_embd.weight"]).toBe("F16");
    expect(types["output.weight"]).toBeUndefined();
    expect(types["output_norm.weight"]).toBe("F32");
    for (const n of ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]) {
      expect(types[`blk.1.${n}.weight`], n).toBe("TQ2_0");
    }
    for (const n of ["attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm"])
      expect(types[`blk.0.${n}.weight`]).toBe("F32");
    const ffnDown = file.tensors.find((t) => t.name === "blk.0.ffn_down.weight");
    expect(ffnDown?.dims).toEqual([512, 256]);
  });

  it("copies the byte-level BPE tokenizer: tokens, types, merges, special ids, template", async () => {
    const out = `${fresh("tok")}.gguf`;
    await convertFromHF(ck.dir, out, { embeddingType: "Q8_0" });
    const file = await readGGUF(out);
    const tokens = metaStrings(file, "tokenizer.ggml.tokens") ?? [];
    expect(tokens).toHaveLength(300);
    expect(tokens[32]).toBe("Ġ");
    expect(tokens[258]).toBe("Ġthe");
    expect(tokens[TINY_SPECIAL.bos]).toBe("<|begin_of_text|>");
    expect(tokens[270]).toBe("[PAD270]");
    expect(tokens[TINY_SPECIAL.reserved]).toBe("<|reserved|>");
    const types = file.metadata.get("tokenizer.ggml.token_type")?.value as number[];
    expect([types[65], types[258], types[TINY_SPECIAL.eot], types[TINY_SPECIAL.reserved], types[299]]).toEqual([
      1, 1, 3, 4, 5,
    ]);
    expect(metaStrings(file, "tokenizer.ggml.merges")).toEqual(TINY_MERGES.map(([a, b]) => `${a} ${b}`));
    const value = (key: string) => file.metadata.get(key)?.value;
    expect(value("tokenizer.ggml.model")).toBe("gpt2");
    expect(value("tokenizer.ggml.pre")).toBe("llama-bpe");
    expect(value("tokenizer.ggml.bos_token_id")).toBe(TINY_SPECIAL.bos);
    expect(value("tokenizer.ggml.eos_token_id")).toBe(TINY_SPECIAL.eot);
    expect(value("tokenizer.ggml.add_bos_token")).toBe(true);
    expect(value("tokenizer.chat_template")).toBe(TINY_TEMPLATE);
    expect(file.tensors.find((t) => t.name === "token_embd.weight")?.type).toBe("Q8_0");

    const tokenizer = tokenizerFromGGUF({
      model: "gpt2",
      tokens,
      tokenTypes: types,
      merges: metaStrings(file, "tokenizer.ggml.merges"),
      pre: value("tokenizer.ggml.pre") as string,
      bosId: TINY_SPECIAL.bos,
      eosId: TINY_SPECIAL.eot,
      addBos: true,
    });
    expect(tokenizer.encode(" the cat", { addSpecial: true })).toEqual([TINY_SPECIAL.bos, 258, 260, 261]);
  });

  it("sharded, untied, 1bitLLM BitnetForCausalLM (SiLU, old sub-norm names, pair merges, F16 master weights)", async () => {
    const sharded = writeTinyCheckpoint(fresh("sharded"), {
      architecture: "BitnetForCausalLM",
      activation: "silu",
      tied: false,
      shards: 3,
      dtype: "F16",
      oldSubNormNames: true,
      pairMerges: true,
      ropeTheta: 500000,
      seed: 12,
    });
    const out = `${fresh("sharded")}.gguf`;
    const summary = await convertFromHF(sharded.dir, out, { type: "I2_S", embeddingType: "F32" });
    expect(summary.tensors).toBe(2 + 2 * 11 + 1);
    const file = await readGGUF(out);
    expect(file.metadata.get("general.architecture")?.value).toBe("bitnet");
    expect(readBitNetConfig(file).activation).toBe("silu");
    expect(file.tensors.find((t) => t.name === "output.weight")?.type).toBe("F32");
    expect(metaStrings(file, "tokenizer.ggml.merges")?.[2]).toBe("Ġt he");
    const want = hfForward(sharded, PROMPT, "I2_S");
    engineLogits(file, PROMPT).forEach((row, t) => {
      expect(relativeError(row, want[t] as Float64Array), `position ${t}`).toBeLessThan(1e-3);
    });
  });
});

describe("convert --from-hf: bad inputs name the file and the problem", () => {
  it("missing config.json", async () => {
    const ck = writeTinyCheckpoint(fresh("noconfig"), { layers: 1 });
    rmSync(join(ck.dir, "config.json"));
    await expect(convertFromHF(ck.dir, `${fresh("x")}.gguf`)).rejects.toThrow(/config\.json: not found/);
  });

  it("unsupported architecture", async () => {
    const ck = writeTinyCheckpoint(fresh("llama"), { layers: 1, architecture: "LlamaForCausalLM" });
    await expect(convertFromHF(ck.dir, `${fresh("x")}.gguf`)).rejects.toThrow(
      /config\.json: architecture LlamaForCausalLM is not supported/,
    );
  });

  it("a tensor in an unknown dtype", async () => {
    const ck = writeTinyCheckpoint(fresh("dtype"), { layers: 1 });
    const shape = ck.shapes.get("model.layers.0.self_attn.v_proj.weight") as number[];
    const tensors = [...ck.weights.entries()].map(([name, values]) => {
      if (name === "model.layers.0.self_attn.v_proj.weight") {
        return { name, dtype: "I32", shape, data: new Uint8Array(values.length * 4) };
      }
      return {
        name,
        dtype: "F32",
        shape: ck.shapes.get(name) as number[],
        data: new Uint8Array(Float32Array.from(values).buffer),
      };
    });
    writeFileSync(join(ck.dir, "model.safetensors"), encodeSafetensors(tensors));
    await expect(convertFromHF(ck.dir, `${fresh("x")}.gguf`)).rejects.toThrow(
      /model\.safetensors: tensor model\.layers\.0\.self_attn\.v_proj\.weight has dtype I32/,
    );
  });

  it("a truncated safetensors file", async () => {
    const ck = writeTinyCheckpoint(fresh("trunc"), { layers: 1 });
    const path = join(ck.dir, "model.safetensors");
    const { readFileSync } = await import("node:fs");
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.byteLength - 1000));
    await expect(convertFromHF(ck.dir, `${fresh("x")}.gguf`)).rejects.toThrow(/model\.safetensors: truncated/);
  });

  it("a shard the index names is missing, and a shape that contradicts config.json", async () => {
    const ck = writeTinyCheckpoint(fresh("shards"), { layers: 1, shards: 2 });
    rmSync(join(ck.dir, "model-00002-of-00002.safetensors"));
    await expect(convertFromHF(ck.dir, `${fresh("x")}.gguf`)).rejects.toThrow(
      /model-00002-of-00002\.safetensors: cannot open: ENOENT/,
    );
    const wrong = writeTinyCheckpoint(fresh("shape"), { layers: 1 });
    const config = { ...wrong.config, intermediate_size: 768 };
    writeFileSync(join(wrong.dir, "config.json"), JSON.stringify(config));
    await expect(convertFromHF(wrong.dir, `${fresh("x")}.gguf`)).rejects.toThrow(
      /model\.safetensors: tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[512, 256\] but config\.json implies \[768, 256\]/,
    );
  });

  it("tensors the layout would silently drop (biases)", async () => {
    const ck = writeTinyCheckpoint(fresh("bias"), { layers: 1 });
    const tensors = [...ck.weights.entries()].map(([name, values]) => ({
      name,
      dtype: "F32",
      shape: ck.shapes.get(name) as number[],
      data: new Uint8Array(Float32Array.from(values).buffer),
    }));
    tensors.push({
      name: "model.layers.0.self_attn.q_proj.bias",
      dtype: "F32",
      shape: [256],
      data: new Uint8Array(1024),
    });
    writeFileSync(join(ck.dir, "model.safetensors"), encodeSafetensors(tensors));
    await expect(convertFromHF(ck.dir, `${fresh("x")}.gguf`)).rejects.toThrow(
      /does not use \(model\.layers\.0\.self_attn\.q_proj\.bias\)/,
    );
  });
});

describe("convert --from-gguf", () => {
  const TINY = { layers: 2, embedding: 256, feedForward: 512, heads: 4, kvHeads: 2, vocab: 270, contextLength: 32 };
  /** An F32 synthetic model whose linear layers hold plain (not yet ternary) random floats. */
  function floatModel(): { path: string; originals: Map<string, Float32Array> } {
    const spec = syntheticBitNet({ ...TINY, linearType: "F32", seed: 5 });
    const originals = new Map<string, Float32Array>();
    let seed = 77;
    const tensors = spec.tensors.map((t) => {
      if (!LINEAR_TENSOR.test(t.name)) return t;
      const [cols = 0, rows = 0] = t.dims;
      const values = randomFloats(rows * cols, seededRandom(++seed), 0.05);
      originals.set(t.name, values);
      return { ...t, data: new Uint8Array(values.buffer) };
    });
    const path = `${fresh("f32")}.gguf`;
    writeFileSync(path, encodeGGUF({ metadata: spec.metadata, tensors }));
    return { path, originals };
  }
  const model = floatModel();

  it.each(["TQ1_0", "I2_S", "TQ2_0"] as const)("F32 → %s equals the kernels' absmean quantization", async (type) => {
    const out = `${fresh("requant")}.gguf`;
    const summary = await convertFromGGUF(model.path, out, type);
    const before = await readGGUF(model.path);
    const after = await readGGUF(out);
    expect(summary.tensors).toBe(before.tensors.length);
    // every key is copied except general.file_type, which names the new type (I2_S has none in llama.cpp)
    const copied = (keys: Iterable<string>) => [...keys].filter((k) => k !== "general.file_type");
    expect(copied(after.metadata.keys())).toEqual(copied(before.metadata.keys()));
    expect(after.metadata.get("general.file_type")?.value).toBe({ TQ1_0: 36, TQ2_0: 37, I2_S: undefined }[type]);
    expect(after.metadata.get("tokenizer.ggml.tokens")).toEqual(before.metadata.get("tokenizer.ggml.tokens"));
    for (const t of after.tensors) {
      const original = model.originals.get(t.name);
      if (original === undefined) {
        expect(t.type, t.name).toBe(before.tensors.find((b) => b.name === t.name)?.type);
        expect(Buffer.from(after.tensorData(t.name)).equals(Buffer.from(before.tensorData(t.name))), t.name).toBe(true);
        continue;
      }
      const [cols = 0, rows = 0] = t.dims;
      expect(t.type).toBe(type);
      const want = quantize(type, original, rows, cols, { absmean: true }).data;
      expect(Buffer.from(after.tensorData(t.name)).equals(Buffer.from(want)), t.name).toBe(true);
    }
    const config = readBitNetConfig(after);
    const engine = new BitNetForward(config, loadBitNetWeights(after, config));
    expect(engine.forward([1, 2, 3], engine.newCache()).every(Number.isFinite)).toBe(true);
  });

  it("ternary → ternary re-packs without changing the weights (TQ2_0 → I2_S → TQ1_0)", async () => {
    const tq2 = `${fresh("tq2")}.gguf`;
    const i2s = `${fresh("i2s")}.gguf`;
    const tq1 = `${fresh("tq1")}.gguf`;
    await convertFromGGUF(model.path, tq2, "TQ2_0");
    await convertFromGGUF(tq2, i2s, "I2_S");
    await convertFromGGUF(i2s, tq1, "TQ1_0");
    const files = await Promise.all([tq2, i2s, tq1].map((p) => readGGUF(p)));
    for (const name of model.originals.keys()) {
      const [a, b, c] = files.map((f) => {
        const info = f.tensors.find((t) => t.name === name);
        const [cols = 0, rows = 0] = info?.dims ?? [];
        return dequantize({ type: info?.type as WeightType, rows, cols, data: f.tensorData(name) });
      });
      // the TQ formats keep the scale as fp16, I2_S as fp32: equal to fp16 precision
      for (const other of [b, c]) {
        let worst = 0;
        (a as Float32Array).forEach((v, i) => {
          worst = Math.max(worst, Math.abs(v - ((other as Float32Array)[i] ?? 0)) / Math.abs(v || 1));
        });
        expect(worst, name).toBeLessThan(1e-3);
      }
    }
  });

  it("--head-type q8_0 re-packs a tied head (token_embd) as Q8_0 and keeps it tied", async () => {
    const tq2 = `${fresh("tq2-f16-head")}.gguf`;
    const q8 = `${fresh("tq2-q8-head")}.gguf`;
    await convertFromGGUF(model.path, tq2, "TQ2_0");
    await convertFromGGUF(tq2, q8, "TQ2_0", { headType: "Q8_0" });
    const [before, after] = await Promise.all([readGGUF(tq2), readGGUF(q8)]);
    expect(after.tensors.map((t) => t.name)).toEqual(before.tensors.map((t) => t.name));
    expect(after.tensors.some((t) => t.name === "output.weight")).toBe(false);
    const embedding = before.tensors.find((t) => t.name === "token_embd.weight");
    const head = after.tensors.find((t) => t.name === "token_embd.weight");
    expect(embedding?.type).toBe("F16");
    expect(head?.type).toBe("Q8_0");
    expect(head?.dims).toEqual(embedding?.dims);
    const [cols = 0, rows = 0] = embedding?.dims ?? [];
    const floats = dequantize({
      type: embedding?.type as WeightType,
      rows,
      cols,
      data: before.tensorData("token_embd.weight"),
    });
    const want = quantize("Q8_0", floats, rows, cols).data;
    expect(Buffer.from(after.tensorData("token_embd.weight")).equals(Buffer.from(want))).toBe(true);
    for (const t of before.tensors.filter((t) => t.name !== "token_embd.weight")) {
      expect(Buffer.from(after.tensorData(t.name)).equals(Buffer.from(before.tensorData(t.name))), t.name).toBe(true);
    }
    // the engine reads the Q8_0 embedding and head: logits move by Q8_0's rounding (1/254 of a block's
    // absmax per value) carried through the lookup, two layers of int8 activations and the head
    const run = (file: GGUFFile) => {
      const config = readBitNetConfig(file);
      const weights = loadBitNetWeights(file, config);
      return {
        tied: weights.tiedOutput,
        logits: new BitNetForward(config, weights).forward([1, 2, 3], new BitNetForward(config, weights).newCache()),
      };
    };
    const f16 = run(before);
    const q8head = run(after);
    expect(f16.tied).toBe(true);
    expect(q8head.tied).toBe(true);
    let worst = 0;
    let scale = 0;
    f16.logits.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - (q8head.logits[i] ?? 0)));
      scale = Math.max(scale, Math.abs(v));
    });
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(0.05 * scale);
  });

  it("--head-type re-packs an existing output.weight in place", async () => {
    const spec = syntheticBitNet({ ...TINY, linearType: "TQ2_0", seed: 9, separateOutput: true });
    const path = `${fresh("separate")}.gguf`;
    writeFileSync(path, encodeGGUF(spec));
    const out = `${fresh("separate-q8")}.gguf`;
    const summary = await convertFromGGUF(path, out, "TQ2_0", { headType: "Q8_0" });
    const after = await readGGUF(out);
    expect(summary.tensors).toBe(spec.tensors.length);
    expect(after.tensors.filter((t) => t.name === "output.weight").map((t) => t.type)).toEqual(["Q8_0"]);
    const before = await readGGUF(path);
    const source = before.tensors.find((t) => t.name === "output.weight");
    const [cols = 0, rows = 0] = source?.dims ?? [];
    const floats = dequantize({
      type: source?.type as WeightType,
      rows,
      cols,
      data: before.tensorData("output.weight"),
    });
    const want = quantize("Q8_0", floats, rows, cols).data;
    expect(Buffer.from(after.tensorData("output.weight")).equals(Buffer.from(want))).toBe(true);
  });

  it("rejects files that are not our BitNet layout, and refuses to overwrite the input", async () => {
    const path = `${fresh("llama")}.gguf`;
    writeFileSync(
      path,
      encodeGGUF({ metadata: [["general.architecture", { type: "string", value: "llama" }]], tensors: [] }),
    );
    await expect(convertFromGGUF(path, `${fresh("x")}.gguf`, "TQ2_0")).rejects.toThrow(
      /llama-\d+\.gguf: architecture "llama" is not a BitNet layout/,
    );
    await expect(convertFromGGUF(model.path, model.path, "TQ2_0")).rejects.toThrow(/overwrite the input/);
  });
});

describe("pre-tokenizer names", () => {
  it("recognizes Llama-3's split regex and falls back to default", () => {
    const split = (regex: string) => ({
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: regex } },
        { type: "ByteLevel", use_regex: false },
      ],
    });
    expect(preTokenizerName(split(LLAMA3_SPLIT))).toBe("llama-bpe");
    expect(preTokenizerName({ type: "ByteLevel", add_prefix_space: false, use_regex: true })).toBe("default");
    expect(preTokenizerName(null)).toBe("default");
  });
});
