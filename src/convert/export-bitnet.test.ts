import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import {
  BitNetForward,
  loadBitNetWeights,
  readBitNetConfig,
  type SyntheticBitNetSpec,
  syntheticBitNet,
} from "../engines/bitnet/index.js";
import { encodeGGUF, type GGUFFile, type GGUFSpec, type GGUFValue, parseGGUF } from "../formats/gguf/index.js";
import { buildBitNetOnnx, DECODER_IO, exportBitNetToOnnx } from "./export-bitnet.js";

const { onnx } = onnxProto;

import { TINY_BITNET } from "../engines/bitnet/testkit.js";

const BASE: SyntheticBitNetSpec = { ...TINY_BITNET, linearType: "F32", seed: 1 };

function ggufOf(spec: GGUFSpec): GGUFFile {
  return parseGGUF(encodeGGUF(spec), "<synthetic>");
}

/** A deterministic prompt of `length` token ids. */
function prompt(length: number, seed: number, vocab: number): number[] {
  return Array.from({ length }, (_, i) => (seed * 7919 + i * 104729 + i * i * 31) % vocab);
}

function argmax(row: Float32Array | number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] ?? 0) > (row[best] ?? 0)) best = i;
  return best;
}

/** max|a - b| / max|b| */
function relativeDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
  }
  return diff / scale;
}

const measured: Record<string, number> = {};
afterAll(() => {
  console.info("max relative logit diffs (ORT vs BitNetForward float):", measured);
});

interface Decoder {
  readonly file: GGUFFile;
  readonly session: ort.InferenceSession;
  readonly engine: BitNetForward;
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vocab: number;
  readonly kvType: "float32" | "float16";
}

async function decoder(spec: GGUFSpec, kvType: "float32" | "float16" = "float32"): Promise<Decoder> {
  const file = ggufOf(spec);
  const config = readBitNetConfig(file);
  const bytes = exportBitNetToOnnx(file, { kvType });
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all" });
  const engine = new BitNetForward(config, loadBitNetWeights(file, config), { activations: "float" });
  return {
    file,
    session,
    engine,
    layers: config.layers,
    kvHeads: config.kvHeads,
    headDim: config.headDim,
    vocab: config.vocabSize,
    kvType,
  };
}

type Past = Record<string, ort.Tensor>;

function emptyPast(d: Decoder, batch = 1): Past {
  const past: Past = {};
  const dims = [batch, d.kvHeads, 0, d.headDim];
  for (let l = 0; l < d.layers; l++) {
    for (const name of [DECODER_IO.pastKey(l), DECODER_IO.pastValue(l)]) {
      past[name] =
        d.kvType === "float16"
          ? new ort.Tensor("float16", new Uint16Array(0), dims)
          : new ort.Tensor("float32", new Float32Array(0), dims);
    }
  }
  return past;
}

const int64 = (values: number[], dims: number[]) => new ort.Tensor("int64", BigInt64Array.from(values, BigInt), dims);

/** One batch-1 step: `tokens` at positions pastLength.. ; returns [tokens x vocab] logits and the new past. */
async function step(d: Decoder, tokens: number[], past: Past, pastLength: number) {
  const total = pastLength + tokens.length;
  const results = await d.session.run({
    [DECODER_IO.inputIds]: int64(tokens, [1, tokens.length]),
    [DECODER_IO.attentionMask]: int64(new Array(total).fill(1), [1, total]),
    [DECODER_IO.positionIds]: int64(
      tokens.map((_, i) => pastLength + i),
      [1, tokens.length],
    ),
    ...past,
  });
  const logits = results[DECODER_IO.logits]!;
  expect(logits.dims).toEqual([1, tokens.length, d.vocab]);
  const next: Past = {};
  for (let l = 0; l < d.layers; l++) {
    const key = results[DECODER_IO.presentKey(l)]!;
    expect(key.dims).toEqual([1, d.kvHeads, total, d.headDim]);
    expect(key.type).toBe(d.kvType);
    next[DECODER_IO.pastKey(l)] = key;
    next[DECODER_IO.pastValue(l)] = results[DECODER_IO.presentValue(l)]!;
  }
  return { logits: logits.data as Float32Array, past: next };
}

function rows(logits: Float32Array, vocab: number): Float32Array[] {
  return Array.from({ length: logits.length / vocab }, (_, r) => logits.subarray(r * vocab, (r + 1) * vocab));
}

