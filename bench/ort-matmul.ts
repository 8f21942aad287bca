/**
 * The benchmark's anchor: the same product as an fp32 ONNX MatMul on onnxruntime-node's CPU
 * provider, built in memory (X[M x K] · W[K x N], W an initializer so ORT can prepack it).
 */
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { onnxSessionOptions } from "../src/engines/onnx/index.js";

const { onnx } = onnxProto;

/** weights: [n x k] row-major fp32 (the dequantized packed weight); transposed into W[K x N]. */
export function matmulModel(weights: Float32Array, n: number, k: number): Uint8Array {
  const transposed = new Float32Array(k * n);
  for (let row = 0; row < n; row++)
    for (let col = 0; col < k; col++) transposed[col * n + row] = weights[row * k + col] ?? 0;
  const floatTensor = (name: string, dims: Array<number | string>) => ({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    producerName: "tritgate-bench",
    graph: {
      name: "matmul",
      node: [{ opType: "MatMul", input: ["X", "W"], output: ["Y"], name: "matmul" }],
      initializer: [
        {
          name: "W",
          dataType: onnx.TensorProto.DataType.FLOAT,
          dims: [k, n],
          rawData: new Uint8Array(transposed.buffer),
        },
      ],
      input: [floatTensor("X", ["M", k])],
      output: [floatTensor("Y", ["M", n])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

export interface OrtMatmul {
  run(x: Float32Array, m: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function createOrtMatmul(
  weights: Float32Array,
  n: number,
  k: number,
  threads: number,
): Promise<OrtMatmul> {
  const session = await ort.InferenceSession.create(matmulModel(weights, n, k), onnxSessionOptions(threads));
  return {
    async run(x, m) {
      const result = await session.run({ X: new ort.Tensor("float32", x, [m, k]) });
      return result.Y!.data as Float32Array;
    },
    release: () => session.release(),
  };
}
