import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hardware, type Isa } from "../../../kernels/index.js";
import { referenceGreedy, referenceLogits } from "../../../test/reference/bitnet.js";
import { encodeGGUF, type GGUFFile, type GGUFValue, parseGGUF, readGGUF } from "../../formats/gguf/index.js";
import { BitNetForward, ContextOverflowError, loadBitNetWeights, readBitNetConfig } from "./index.js";
import { type SyntheticBitNetSpec, syntheticBitNet } from "./synthetic.js";
import { TINY_BITNET } from "./testkit.js";

const FIXTURES = join(import.meta.dirname, "../../../test/fixtures/bitnet");
const ISAS = hardware().available;

function engineFor(file: GGUFFile, isa: Isa, activations: "int8" | "float"): BitNetForward {
  const config = readBitNetConfig(file);
  return new BitNetForward(config, loadBitNetWeights(file, config), { isa, activations });
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < row.length; j++) if ((row[j] ?? 0) > (row[best] ?? 0)) best = j;
  return best;
}

function greedy(engine: BitNetForward, prompt: readonly number[], count: number): number[] {
  const cache = engine.newCache();
  let logits = engine.forward(prompt, cache);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const next = argmax(logits);
    out.push(next);
    logits = engine.forward([next], cache);
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return d;
}

describe("ggml's tiny BitNet GGUF (test/fixtures/bitnet)", () => {
  const reference = JSON.parse(readFileSync(join(FIXTURES, "tiny-bitnet.reference.json"), "utf8")) as {
    prompt_ids: number[];
    prompt_logits: number[][];
    greedy_continuation: number[];
    float_reference: { prompt_logits: number[][]; greedy_continuation: number[] };
  };

  for (const isa of ISAS) {
    it(`${isa}: float activations match the float64 reference (logits 1e-3, all 16 greedy tokens)`, async () => {
      const engine = engineFor(await readGGUF(join(FIXTURES, "tiny-bitnet.gguf")), isa, "float");
      const logits = engine.forward(reference.prompt_ids, engine.newCache(), true);
      const vocab = engine.config.vocabSize;
      reference.float_reference.prompt_logits.forEach((row, t) => {
        expect(maxAbsDiff(logits.subarray(t * vocab, (t + 1) * vocab), row), `position ${t}`).toBeLessThan(1e-3);
      });
      expect(greedy(engine, reference.prompt_ids, 16)).toEqual(reference.float_reference.greedy_continuation);
    });

    it(`${isa}: BitNet int8 activations land within 0.15 of ggml's logits and agree on the first 12 tokens`, async () => {
      const engine = engineFor(await readGGUF(join(FIXTURES, "tiny-bitnet.gguf")), isa, "int8");
      const logits = engine.forward(reference.prompt_ids, engine.newCache(), true);
      const vocab = engine.config.vocabSize;
      reference.prompt_logits.forEach((row, t) => {
        expect(maxAbsDiff(logits.subarray(t * vocab, (t + 1) * vocab), row), `position ${t}`).toBeLessThan(0.15);
      });
      expect(greedy(engine, reference.prompt_ids, 16).slice(0, 12)).toEqual(reference.greedy_continuation.slice(0, 12));
    });
  }
});

const TINY: Omit<SyntheticBitNetSpec, "linearType" | "seed"> = { ...TINY_BITNET, contextLength: 48 };

const VARIANTS: Array<[string, SyntheticBitNetSpec]> = [
  ["TQ2_0, GQA, ReLU², tied F16 head", { ...TINY, linearType: "TQ2_0", seed: 1 }],
  [
    "TQ1_0, SiLU, separate F32 head, .scale tensors, bitnet-b1.58",
    {
      ...TINY,
      linearType: "TQ1_0",
      activation: "silu",
      embeddingType: "F32",
      separateOutput: true,
      scaleTensors: true,
      architecture: "bitnet-b1.58",
      seed: 2,
    },
  ],
  ["I2_S, multi-head (no GQA)", { ...TINY, kvHeads: 4, linearType: "I2_S", seed: 3 }],
];