/**
 * Compares ORT with the engine on prompts of lengths 1, 5, 17: one prefill (every position),
 * then prefill of the first half + token-by-token decode, then three greedy tokens past the end.
 */
async function compare(d: Decoder, label: string, tolerance: number): Promise<void> {
  let worst = 0;
  for (const length of [1, 5, 17]) {
    const tokens = prompt(length, length + d.vocab, d.vocab);
    const cache = d.engine.newCache();
    const reference = rows(d.engine.forward(tokens, cache, true), d.vocab);

    // one prefill, logits at every position
    const prefill = await step(d, tokens, emptyPast(d), 0);
    const ortRows = rows(prefill.logits, d.vocab);
    for (let r = 0; r < length; r++) {
      worst = Math.max(worst, relativeDiff(ortRows[r]!, reference[r]!));
      expect(argmax(ortRows[r]!), `${label} prefill ${length} row ${r}`).toBe(argmax(reference[r]!));
    }

    // prefill + decode, carrying present → past
    const split = Math.max(1, Math.floor(length / 2));
    let state = await step(d, tokens.slice(0, split), emptyPast(d), 0);
    const decoded = [...rows(state.logits, d.vocab)];
    for (let i = split; i < length; i++) {
      state = await step(d, [tokens[i]!], state.past, i);
      decoded.push(state.logits);
    }
    for (let r = 0; r < length; r++) {
      worst = Math.max(worst, relativeDiff(decoded[r]!, reference[r]!));
      expect(argmax(decoded[r]!), `${label} decode ${length} row ${r}`).toBe(argmax(reference[r]!));
    }

    // greedy continuation: both sides decode their own choices
    let engineNext = argmax(reference[length - 1]!);
    let ortNext = argmax(decoded[length - 1]!);
    for (let i = 0; i < 3; i++) {
      expect(ortNext, `${label} greedy ${length} step ${i}`).toBe(engineNext);
      const engineLogits = d.engine.forward([engineNext], cache);
      state = await step(d, [ortNext], state.past, length + i);
      worst = Math.max(worst, relativeDiff(state.logits, engineLogits));
      engineNext = argmax(engineLogits);
      ortNext = argmax(state.logits);
    }
  }
  measured[label] = worst;
  expect(worst, label).toBeLessThan(tolerance);
}

