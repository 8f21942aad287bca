import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { BitNetForward, loadBitNetWeights, readBitNetConfig, syntheticBitNet } from "../engines/bitnet/index.js";
import { TINY_BITNET } from "../engines/bitnet/testkit.js";
import { readGGUF, writeGGUF } from "../formats/gguf/index.js";
import { ConvertError } from "./errors.js";
import { convertToOnnx } from "./to-onnx.js";

const root = mkdtempSync(join(tmpdir(), "tritgate-to-onnx-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const int64 = (values: number[]) => new ort.Tensor("int64", BigInt64Array.from(values, BigInt), [1, values.length]);

async function lastLogits(modelPath: string, tokens: number[], kvType: "float32" | "float16" = "float32") {
  const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: "all" });
  const past: Record<string, ort.Tensor> = {};
  for (let l = 0; l < TINY_BITNET.layers; l++) {
    for (const kind of ["key", "value"]) {
      const dims = [1, TINY_BITNET.kvHeads, 0, TINY_BITNET.embedding / TINY_BITNET.heads];
      past[`past_key_values.${l}.${kind}`] =
        kvType === "float16"
          ? new ort.Tensor("float16", new Uint16Array(0), dims)
          : new ort.Tensor("float32", new Float32Array(0), dims);
    }
  }
  const out = await session.run({
    input_ids: int64(tokens),
    attention_mask: int64(tokens.map(() => 1)),
    position_ids: int64(tokens.map((_, i) => i)),
    ...past,
  });
  expect(out["present.1.value"]!.type).toBe(kvType);
  const all = out.logits!.data as Float32Array;
  await session.release();
  return all.subarray((tokens.length - 1) * TINY_BITNET.vocab);
}

function relativeDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
  }
  return diff / scale;
}

describe("convertToOnnx", () => {
  const input = join(root, "model.gguf");
  const tokens = [256, 72, 105, 33, 7];
  let expected: Float32Array;

  it("writes a model ORT loads from disk and that matches the float engine", async () => {
    await writeGGUF(input, syntheticBitNet(TINY_BITNET));
    const file = await readGGUF(input);
    const config = readBitNetConfig(file);
    const engine = new BitNetForward(config, loadBitNetWeights(file, config), { activations: "float" });
    expected = engine.forward(tokens, engine.newCache());

    const out = join(root, "inline.onnx");
    const summary = await convertToOnnx(input, out);
    expect(summary.nodes).toBeGreaterThan(100);
    expect(summary.initializers).toBeGreaterThan(2 * 11);
    expect(summary.bytesIn).toBe(statSync(input).size);
    expect(summary.bytesOut).toBe(statSync(out).size);
    expect(summary.bytesOut).toBeGreaterThan(summary.bytesIn); // ternary → fp32
    expect(summary.seconds).toBeGreaterThan(0);
    expect(summary.dataPath).toBeUndefined();
    expect(readdirSync(root).filter((f) => f.includes(".partial-"))).toEqual([]);
    expect(relativeDiff(await lastLogits(out, tokens), expected)).toBeLessThan(1e-4);
  });

  it("keeps large initializers in an external data file when asked", async () => {
    const out = join(root, "external.onnx");
    const summary = await convertToOnnx(input, out, { externalData: true });
    expect(summary.dataPath).toBe(`${out}.data`);
    expect(existsSync(`${out}.data`)).toBe(true);
    expect(statSync(out).size).toBeLessThan(100_000);
    expect(summary.bytesOut).toBe(statSync(out).size + statSync(`${out}.data`).size);
    expect(relativeDiff(await lastLogits(out, tokens), expected)).toBeLessThan(1e-4);
  });

  it("writes float16 KV tensors with kvType float16", async () => {
    const out = join(root, "kv16.onnx");
    await convertToOnnx(input, out, { kvType: "float16" });
    expect(relativeDiff(await lastLogits(out, tokens, "float16"), expected)).toBeLessThan(1e-2);
  });

  it("refuses to overwrite its input and leaves nothing behind on failure", async () => {
    await expect(convertToOnnx(input, input)).rejects.toThrow(ConvertError);
    const missing = join(root, "missing.gguf");
    const out = join(root, "never.onnx");
    await expect(convertToOnnx(missing, out)).rejects.toThrow();
    expect(existsSync(out)).toBe(false);
  });
});
