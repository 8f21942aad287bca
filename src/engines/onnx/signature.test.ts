import { describe, expect, it } from "vitest";
import { float32ToHalfBits, halfBitsToFloat32, halfBitsToNumber, numberToHalfBits } from "../../util/half.js";
import { ModelLoadError } from "../errors.js";
import { readDecoderSignature, type ValueMetadata } from "./signature.js";

type Dim = number | string;
const t = (name: string, type: string, shape: Dim[]): ValueMetadata =>
  ({ name, isTensor: true, type, shape }) as ValueMetadata;

function graph(
  options: {
    layers?: number;
    heads?: Dim;
    dim?: Dim;
    type?: string;
    positionIds?: boolean;
    vocab?: Dim;
    per?: (layer: number, kind: string) => { heads?: Dim; dim?: Dim; type?: string } | undefined;
  } = {},
) {
  const layers = options.layers ?? 3;
  const inputs: ValueMetadata[] = [
    t("input_ids", "int64", ["batch", "seq"]),
    t("attention_mask", "int64", ["batch", "total"]),
  ];
  if (options.positionIds !== false) inputs.push(t("position_ids", "int64", ["batch", "seq"]));
  const outputs: ValueMetadata[] = [t("logits", "float32", ["batch", "seq", options.vocab ?? 512])];
  for (let l = 0; l < layers; l++) {
    for (const kind of ["key", "value"]) {
      const o = options.per?.(l, kind) ?? {};
      const type = o.type ?? options.type ?? "float32";
      const heads = o.heads ?? options.heads ?? 4;
      const dim = o.dim ?? options.dim ?? 16;
      inputs.push(t(`past_key_values.${l}.${kind}`, type, ["batch", heads, "past", dim]));
      outputs.push(t(`present.${l}.${kind}`, type, ["batch", heads, "total", dim]));
    }
  }
  return { inputs, outputs };
}

const read = (g: { inputs: ValueMetadata[]; outputs: ValueMetadata[] }) =>
  readDecoderSignature("m.onnx", g.inputs, g.outputs);

function loadError(fn: () => unknown): ModelLoadError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as ModelLoadError).file).toBe("m.onnx");
    return err as ModelLoadError;
  }
  throw new Error("expected a ModelLoadError");
}