/** Node inputs all defined, outputs and inputs named as Optimum names them. */
function checkModel(bytes: Uint8Array, layers: number): void {
  const model = onnx.ModelProto.decode(bytes);
  expect(Number(model.irVersion)).toBe(8);
  expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([["", 17]]);
  const graph = model.graph as OnnxTypes.GraphProto;
  const inputs = graph.input as OnnxTypes.ValueInfoProto[];
  const outputs = graph.output as OnnxTypes.ValueInfoProto[];
  const initializers = graph.initializer as OnnxTypes.TensorProto[];
  const defined = new Set([...inputs.map((i) => i.name), ...initializers.map((t) => t.name)]);
  const undefinedInputs: string[] = [];
  for (const node of graph.node as OnnxTypes.NodeProto[]) {
    for (const i of node.input) if (i !== "" && !defined.has(i)) undefinedInputs.push(`${node.opType}:${i}`);
    for (const o of node.output) {
      expect(defined.has(o), `${o} defined twice`).toBe(false);
      defined.add(o);
    }
  }
  expect(undefinedInputs).toEqual([]);
  for (const o of outputs) expect(defined.has(o.name)).toBe(true);
  const pastNames = Array.from({ length: layers }, (_, l) => [DECODER_IO.pastKey(l), DECODER_IO.pastValue(l)]).flat();
  expect(inputs.map((i) => i.name)).toEqual(["input_ids", "attention_mask", "position_ids", ...pastNames]);
  const presentNames = Array.from({ length: layers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat();
  expect(outputs.map((o) => o.name)).toEqual(["logits", ...presentNames]);
  const logitsDims = outputs[0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
  expect(logitsDims).toEqual(["batch_size", "sequence_length", 270]);
}

describe("exportBitNetToOnnx", () => {
  it("writes a well-formed Optimum-style decoder graph", () => {
    const file = ggufOf(syntheticBitNet(BASE));
    const bytes = exportBitNetToOnnx(file);
    checkModel(bytes, 2);
    const builder = buildBitNetOnnx(file);
    expect(builder.problems()).toEqual([]);
    // tied head: the embedding table is stored once
    const model = onnx.ModelProto.decode(bytes);
    expect((model.graph!.initializer ?? []).filter((t) => t.name === "output.weight")).toHaveLength(0);
    const weights = 270 * 256 + 2 * (2 * 256 * 256 + 2 * 256 * 128 + 3 * 256 * 512);
    expect(builder.initializerBytes).toBeGreaterThan(4 * weights);
    expect(builder.initializerBytes).toBeLessThan(4 * weights + 20_000);
  });

  it("matches the float engine: F32, relu2, GQA, tied head", async () => {
    await compare(await decoder(syntheticBitNet(BASE)), "f32-relu2-gqa-tied", 1e-4);
  });

  it("matches the float engine: F16, silu, MHA, separate head", async () => {
    const spec = { ...BASE, linearType: "F16", activation: "silu", kvHeads: 4, separateOutput: true, seed: 2 } as const;
    await compare(await decoder(syntheticBitNet(spec)), "f16-silu-mha-separate", 1e-4);
  });

  it("matches the float engine: TQ2_0 with .scale tensors, relu2, GQA, separate head", async () => {
    const spec = { ...BASE, linearType: "TQ2_0", separateOutput: true, scaleTensors: true, seed: 3 } as const;
    await compare(await decoder(syntheticBitNet(spec)), "tq2-relu2-gqa-separate-scaled", 1e-4);
  });

  it("matches the float engine: TQ2_0, silu, MHA, tied, partial rope, Q8_0 embedding", async () => {
    const spec = syntheticBitNet({
      ...BASE,
      linearType: "TQ2_0",
      embeddingType: "Q8_0",
      activation: "silu",
      kvHeads: 4,
      ropeBase: 500000,
      seed: 4,
    });
    // rotate only the first half of each head
    const metadata = [...spec.metadata].map(([k, v]): [string, GGUFValue] =>
      k === "bitnet.rope.dimension_count" ? [k, { type: "u32", value: 32 }] : [k, v],
    );
    const d = await decoder({ ...spec, metadata });
    expect(d.engine.config.ropeDim).toBe(32);
    await compare(d, "tq2-silu-mha-tied-rope32", 1e-4);
  });

  it("float16 KV: float16 past/present, logits within 1e-2", async () => {
    const d = await decoder(syntheticBitNet({ ...BASE, seed: 5 }), "float16");
    const inputs = d.session.inputNames;
    expect(inputs).toContain("past_key_values.1.value");
    await compare(d, "f32-relu2-gqa-kv16", 1e-2);
  });

  it("serves a left-padded batch like the prompts alone", async () => {
    const d = await decoder(syntheticBitNet({ ...BASE, seed: 6 }));
    const a = prompt(6, 11, d.vocab);
    const b = prompt(3, 12, d.vocab);
    const width = 6;
    const padded = [...a, 0, 0, 0, ...b];
    const mask = [...a.map(() => 1), 0, 0, 0, 1, 1, 1];
    const positions = [0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 1, 2];
    const results = await d.session.run({
      input_ids: int64(padded, [2, width]),
      attention_mask: int64(mask, [2, width]),
      position_ids: int64(positions, [2, width]),
      ...emptyPast(d, 2),
    });
    const logits = results.logits!.data as Float32Array;
    for (const [row, tokens] of [
      [0, a],
      [1, b],
    ] as const) {
      const expected = d.engine.forward(tokens, d.engine.newCache());
      const got = logits.subarray((row * width + width - 1) * d.vocab, (row * width + width) * d.vocab);
      expect(relativeDiff(got, expected)).toBeLessThan(1e-4);
      expect(argmax(got)).toBe(argmax(expected));
    }
  });

  it("the comparison can fail: a different rope base does not match", async () => {
    // guards the comparison itself: a model whose rope base differs must not match the engine
    const d = await decoder(syntheticBitNet({ ...BASE, seed: 7 }));
    const other = ggufOf(syntheticBitNet({ ...BASE, seed: 7, ropeBase: 100 }));
    const session = await ort.InferenceSession.create(exportBitNetToOnnx(other));
    const tokens = prompt(9, 3, d.vocab);
    const results = await session.run({
      input_ids: int64(tokens, [1, 9]),
      attention_mask: int64(new Array(9).fill(1), [1, 9]),
      position_ids: int64(
        tokens.map((_, i) => i),
        [1, 9],
      ),
      ...emptyPast(d),
    });
    const all = d.engine.forward(tokens, d.engine.newCache(), true);
    expect(relativeDiff(results.logits!.data as Float32Array, all)).toBeGreaterThan(1e-3);
  });
});
