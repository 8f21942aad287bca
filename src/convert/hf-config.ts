/**
 * config.json of a Hugging Face BitNet checkpoint → the hyper-parameters our GGUF layout needs.
 * BitNetForCausalLM (microsoft/bitnet-b1.58-2B-4T) becomes architecture "bitnet-b1.58";
 * 1bitLLM's BitnetForCausalLM becomes llama.cpp's "bitnet".
 */
import { readFileSync } from "node:fs";
import { ConvertError } from "./errors.js";

export const HF_ARCHITECTURES: Readonly<Record<string, string>> = {
  BitNetForCausalLM: "bitnet-b1.58",
  BitnetForCausalLM: "bitnet",
};

export interface HFBitNetConfig {
  readonly hfArchitecture: string;
  /** the GGUF general.architecture */
  readonly architecture: string;
  readonly hidden: number;
  readonly intermediate: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly layers: number;
  readonly rmsEpsilon: number;
  readonly ropeTheta: number;
  readonly contextLength: number;
  readonly vocabSize: number;
  readonly activation: "relu2" | "silu";
  readonly tied: boolean;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly padId: number | undefined;
}

/** Reads and parses a JSON file, with errors that name it. */
export function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConvertError(path, code === "ENOENT" ? "not found" : `cannot read: ${code ?? String(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConvertError(path, `is not valid JSON: ${(e as Error).message}`);
  }
}

const ACTIVATIONS: Readonly<Record<string, "relu2" | "silu">> = { relu2: "relu2", silu: "silu", swish: "silu" };

function firstId(v: unknown): number | undefined {
  if (Array.isArray(v)) return firstId(v[0]);
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : undefined;
}

export function parseHFConfig(json: unknown, path: string): HFBitNetConfig {
  const fail = (problem: string): never => {
    throw new ConvertError(path, problem);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("is not a JSON object");
  const c = json as Record<string, unknown>;
  const archs = c.architectures;
  const hfArchitecture = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : undefined;
  if (hfArchitecture === undefined) fail("has no architectures entry");
  const architecture = HF_ARCHITECTURES[hfArchitecture as string];
  if (architecture === undefined) {
    fail(
      `architecture ${hfArchitecture} is not supported (tritgate converts ${Object.keys(HF_ARCHITECTURES).join(", ")})`,
    );
  }
  if (c.quantization_config !== undefined && c.quantization_config !== null) {
    fail(
      "describes pre-packed quantized weights (quantization_config); convert the bf16 master weights instead (e.g. microsoft/bitnet-b1.58-2B-4T-bf16)",
    );
  }
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) fail("rope_scaling is not supported");
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      return fail(v === undefined ? `is missing ${key}` : `${key} must be a positive integer, is ${JSON.stringify(v)}`);
    }
    return v;
  };
  const real = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      return fail(`${key} must be a positive number, is ${JSON.stringify(v)}`);
    }
    return v;
  };
  const hidden = int("hidden_size");
  const heads = int("num_attention_heads");
  const kvHeads = int("num_key_value_heads", heads);
  if (heads % kvHeads !== 0) fail(`${heads} attention heads cannot share ${kvHeads} KV heads evenly`);
  const headDim = int("head_dim", hidden / heads);
  if (headDim % 2 !== 0) fail(`head size ${headDim} must be even for rotary embeddings`);
  const actName = c.hidden_act ?? (architecture === "bitnet" ? "silu" : "relu2");
  const activation = typeof actName === "string" ? ACTIVATIONS[actName] : undefined;
  if (activation === undefined) fail(`hidden_act ${JSON.stringify(actName)} is not supported (relu2, silu)`);
  return {
    hfArchitecture: hfArchitecture as string,
    architecture: architecture as string,
    hidden,
    intermediate: int("intermediate_size"),
    heads,
    kvHeads,
    headDim,
    layers: int("num_hidden_layers"),
    rmsEpsilon: real("rms_norm_eps", 1e-6),
    ropeTheta: real("rope_theta", 10000),
    contextLength: int("max_position_embeddings"),
    vocabSize: int("vocab_size"),
    activation: activation as "relu2" | "silu",
    tied: c.tie_word_embeddings !== false,
    bosId: firstId(c.bos_token_id),
    eosId: firstId(c.eos_token_id),
    padId: firstId(c.pad_token_id),
  };
}