describe("readDecoderSignature", () => {
  it("reads layers, KV heads, head size, dtypes and vocab from the metadata", () => {
    const sig = read(graph({ layers: 3, heads: 4, dim: 16, vocab: 512 }));
    expect(sig).toMatchObject({
      layers: 3,
      kvHeads: 4,
      headDim: 16,
      valueDim: 16,
      kvType: "float32",
      inputIdsType: "int64",
      attentionMaskType: "int64",
      positionIdsType: "int64",
      useCacheBranch: false,
      logitsType: "float32",
      vocabSize: 512,
    });
    expect(sig.names[2]).toEqual({
      pastKey: "past_key_values.2.key",
      pastValue: "past_key_values.2.value",
      presentKey: "present.2.key",
      presentValue: "present.2.value",
    });
  });

  it("accepts float16 KV, a missing position_ids, a symbolic vocab and inputs in any order", () => {
    const g = graph({ layers: 2, heads: 2, dim: 64, type: "float16", positionIds: false, vocab: "vocab_size" });
    const sig = read({ inputs: [...g.inputs].reverse(), outputs: [...g.outputs].reverse() });
    expect(sig).toMatchObject({ layers: 2, kvHeads: 2, headDim: 64, kvType: "float16", vocabSize: undefined });
    expect(sig.positionIdsType).toBeUndefined();
    expect(sig.names.map((n) => n.pastKey)).toEqual(["past_key_values.0.key", "past_key_values.1.key"]);
  });

  it("reads a merged decoder's use_cache_branch", () => {
    const g = graph();
    g.inputs.push(t("use_cache_branch", "bool", [1]));
    expect(read(g).useCacheBranch).toBe(true);
  });

  it("rejects a graph without input_ids or logits", () => {
    const g = graph();
    expect(loadError(() => read({ ...g, inputs: g.inputs.filter((m) => m.name !== "input_ids") })).message).toMatch(
      /no input_ids input/,
    );
    expect(loadError(() => read({ ...g, outputs: g.outputs.filter((m) => m.name !== "logits") })).message).toMatch(
      /no logits output/,
    );
  });

  it("rejects past and present that do not pair up", () => {
    const g = graph({ layers: 3 });
    const dropLayer = g.outputs.filter((m) => !m.name.startsWith("present.2."));
    expect(loadError(() => read({ ...g, outputs: dropLayer })).message).toMatch(/do not pair up.*3 layers.*2 layers/);
    const dropValue = g.outputs.filter((m) => m.name !== "present.1.value");
    expect(loadError(() => read({ ...g, outputs: dropValue })).message).toMatch(/present\.1\.value is missing/);
    const renumbered = g.inputs.map((m) =>
      m.name.startsWith("past_key_values.2.") ? { ...m, name: m.name.replace(".2.", ".5.") } : m,
    );
    expect(loadError(() => read({ ...g, inputs: renumbered })).message).toMatch(/layer 2 has no past_key_values/);
    expect(loadError(() => read(graph({ layers: 0 }))).message).toMatch(/no past_key_values/);
  });

  it("rejects KV shapes that disagree between layers", () => {
    const dims = graph({ per: (l) => (l === 2 ? { dim: 32 } : undefined) });
    expect(loadError(() => read(dims)).message).toMatch(
      /disagree between layers.*past_key_values\.0\.key has 4 heads of 16.*past_key_values\.2\.key has 4 heads of 32/,
    );
    const heads = graph({ per: (l) => (l === 1 ? { heads: 8 } : undefined) });
    expect(loadError(() => read(heads)).message).toMatch(/disagree between layers/);
    const valueHeads = graph({ per: (_, kind) => (kind === "value" ? { heads: 2 } : undefined) });
    expect(loadError(() => read(valueHeads)).message).toMatch(/4 heads but past_key_values\.0\.value has 2/);
  });

  it("rejects symbolic or missing KV dims with a clear error", () => {
    expect(loadError(() => read(graph({ heads: "num_kv_heads" }))).message).toMatch(
      /past_key_values\.0\.key has shape \[batch, num_kv_heads, past, 16\].*symbolic/,
    );
    expect(loadError(() => read(graph({ dim: "head_dim" }))).message).toMatch(/symbolic/);
    const g = graph();
    const unknown = g.inputs.map((m) => (m.name === "past_key_values.0.key" ? t(m.name, "float32", []) : m));
    expect(loadError(() => read({ ...g, inputs: unknown })).message).toMatch(/shape unknown/);
  });

  it("rejects inputs it cannot feed and dtypes it cannot carry", () => {
    const g = graph();
    g.inputs.push(t("num_logits_to_keep", "int64", []));
    expect(loadError(() => read(g)).message).toMatch(/does not know how to feed: num_logits_to_keep/);
    expect(loadError(() => read(graph({ type: "int8" }))).message).toMatch(/is int8/);
    const mixed = graph();
    const presentF16 = mixed.outputs.map((m) => (m.name === "present.0.key" ? t(m.name, "float16", []) : m));
    expect(loadError(() => read({ ...mixed, outputs: presentF16 })).message).toMatch(/present must match past/);
    const floatIds = graph();
    floatIds.inputs[0] = t("input_ids", "float32", ["batch", "seq"]);
    expect(loadError(() => read(floatIds)).message).toMatch(/input_ids is float32/);
  });
});

describe("half floats", () => {
  it("decodes known bit patterns", () => {
    expect(halfBitsToNumber(0x3c00)).toBe(1);
    expect(halfBitsToNumber(0xc000)).toBe(-2);
    expect(halfBitsToNumber(0x7bff)).toBe(65504);
    expect(halfBitsToNumber(0x0001)).toBe(2 ** -24);
    expect(halfBitsToNumber(0x7c00)).toBe(Number.POSITIVE_INFINITY);
    expect(halfBitsToNumber(0x7e00)).toBeNaN();
    expect([...halfBitsToFloat32(Uint16Array.of(0, 0x3c00, 0x3555, 0xbc00), 1, 2)]).toEqual([
      1,
      Math.fround((1 + 341 / 1024) / 4),
    ]);
  });

  it("round-trips every finite half value and rounds to nearest even", () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = halfBitsToNumber(bits);
      if (!Number.isNaN(v) && numberToHalfBits(v) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
    expect(numberToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(numberToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToHalfBits(1e6)).toBe(0x7c00);
    expect([...float32ToHalfBits([0.5, -0.25])]).toEqual([0x3800, 0xb400]);
  });
});
