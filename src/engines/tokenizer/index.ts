// Tokenizers for the BitNet (GGUF) and ONNX (Hugging Face tokenizer.json) engines.
// Chat templates render with @huggingface/jinja; models without a template fall back to ChatML
// (see CHATML_TEMPLATE in chat.ts).

export { CHATML_TEMPLATE } from "./chat.js";
export { createStreamDecoder, type StreamDecoder } from "./decoder.js";
export { type GGUFVocabExtras, tokenizerFromGGUF } from "./gguf.js";
export { loadTokenizerDir, tokenizerFromHuggingFace } from "./huggingface.js";
export type {
  ChatMessage,
  ChatTemplateOptions,
  ChatTool,
  DecodeOptions,
  EncodeOptions,
  GGUFVocab,
  Tokenizer,
} from "./types.js";
