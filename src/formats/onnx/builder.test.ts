import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { numberToHalfBits as floatToHalfBits, halfBitsToNumber as halfBitsToFloat } from "../../util/half.js";
import { elemTypeId, OnnxGraphBuilder } from "./builder.js";

const { onnx } = onnxProto;

describe("OnnxGraphBuilder", () => {
  it("builds a model ORT runs, with symbolic dims, initializers, constants and attributes", async () => {
    const b = new OnnxGraphBuilder("tiny");
    const x = b.input("x", "float32", ["batch", 3]);
    const w = b.floatInitializer("w", [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6]));
    const y = b.op("MatMul", [x, w]);
    const shifted = b.op("Add", [y, b.floats([0.5], [])]);
    const alpha = b.op("LeakyRelu", [shifted], { alpha: { float: 0.25 } });
    const summed = b.op("ReduceSum", [alpha, b.ints([-1])], { keepdims: 1 });
    b.op("Cast", [summed], { to: elemTypeId("float16") }, "half");
    b.output("half", "float16", ["batch", 1]);
    b.outputAs(alpha, "y", "float32", ["batch", 2]);
    expect(b.problems()).toEqual([]);

    const session = await ort.InferenceSession.create(b.toBytes());
    const out = await session.run({ x: new ort.Tensor("float32", Float32Array.from([1, 0, 0, -1, -1, -1]), [2, 3]) });
    // rows: [1.5, 2.5] and leaky([-9+0.5, -12+0.5]) = [-2.125, -2.875]
    expect(Array.from(out.y!.data as Float32Array)).toEqual([1.5, 2.5, -2.125, -2.875]);
    expect(out.y!.dims).toEqual([2, 2]);
    const half = out.half!.data as Uint16Array | Float32Array;
    expect(Array.from(half, (v) => (half instanceof Uint16Array ? halfBitsToFloat(v) : v))).toEqual([4, -5]);
  });

  it("serializes IR 8, opset 17, typed attributes and raw little-endian initializers", () => {
    const b = new OnnxGraphBuilder("attrs", { producerName: "test" });
    const x = b.input("x", "int64", ["n"]);
    b.op("Cast", [x], { to: 1, ratio: 0.5, list: [1, 2], name: "s", f: { float: 2 }, fs: { floats: [1, 2.5] } }, "y");
    b.output("y", "float32", ["n"]);
    const model = onnx.ModelProto.decode(b.toBytes());
    expect(Number(model.irVersion)).toBe(8);
    expect(Number(model.opsetImport[0]?.version)).toBe(17);
    expect(model.producerName).toBe("test");
    const T = onnx.AttributeProto.AttributeType;
    const node = model.graph!.node![0] as OnnxTypes.NodeProto;
    const attrs = Object.fromEntries(node.attribute.map((a) => [a.name, a]));
    expect(attrs.to?.type).toBe(T.INT);
    expect(attrs.ratio?.type).toBe(T.FLOAT);
    expect(attrs.list?.type).toBe(T.INTS);
    expect(attrs.name?.type).toBe(T.STRING);
    expect(attrs.f?.type).toBe(T.FLOAT);
    expect(attrs.f?.f).toBe(2);
    expect(attrs.fs?.floats).toEqual([1, 2.5]);
    expect(model.graph!.input![0]!.type!.tensorType!.shape!.dim![0]!.dimParam).toBe("n");
  });

  it("shares equal constants and keeps distinct ones apart", () => {
    const b = new OnnxGraphBuilder("constants");
    const one = b.ints([1]);
    expect(b.ints([1])).toBe(one);
    expect(b.ints([1], [])).not.toBe(one);
    expect(b.floats([1])).not.toBe(one);
    expect(b.initializerCount).toBe(3);
    const model = onnx.ModelProto.decode(b.toBytes());
    const initializers = model.graph!.initializer as OnnxTypes.TensorProto[];
    const scalar = initializers.find((t) => t.dims.length === 0 && t.dataType === 7)!;
    expect(new BigInt64Array(new Uint8Array(scalar.rawData).buffer)[0]).toBe(1n);
  });

  it("reports undefined inputs, unproduced outputs and duplicate names", () => {
    const b = new OnnxGraphBuilder("broken");
    const x = b.input("x", "float32", [2]);
    b.op("Add", [x, "nowhere"]);
    b.output("missing", "float32", [2]);
    const problems = b.problems();
    expect(problems.some((p) => p.includes("nowhere"))).toBe(true);
    expect(problems.some((p) => p.includes("missing"))).toBe(true);
    expect(() => b.toBytes()).toThrow(/malformed/);
    expect(() => b.input("x", "float32", [2])).toThrow(/twice/);
    expect(() => b.floatInitializer("w", [3], new Float32Array(2))).toThrow(/2 values/);
    expect(() => b.initializer("w", "int64", [2], new Float32Array(2))).toThrow(/BigInt64Array/);
  });

  it("an input read before the node that produces it is an error (topological order)", () => {
    const b = new OnnxGraphBuilder("order");
    b.op("Relu", ["later"]);
    b.op("Relu", [b.input("x", "float32", [1])], {}, "later");
    expect(b.problems()).toHaveLength(1);
  });

  it("converts float16 bits both ways", () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [70000, 0x7c00],
      [0.1, 0x2e66],
      [1e-7, 0x0002],
      [0, 0],
      [2 ** -14, 0x0400],
    ];
    for (const [value, bits] of cases) expect(floatToHalfBits(value), `${value}`).toBe(bits);
    expect(halfBitsToFloat(0x2e66)).toBeCloseTo(0.1, 3);
    expect(Number.isNaN(halfBitsToFloat(floatToHalfBits(Number.NaN)))).toBe(true);
    for (let h = 0; h < 0x7c00; h += 37) expect(floatToHalfBits(halfBitsToFloat(h))).toBe(h);
  });
});
