import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeSafetensors, floatToBF16, openSafetensors, SafetensorsError, toFloat32 } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "tritgate-safetensors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function withHeader(header: unknown, dataBytes = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

describe("safetensors", () => {
  const f32 = Float32Array.from([1.5, -2.25, 3e-3, 65504, -0]);
  const half = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000]); // 1, -2, 2^-24, 65504, -0
  const bf16 = floatToBF16(Float32Array.from([1, -3.140625, 1e30, 0.5]));
  const file = write(
    "mixed.safetensors",
    encodeSafetensors(
      [
        { name: "a", dtype: "F32", shape: [5], data: new Uint8Array(f32.buffer) },
        { name: "b", dtype: "F16", shape: [5, 1], data: new Uint8Array(half.buffer) },
        { name: "c", dtype: "BF16", shape: [2, 2], data: new Uint8Array(bf16.buffer) },
        { name: "ids", dtype: "I64", shape: [2], data: new Uint8Array(16) },
      ],
      { format: "pt" },
    ),
  );

  it("reads the header and F32 / F16 / BF16 tensors as fp32", () => {
    const st = openSafetensors(file);
    try {
      expect(st.metadata).toEqual({ format: "pt" });
      expect(st.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
        ["a", "F32", [5]],
        ["b", "F16", [5, 1]],
        ["c", "BF16", [2, 2]],
        ["ids", "I64", [2]],
      ]);
      expect([...st.readFloat32("a")]).toEqual([...f32]);
      expect([...st.readFloat32("b")]).toEqual([1, -2, 2 ** -24, 65504, -0]);
      const c = st.readFloat32("c");
      expect([c[0], c[1], c[3]]).toEqual([1, -3.140625, 0.5]);
      expect(Math.abs((c[2] ?? 0) / 1e30 - 1)).toBeLessThan(2 ** -8);
    } finally {
      st.close();
    }
  });

  it("rounds fp32 to bf16 to nearest even", () => {
    // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to the even one (1)
    const bits = floatToBF16(Float32Array.from([1 + 2 ** -8, 1 + 3 * 2 ** -8, Number.NaN]));
    expect([...toFloat32("BF16", new Uint8Array(bits.buffer)).subarray(0, 2)]).toEqual([1, 1 + 2 ** -6]);
    expect(Number.isNaN(toFloat32("BF16", new Uint8Array(bits.buffer))[2])).toBe(true);
  });

  it("names the tensor and dtype it will not convert", () => {
    const st = openSafetensors(file);
    try {
      expect(() => st.readFloat32("ids")).toThrow(/mixed\.safetensors: tensor ids has dtype I64/);
      expect(() => st.readFloat32("nope")).toThrow(/mixed\.safetensors: has no tensor nope/);
    } finally {
      st.close();
    }
  });

  it.each([
    ["an empty file", () => new Uint8Array(3), /truncated: 3 bytes/],
    [
      "a header longer than the file",
      () => withHeader({ padding: "x".repeat(40) }).subarray(0, 20),
      /truncated: the header claims/,
    ],
    ["an implausible header length", () => Uint8Array.of(0, 0, 0, 0, 0, 0, 1, 0, 0, 0), /implausible/],
    ["a header that is not JSON", () => withHeader({}).fill(0x7b, 8), /corrupt header/],
    ["a header that is a list", () => withHeader([1, 2]), /not a JSON object/],
    [
      "offsets that disagree with the shape",
      () => withHeader({ w: { dtype: "F32", shape: [4], data_offsets: [0, 8] } }, 8),
      /tensor w: F32 \[4\] needs 16 bytes, data_offsets span 8/,
    ],
    [
      "data cut short",
      () => withHeader({ w: { dtype: "BF16", shape: [8], data_offsets: [0, 16] } }, 10),
      /truncated: tensor w needs data bytes 0\.\.16, the file holds 10/,
    ],
    [
      "a malformed entry",
      () => withHeader({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }),
      /tensor w: shape \[-1\] is not a list of sizes/,
    ],
  ])("rejects %s with the file's name", (_what, bytes, problem) => {
    const path = write("bad.safetensors", bytes());
    let error: unknown;
    try {
      openSafetensors(path).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SafetensorsError);
    expect((error as Error).message.startsWith(`${path}: `)).toBe(true);
    expect((error as Error).message).toMatch(problem);
  });

  it("reports a missing file", () => {
    expect(() => openSafetensors(join(dir, "missing.safetensors"))).toThrow(
      /missing\.safetensors: cannot open: ENOENT/,
    );
  });
});
