/**
 * What a decoder graph in the Hugging Face Optimum convention takes and returns, read from the
 * session's input/output metadata: layer count, KV heads, head size and dtypes come from the
 * graph itself, never from constants.
 *
 *   inputs:  input_ids [batch, seq], attention_mask [batch, past + seq], position_ids [batch, seq]
 *            (optional), past_key_values.{i}.key / .value [batch, kv_heads, past, head_dim]
 *   outputs: logits [batch, seq, vocab], present.{i}.key / .value [batch, kv_heads, past + seq, head_dim]
 */
import type { InferenceSession } from "onnxruntime-node";
import { ModelLoadError } from "../errors.js";

export type ValueMetadata = InferenceSession.ValueMetadata;
export type KvType = "float32" | "float16";
export type IndexType = "int64" | "int32";

export interface LayerNames {
  readonly pastKey: string;
  readonly pastValue: string;
  readonly presentKey: string;
  readonly presentValue: string;
}

export interface DecoderSignature {
  readonly layers: number;
  readonly kvHeads: number;
  /** size of one key head (and of one value head unless valueDim says otherwise) */
  readonly headDim: number;
  readonly valueDim: number;
  readonly kvType: KvType;
  readonly inputIdsType: IndexType;
  /** undefined when the graph has no attention_mask input */
  readonly attentionMaskType: IndexType | undefined;
  /** undefined when the graph derives positions itself */
  readonly positionIdsType: IndexType | undefined;
  /** merged decoders (decoder_model_merged.onnx) switch their cache branch with this bool input */
  readonly useCacheBranch: boolean;
  /** false when an input fixes the batch dimension at 1: such a graph runs one sequence per run */
  readonly batchable: boolean;
  readonly logitsType: KvType;
  /** the logits' last dim, when the graph fixes it */
  readonly vocabSize: number | undefined;
  readonly names: readonly LayerNames[];
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const PRESENT = /^present\.(\d+)\.(key|value)$/;
const INDEX_TYPES: readonly string[] = ["int64", "int32"];
const FLOAT_TYPES: readonly string[] = ["float32", "float16"];

function isFixed(dim: number | string | undefined): dim is number {
  return typeof dim === "number" && Number.isInteger(dim) && dim > 0;
}

function showShape(shape: ReadonlyArray<number | string>): string {
  return shape.length === 0 ? "unknown" : `[${shape.map((d) => String(d)).join(", ")}]`;
}

/** Reads the decoder's signature; throws ModelLoadError naming `file` and the problem. */
export function readDecoderSignature(
  file: string,
  inputs: readonly ValueMetadata[],
  outputs: readonly ValueMetadata[],
): DecoderSignature {
  function fail(problem: string): never {
    throw new ModelLoadError(file, problem);
  }
  function tensor(meta: ValueMetadata, role: string): InferenceSession.TensorValueMetadata {
    if (!meta.isTensor) fail(`${role} ${meta.name} is not a tensor`);
    return meta;
  }
  function indexInput(meta: ValueMetadata | undefined): IndexType | undefined {
    if (meta === undefined) return undefined;
    const t = tensor(meta, "input");
    if (!INDEX_TYPES.includes(t.type)) fail(`input ${t.name} is ${t.type}; tritgate feeds int64 or int32 ids`);
    return t.type as IndexType;
  }

  const inputByName = new Map(inputs.map((m) => [m.name, m]));
  const outputByName = new Map(outputs.map((m) => [m.name, m]));
  const inputIds = inputByName.get("input_ids");
  if (inputIds === undefined) {
    fail(
      `the graph has no input_ids input (inputs: ${inputs.map((m) => m.name).join(", ") || "none"}); ` +
        "tritgate runs decoder LLMs exported in the Hugging Face Optimum convention",
    );
  }
  const logits = outputByName.get("logits");
  if (logits === undefined) {
    fail(
      `the graph has no logits output (outputs: ${outputs.map((m) => m.name).join(", ") || "none"}); ` +
        "tritgate runs decoder LLMs exported in the Hugging Face Optimum convention",
    );
  }

  // past_key_values.{i}.key/.value and present.{i}.key/.value, by layer
  const past = new Map<number, { key?: ValueMetadata; value?: ValueMetadata }>();
  const present = new Map<number, { key?: ValueMetadata; value?: ValueMetadata }>();
  const known = new Set(["input_ids", "attention_mask", "position_ids", "use_cache_branch"]);
  for (const meta of inputs) {
    const m = PAST.exec(meta.name);
    if (m) {
      const layer = Number(m[1]);
      const slot = past.get(layer) ?? {};
      slot[m[2] as "key" | "value"] = meta;
      past.set(layer, slot);
    } else if (!known.has(meta.name)) {
      fail(
        `the graph has an input tritgate does not know how to feed: ${meta.name} ` +
          "(expected input_ids, attention_mask, position_ids, past_key_values.{i}.key/.value)",
      );
    }
  }
  for (const meta of outputs) {
    const m = PRESENT.exec(meta.name);
    if (!m) continue;
    const layer = Number(m[1]);
    const slot = present.get(layer) ?? {};
    slot[m[2] as "key" | "value"] = meta;
    present.set(layer, slot);
  }
  if (past.size === 0) {
    fail(
      "the graph has no past_key_values.{i}.key/.value inputs; tritgate needs a decoder exported with its KV cache " +
        "(Optimum: --task text-generation-with-past)",
    );
  }
  if (past.size !== present.size) {
    fail(
      `past and present do not pair up: past_key_values inputs for ${past.size} layers but present outputs for ` +
        `${present.size} layers`,
    );
  }
  const layers = past.size;
  const names: LayerNames[] = [];
  let first: { heads: number; keyDim: number; valueDim: number; type: string; from: string } | undefined;
  for (let layer = 0; layer < layers; layer++) {
    const p = past.get(layer);
    const q = present.get(layer);
    if (p === undefined || q === undefined) {
      fail(
        `past and present do not pair up: layers must be numbered 0..${layers - 1} in both, but layer ${layer} ` +
          `has ${p === undefined ? "no past_key_values" : "no present"} tensors`,
      );
    }
    const need = (meta: ValueMetadata | undefined, name: string): ValueMetadata => {
      if (meta === undefined) fail(`past and present do not pair up: ${name} is missing`);
      return meta;
    };
    const key = tensor(need(p.key, `past_key_values.${layer}.key`), "input");
    const value = tensor(need(p.value, `past_key_values.${layer}.value`), "input");
    const presentKey = tensor(need(q.key, `present.${layer}.key`), "output");
    const presentValue = tensor(need(q.value, `present.${layer}.value`), "output");
    for (const t of [key, value]) {
      if (!FLOAT_TYPES.includes(t.type)) fail(`${t.name} is ${t.type}; tritgate carries float32 or float16 KV caches`);
      if (t.shape.length !== 4 || !isFixed(t.shape[1]) || !isFixed(t.shape[3])) {
        fail(
          `${t.name} has shape ${showShape(t.shape)}; tritgate reads the KV head count and head size from ` +
            "[batch, kv_heads, past, head_dim] with fixed kv_heads and head_dim, but they are symbolic or missing here",
        );
      }
      if (isFixed(t.shape[0]) && t.shape[0] !== 1)
        fail(`${t.name} has a fixed batch of ${t.shape[0]}; tritgate runs batch 1`);
      if (isFixed(t.shape[2])) {
        fail(`${t.name} has a fixed past length of ${t.shape[2]}; tritgate needs a growing (symbolic) past dimension`);
      }
    }
    const heads = key.shape[1] as number;
    const keyDim = key.shape[3] as number;
    const valueDim = value.shape[3] as number;
    if (value.shape[1] !== heads) fail(`${key.name} has ${heads} heads but ${value.name} has ${value.shape[1]}`);
    if (value.type !== key.type) fail(`${key.name} is ${key.type} but ${value.name} is ${value.type}`);
    if (first === undefined) first = { heads, keyDim, valueDim, type: key.type, from: key.name };
    else if (first.heads !== heads || first.keyDim !== keyDim || first.valueDim !== valueDim) {
      fail(
        `KV shapes disagree between layers: ${first.from} has ${first.heads} heads of ${first.keyDim} (values ` +
          `${first.valueDim}) but ${key.name} has ${heads} heads of ${keyDim} (values ${valueDim})`,
      );
    } else if (first.type !== key.type)
      fail(`KV dtypes disagree: ${first.from} is ${first.type}, ${key.name} is ${key.type}`);
    for (const t of [presentKey, presentValue]) {
      if (t.type !== key.type) fail(`${t.name} is ${t.type} but ${key.name} is ${key.type}; present must match past`);
    }
    names.push({
      pastKey: key.name,
      pastValue: value.name,
      presentKey: presentKey.name,
      presentValue: presentValue.name,
    });
  }
  if (first === undefined) return fail("the graph has no KV cache");

  const logitsMeta = tensor(logits, "output");
  if (!FLOAT_TYPES.includes(logitsMeta.type)) fail(`logits are ${logitsMeta.type}; tritgate reads float32 or float16`);
  const vocabDim = logitsMeta.shape.length === 3 ? logitsMeta.shape[2] : undefined;
  const useCache = inputByName.get("use_cache_branch");
  // every batched input ([batch, ...]) must leave the batch symbolic for several sequences to share a run
  const batchable = inputs.every((meta) => {
    if (!meta.isTensor || meta.name === "use_cache_branch") return true;
    return !isFixed(meta.shape[0]);
  });
  if (useCache !== undefined && tensor(useCache, "input").type !== "bool") {
    fail("input use_cache_branch must be bool");
  }
  return {
    layers,
    kvHeads: first.heads,
    headDim: first.keyDim,
    valueDim: first.valueDim,
    kvType: first.type as KvType,
    inputIdsType: indexInput(inputIds) ?? "int64",
    attentionMaskType: indexInput(inputByName.get("attention_mask")),
    positionIdsType: indexInput(inputByName.get("position_ids")),
    useCacheBranch: useCache !== undefined,
    batchable,
    logitsType: logitsMeta.type as KvType,
    vocabSize: isFixed(vocabDim) ? vocabDim : undefined,
    names,
  };
}
