/**
 * BitNet hyper-parameters, read from the GGUF metadata under the file's architecture prefix.
 * Nothing here has a default that could silently mismatch a real model, except what llama.cpp
 * itself defaults (rope base, epsilon, activation of older files).
 */
import {
  GGUFError,
  type GGUFFile,
  metaNumber,
  metaString,
  metaStrings,
  requireNumber,
} from "../../formats/gguf/index.js";

/** Architectures with this layout: llama.cpp's `bitnet`, bitnet.cpp's names for 2B-4T. */
export const BITNET_ARCHITECTURES = ["bitnet", "bitnet-b1.58", "bitnet-25"] as const;

export type FeedForwardActivation = "relu2" | "silu";

export interface BitNetConfig {
  readonly architecture: string;
  readonly layers: number;
  readonly embedding: number;
  readonly feedForward: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly ropeDim: number;
  readonly ropeBase: number;
  readonly rmsEpsilon: number;
  readonly contextLength: number;
  readonly vocabSize: number;
  readonly activation: FeedForwardActivation;
}

export function readBitNetConfig(file: GGUFFile): BitNetConfig {
  const architecture = metaString(file, "general.architecture");
  if (architecture === undefined) throw new GGUFError(file.path, "is missing general.architecture");
  if (!(BITNET_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new GGUFError(
      file.path,
      `architecture "${architecture}" is not a BitNet layout tritgate runs (${BITNET_ARCHITECTURES.join(", ")})`,
    );
  }
  const key = (name: string) => `${architecture}.${name}`;
  const embedding = requireNumber(file, key("embedding_length"));
  const heads = requireNumber(file, key("attention.head_count"));
  const kvHeads = metaNumber(file, key("attention.head_count_kv")) ?? heads;
  const headDim = metaNumber(file, key("attention.key_length")) ?? embedding / heads;
  const vocabSize = metaNumber(file, key("vocab_size")) ?? metaStrings(file, "tokenizer.ggml.tokens")?.length;
  if (vocabSize === undefined) throw new GGUFError(file.path, `has neither ${key("vocab_size")} nor a vocabulary`);
  const activationName = metaString(file, key("hidden_activation"));
  // llama.cpp treats bitnet files without the key as SiLU; the 2B-4T family is ReLU²
  const activation = activationName ?? (architecture === "bitnet" ? "silu" : "relu2");
  if (activation !== "relu2" && activation !== "silu") {
    throw new GGUFError(file.path, `${key("hidden_activation")} "${activation}" is not supported (relu2, silu)`);
  }
  const config: BitNetConfig = {
    architecture,
    layers: requireNumber(file, key("block_count")),
    embedding,
    feedForward: requireNumber(file, key("feed_forward_length")),
    heads,
    kvHeads,
    headDim,
    ropeDim: metaNumber(file, key("rope.dimension_count")) ?? headDim,
    ropeBase: metaNumber(file, key("rope.freq_base")) ?? 10000,
    rmsEpsilon: metaNumber(file, key("attention.layer_norm_rms_epsilon")) ?? 1e-5,
    contextLength: requireNumber(file, key("context_length")),
    vocabSize,
    activation,
  };
  const problem = checkConfig(config);
  if (problem) throw new GGUFError(file.path, problem);
  return config;
}

function checkConfig(c: BitNetConfig): string | undefined {
  const positive = [
    "layers",
    "embedding",
    "feedForward",
    "heads",
    "kvHeads",
    "headDim",
    "contextLength",
    "vocabSize",
  ] as const;
  for (const name of positive) {
    if (!Number.isInteger(c[name]) || c[name] <= 0)
      return `hyper-parameter ${name} must be a positive integer, is ${c[name]}`;
  }
  if (c.heads % c.kvHeads !== 0) return `${c.heads} attention heads cannot share ${c.kvHeads} KV heads evenly`;
  if (c.ropeDim % 2 !== 0 || c.ropeDim > c.headDim)
    return `rope dimension ${c.ropeDim} does not fit head size ${c.headDim}`;
  return undefined;
}
