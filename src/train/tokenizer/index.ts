// Byte-level BPE tokenizer training for the nano models (Hugging Face tokenizer.json output).

export { BYTE_TO_CHAR, fromByteLevel, toByteLevel } from "../../engines/tokenizer/bytes.js";
export type { AddedTokenJson } from "../../engines/tokenizer/hf-json.js";
export { type LearnBpeOptions, type LearnedBpe, learnBpe } from "./bpe.js";
export { countWords, GPT2_PATTERN, preTokenize, type WordCounts } from "./pretokenize.js";
export {
  DEFAULT_SPECIAL_TOKENS,
  NANO_CHAT_TEMPLATE,
  saveTokenizer,
  stringifyTokenizerConfig,
  stringifyTokenizerJson,
  type TokenizerConfigJson,
  type TokenizerJson,
  type TrainedTokenizer,
  type TrainStats,
  type TrainTokenizerOptions,
  trainTokenizer,
} from "./train.js";