describe.each(VARIANTS)("synthetic model: %s", (_name, spec) => {
  const file = parseGGUF(encodeGGUF(syntheticBitNet(spec)), "synthetic.gguf");
  const prompt = [256, 72, 101, 108, 108, 111, 32, 119];
  const refInt8 = referenceLogits(file, prompt, "int8");
  const refGreedy = referenceGreedy(file, prompt, 6, "int8");
  const refFloat = referenceLogits(file, prompt, "float");

  for (const isa of ISAS) {
    it(`${isa}: kernel engine agrees with the TypeScript reference (int8: logits and greedy tokens)`, () => {
      const engine = engineFor(file, isa, "int8");
      const logits = engine.forward(prompt, engine.newCache(), true);
      const vocab = engine.config.vocabSize;
      refInt8.forEach((row, t) => {
        const scale = Math.max(...row.map(Math.abs));
        expect(maxAbsDiff(logits.subarray(t * vocab, (t + 1) * vocab), row) / scale, `position ${t}`).toBeLessThan(
          1e-3,
        );
      });
      expect(greedy(engine, prompt, 6)).toEqual(refGreedy);
    });

    it(`${isa}: float mode agrees with the float64 reference within 1e-4`, () => {
      const engine = engineFor(file, isa, "float");
      const logits = engine.forward(prompt, engine.newCache(), true);
      const vocab = engine.config.vocabSize;
      refFloat.forEach((row, t) => {
        const scale = Math.max(...row.map(Math.abs));
        expect(maxAbsDiff(logits.subarray(t * vocab, (t + 1) * vocab), row) / scale, `position ${t}`).toBeLessThan(
          1e-4,
        );
      });
    });
  }

  it("decoding token by token over the KV cache gives the batch prefill's logits", () => {
    const engine = engineFor(file, hardware().isa, "int8");
    const batch = engine.forward(prompt, engine.newCache(), true);
    const cache = engine.newCache();
    const vocab = engine.config.vocabSize;
    engine.forward(prompt.slice(0, 3), cache);
    for (let t = 3; t < prompt.length; t++) {
      const step = engine.forward([prompt[t] ?? 0], cache);
      expect(maxAbsDiff(step, batch.subarray(t * vocab, (t + 1) * vocab))).toBeLessThan(1e-4);
    }
  });
});

describe("limits and bad models", () => {
  const spec: SyntheticBitNetSpec = { ...TINY, linearType: "TQ2_0", seed: 4 };
  const good = syntheticBitNet(spec);
  const withMeta = (change: (m: Array<[string, GGUFValue]>) => Array<[string, GGUFValue]>) =>
    parseGGUF(encodeGGUF({ ...good, metadata: change([...good.metadata] as Array<[string, GGUFValue]>) }), "bad.gguf");

  it("a request beyond the context is a clear error and leaves the cache untouched", () => {
    const engine = engineFor(parseGGUF(encodeGGUF(good)), hardware().isa, "int8");
    const cache = engine.newCache(10);
    engine.forward([1, 2, 3, 4, 5, 6, 7, 8], cache);
    expect(() => engine.forward([1, 2, 3], cache)).toThrow(ContextOverflowError);
    expect(() => engine.forward([1, 2, 3], cache)).toThrow(
      /needs 11 tokens of context but the model's context holds 10/,
    );
    expect(cache.length).toBe(8);
    expect(() => engine.forward([9999], cache)).toThrow(/token id 9999 is outside the vocabulary/);
  });

  it("an unknown architecture names the file and the architecture", () => {
    const file = withMeta((m) =>
      m.map(([k, v]) => (k === "general.architecture" ? [k, { type: "string", value: "llama" }] : [k, v])),
    );
    expect(() => readBitNetConfig(file)).toThrow(/bad\.gguf: architecture "llama" is not a BitNet layout/);
  });

  it("a missing hyper-parameter, tensor or a wrong shape is named", () => {
    const noLayers = withMeta((m) => m.filter(([k]) => k !== "bitnet.block_count"));
    expect(() => readBitNetConfig(noLayers)).toThrow(/bad\.gguf: is missing metadata bitnet\.block_count/);
    const wrongFF = withMeta((m) =>
      m.map(([k, v]) => (k === "bitnet.feed_forward_length" ? [k, { type: "u32", value: 768 }] : [k, v])),
    );
    expect(() => loadBitNetWeights(wrongFF, readBitNetConfig(wrongFF))).toThrow(
      /bad\.gguf: tensor blk\.0\.ffn_gate\.weight has shape \[256, 512\] but the hyper-parameters say \[256, 768\]/,
    );
    const missing = parseGGUF(
      encodeGGUF({ ...good, tensors: good.tensors.filter((t) => t.name !== "blk.1.ffn_sub_norm.weight") }),
      "bad.gguf",
    );
    expect(() => loadBitNetWeights(missing, readBitNetConfig(missing))).toThrow(
      /bad\.gguf: is missing tensor blk\.1\.ffn_sub_norm\.weight/,
    );
  });
});
