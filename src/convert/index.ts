export { ConvertError } from "./errors.js";
export { convertFromGGUF, type GGUFConvertOptions, LINEAR_TENSOR } from "./from-gguf.js";
export { convertFromHF, type HFConvertOptions, hfMetadata } from "./from-hf.js";
export { HF_ARCHITECTURES, type HFBitNetConfig, parseHFConfig } from "./hf-config.js";
export { convertHFTokenizer, preTokenizerName } from "./hf-tokenizer.js";
export { type ConvertSummary, formatSummary } from "./output.js";
export { convertRopePairsToNeoX, PAIRS_TO_NEOX_NOTE } from "./rope-rows.js";
export {
  EMBEDDING_TARGETS,
  type EmbeddingTarget,
  HEAD_TARGETS,
  type HeadTarget,
  pairsToNeoXRowSource,
  permuteRows,
  TERNARY_TARGETS,
  type TernaryTarget,
} from "./tensors.js";
