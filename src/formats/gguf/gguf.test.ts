import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dequantize, type WeightType } from "../../../kernels/index.js";
import {
  encodeGGUF,
  GGUFError,
  type GGUFFile,
  type GGUFTensorInput,
  type GGUFValue,
  parseGGUF,
  readGGUF,
  writeGGUF,
} from "./index.js";

const FIXTURES = join(import.meta.dirname, "../../../test/fixtures/bitnet");
const TINY = join(FIXTURES, "tiny-bitnet.gguf");

interface ManifestTensor {
  name: string;
  type: string;
  ne: number[];
  nbytes: number;
  sum_of_dequantized: number;
  first_dequantized: number[];
}
const manifest = JSON.parse(readFileSync(join(FIXTURES, "tiny-bitnet.manifest.json"), "utf8")) as {
  tensors: ManifestTensor[];
  metadata: Record<string, string | number>;
};

function dequantized(file: GGUFFile, name: string): Float32Array {
  const info = file.tensors.find((t) => t.name === name);
  if (!info) throw new Error(`no ${name}`);
  const data = file.tensorData(name);
  if (info.type === "F32") return new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  const cols = info.dims[0] ?? 1;
  const rows = info.dims.slice(1).reduce((a, b) => a * b, 1);
  return dequantize({ type: info.type as WeightType, rows, cols, data });
}

describe("reading the tiny BitNet GGUF that ggml wrote", () => {
  it("lists exactly the manifest's tensors: names, types, shapes, bytes and values", async () => {
    const file = await readGGUF(TINY);
    expect(file.version).toBe(3);
    expect(file.tensors.map((t) => t.name)).toEqual(manifest.tensors.map((t) => t.name));
    for (const want of manifest.tensors) {
      const got = file.tensors.find((t) => t.name === want.name);
      expect(got?.type.toLowerCase(), want.name).toBe(want.type);
      expect(got?.dims, want.name).toEqual(want.ne.filter((d, i) => i === 0 || d > 0));
      expect(got?.byteSize, want.name).toBe(want.nbytes);
      const values = dequantized(file, want.name);
      const sum = values.reduce((a, b) => a + b, 0);
      expect(sum, want.name).toBeCloseTo(want.sum_of_dequantized, 3);
      expect([...values.subarray(0, 3)].map((v) => Number(v.toFixed(6)))).toEqual(
        want.first_dequantized.map((v) => Number(v.toFixed(6))),
      );
    }
  });

  it("reads the manifest's metadata", async () => {
    const file = await readGGUF(TINY);
    const get = (key: string) => file.metadata.get(key)?.value;
    for (const [key, value] of Object.entries(manifest.metadata)) {
      if (key.includes(".")) expect(get(key), key).toBe(value);
    }
    const tokens = file.metadata.get("tokenizer.ggml.tokens");
    expect(tokens?.type === "array" && tokens.value.length).toBe(manifest.metadata.n_tokens);
    expect(get("tokenizer.ggml.bos_token_id")).toBe(manifest.metadata.bos);
  });

  it("tensor data are views into one buffer, not copies", async () => {
    const file = await readGGUF(TINY);
    const a = file.tensorData("blk.0.attn_q.weight");
    const b = file.tensorData("blk.0.attn_k.weight");
    expect(a.buffer).toBe(b.buffer);
    expect(a.byteOffset % 32).toBe(0);
  });

  it("re-encoding what was read reproduces ggml's file byte for byte", async () => {
    const original = new Uint8Array(readFileSync(TINY));
    const file = parseGGUF(original, TINY);
    const tensors: GGUFTensorInput[] = file.tensors.map((t) => ({
      name: t.name,
      type: t.type,
      dims: t.dims,
      data: file.tensorData(t.name),
    }));
    const again = encodeGGUF({ metadata: file.metadata, tensors, alignment: file.alignment });
    expect(Buffer.from(again).equals(Buffer.from(original))).toBe(true);
  });
});

