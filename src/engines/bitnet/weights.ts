/**
 * The model's tensors as the kernels want them: linear layers stay packed exactly as the file
 * holds them (views into the file's one buffer); only small vectors and BF16 tensors, which the
 * kernels do not take, become fp32.
 */
import { isTernary, type PackedWeight, type WeightType } from "../../../kernels/index.js";
import { GGUFError, type GGUFFile, type GGUFTensorInfo } from "../../formats/gguf/index.js";
import { bf16BytesToFloat32, halfBytesToFloat32 } from "../../util/half.js";
import type { BitNetConfig } from "./config.js";

export interface Linear {
  readonly name: string;
  readonly weight: PackedWeight;
  /** the optional per-tensor `.scale` some converters store beside the weight */
  readonly scale: number;
  readonly ternary: boolean;
}

export interface LayerWeights {
  readonly attnNorm: Float32Array;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly attnSubNorm: Float32Array;
  readonly ffnNorm: Float32Array;
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  readonly ffnSubNorm: Float32Array;
}

export interface BitNetWeights {
  readonly tokenEmbedding: PackedWeight;
  readonly layers: readonly LayerWeights[];
  readonly outputNorm: Float32Array;
  /** `output.weight`, or the token embedding when the head is tied */
  readonly output: PackedWeight;
  readonly tiedOutput: boolean;
}

class TensorSource {
  private readonly infos: Map<string, GGUFTensorInfo>;

  constructor(private readonly file: GGUFFile) {
    this.infos = new Map(file.tensors.map((t) => [t.name, t]));
  }

  has(name: string): boolean {
    return this.infos.has(name);
  }

  private info(name: string, dims: readonly number[]): GGUFTensorInfo {
    const info = this.infos.get(name);
    if (info === undefined) throw new GGUFError(this.file.path, `is missing tensor ${name}`);
    const got = info.dims.filter((d, i) => i === 0 || d !== 1);
    if (got.length !== dims.length || got.some((d, i) => d !== dims[i])) {
      throw new GGUFError(
        this.file.path,
        `tensor ${name} has shape [${info.dims.join(", ")}] but the hyper-parameters say [${dims.join(", ")}]`,
      );
    }
    return info;
  }

  /** A [rows x cols] matrix, packed (BF16 widened to F32, the one type the kernels lack). */
  matrix(name: string, rows: number, cols: number): PackedWeight {
    const info = this.info(name, [cols, rows]);
    const data = this.file.tensorData(name);
    if (info.type === "BF16") {
      const f32 = bf16BytesToFloat32(data);
      return { type: "F32", rows, cols, data: new Uint8Array(f32.buffer) };
    }
    return { type: info.type as WeightType, rows, cols, data };
  }

  vector(name: string, length: number): Float32Array {
    const info = this.info(name, [length]);
    const data = this.file.tensorData(name);
    if (info.type === "F32") return new Float32Array(data.buffer, data.byteOffset, length);
    if (info.type === "BF16") return bf16BytesToFloat32(data);
    if (info.type === "F16") return halfBytesToFloat32(data);
    throw new GGUFError(this.file.path, `tensor ${name} is ${info.type}; a norm vector must be F32, F16 or BF16`);
  }

  scalar(name: string): number | undefined {
    if (!this.infos.has(name)) return undefined;
    const v = this.vector(name, 1)[0];
    return v;
  }
}

export function loadBitNetWeights(file: GGUFFile, c: BitNetConfig): BitNetWeights {
  const src = new TensorSource(file);
  const linear = (name: string, rows: number, cols: number): Linear => {
    const weight = src.matrix(`${name}.weight`, rows, cols);
    return { name, weight, scale: src.scalar(`${name}.scale`) ?? 1, ternary: isTernary(weight.type) };
  };
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.layers; i++) {
    const p = `blk.${i}`;
    layers.push({
      attnNorm: src.vector(`${p}.attn_norm.weight`, c.embedding),
      q: linear(`${p}.attn_q`, qDim, c.embedding),
      k: linear(`${p}.attn_k`, kvDim, c.embedding),
      v: linear(`${p}.attn_v`, kvDim, c.embedding),
      o: linear(`${p}.attn_output`, c.embedding, qDim),
      attnSubNorm: src.vector(`${p}.attn_sub_norm.weight`, qDim),
      ffnNorm: src.vector(`${p}.ffn_norm.weight`, c.embedding),
      gate: linear(`${p}.ffn_gate`, c.feedForward, c.embedding),
      up: linear(`${p}.ffn_up`, c.feedForward, c.embedding),
      down: linear(`${p}.ffn_down`, c.embedding, c.feedForward),
      ffnSubNorm: src.vector(`${p}.ffn_sub_norm.weight`, c.feedForward),
    });
  }
  const tokenEmbedding = src.matrix("token_embd.weight", c.vocabSize, c.embedding);
  const tiedOutput = !src.has("output.weight");
  return {
    tokenEmbedding,
    layers,
    outputNorm: src.vector("output_norm.weight", c.embedding),
    output: tiedOutput ? tokenEmbedding : src.matrix("output.weight", c.vocabSize, c.embedding),
    tiedOutput,
  };
}