describe("writing GGUF", () => {
  const metadata: Array<[string, GGUFValue]> = [
    ["general.architecture", { type: "string", value: "bitnet" }],
    ["u8", { type: "u8", value: 200 }],
    ["i8", { type: "i8", value: -5 }],
    ["u16", { type: "u16", value: 65000 }],
    ["i16", { type: "i16", value: -30000 }],
    ["i32", { type: "i32", value: -7 }],
    ["f32", { type: "f32", value: 0.5 }],
    ["f64", { type: "f64", value: Math.PI }],
    ["u64", { type: "u64", value: 2n ** 40n }],
    ["i64", { type: "i64", value: -(2n ** 40n) }],
    ["bool", { type: "bool", value: true }],
    ["unicode", { type: "string", value: "héllo ✓ 日本" }],
    ["tokens", { type: "array", itemType: "string", value: ["a", "Ġb", ""] }],
    ["scores", { type: "array", itemType: "f32", value: [0.25, -1] }],
    ["flags", { type: "array", itemType: "bool", value: [true, false] }],
    ["big", { type: "array", itemType: "i64", value: [1n, -2n] }],
  ];
  const tensors: GGUFTensorInput[] = [
    { name: "f32", type: "F32", dims: [3], data: new Uint8Array(12).fill(1) },
    { name: "f16", type: "F16", dims: [5, 2], data: new Uint8Array(20).fill(2) },
    { name: "bf16", type: "BF16", dims: [4], data: new Uint8Array(8).fill(3) },
    { name: "q8", type: "Q8_0", dims: [64, 1], data: new Uint8Array(68).fill(4) },
    { name: "tq1", type: "TQ1_0", dims: [256, 2], data: () => new Uint8Array(108).fill(5) },
    { name: "tq2", type: "TQ2_0", dims: [256, 1], data: new Uint8Array(66).fill(6) },
    { name: "i2s", type: "I2_S", dims: [128, 2], data: new Uint8Array(64 + 32).fill(7) },
  ];

  it("round-trips every metadata and tensor type through a file on disk", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "tg-gguf-")), "all.gguf");
    await writeGGUF(path, { metadata, tensors, alignment: 64 });
    const file = await readGGUF(path);
    expect(file.alignment).toBe(64);
    for (const [key, value] of metadata) expect(file.metadata.get(key), key).toEqual(value);
    for (const t of tensors) {
      const info = file.tensors.find((x) => x.name === t.name);
      expect(info?.type).toBe(t.type);
      expect(info?.dims).toEqual(t.dims);
      expect(info?.offset && info.offset % 64).toBeFalsy();
      const bytes = typeof t.data === "function" ? t.data() : t.data;
      expect(Buffer.from(file.tensorData(t.name)).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it("writes headers far larger than its first buffer (a 128k-token vocabulary)", () => {
    const tokens = Array.from({ length: 128256 }, (_, i) => `token-${i}-${"x".repeat(i % 7)}`);
    const bytes = encodeGGUF({
      metadata: [
        ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
        ["after", { type: "u64", value: 7n }],
      ],
      tensors: [{ name: "w", type: "F32", dims: [2], data: new Uint8Array(8).fill(9) }],
    });
    const file = parseGGUF(bytes);
    expect(file.metadata.get("tokenizer.ggml.tokens")?.value).toEqual(tokens);
    expect(file.metadata.get("after")?.value).toBe(7n);
    expect([...file.tensorData("w")]).toEqual(new Array(8).fill(9));
  });

  it("refuses data whose size does not match the type and shape", () => {
    expect(() =>
      encodeGGUF({ metadata: [], tensors: [{ name: "w", type: "TQ2_0", dims: [256, 2], data: new Uint8Array(66) }] }),
    ).toThrow(/tensor w: TQ2_0 \[256,2\] needs 132 bytes, got 66/);
    expect(() =>
      encodeGGUF({ metadata: [], tensors: [{ name: "w", type: "TQ2_0", dims: [100, 2], data: new Uint8Array(66) }] }),
    ).toThrow(/multiple of 256/);
  });
});

describe("bad files are load errors naming the file and the problem", () => {
  const good = encodeGGUF({
    metadata: [["general.architecture", { type: "string", value: "bitnet" }]],
    tensors: [{ name: "w", type: "TQ2_0", dims: [256, 4], data: new Uint8Array(264).fill(0x55) }],
  });
  const cases: Array<[string, (b: Uint8Array) => Uint8Array, RegExp]> = [
    ["wrong magic", (b) => Object.assign(b.slice(), { 0: 0x7f, 1: 0x45 }), /x\.gguf: not a GGUF file/],
    ["truncated data", (b) => b.slice(0, b.byteLength - 10), /x\.gguf: truncated: tensor w needs bytes/],
    ["truncated header", (b) => b.slice(0, 40), /x\.gguf: truncated header/],
    ["future version", (b) => Object.assign(b.slice(), { 4: 9 }), /GGUF version 9 is not supported/],
  ];
  for (const [what, mutate, message] of cases) {
    it(what, async () => {
      const path = join(mkdtempSync(join(tmpdir(), "tg-gguf-")), "x.gguf");
      writeFileSync(path, mutate(good));
      await expect(readGGUF(path)).rejects.toThrow(message);
      await expect(readGGUF(path)).rejects.toBeInstanceOf(GGUFError);
    });
  }

  it("an unknown tensor type names the tensor and the type id", () => {
    const bytes = good.slice();
    const view = new DataView(bytes.buffer);
    view.setUint32(findTypeOffset(bytes), 12, true);
    expect(() => parseGGUF(bytes, "q4k.gguf")).toThrow(
      /q4k\.gguf: tensor w has ggml type 12, which tritgate cannot run/,
    );
  });

  it("a missing file is a clear error", async () => {
    await expect(readGGUF("/nonexistent/model.gguf")).rejects.toThrow(/model\.gguf: cannot open: ENOENT/);
  });
});

/** Finds the u32 type id of the only tensor: it follows the dims [256, 4] as u64s. */
function findTypeOffset(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i + 20 < bytes.byteLength; i++) {
    if (view.getBigUint64(i, true) === 256n && view.getBigUint64(i + 8, true) === 4n) return i + 16;
  }
  throw new Error("tensor info not found");
}
