/** A function call an assistant turn made, as Hugging Face chat templates receive it. */
export interface ChatToolCall {
  id?: string;
  type: "function";
  /** `arguments` is the parsed JSON object when the caller's string parses to one (what templates expect), else the string */
  function: { name: string; arguments: unknown };
}

export interface ChatMessage {
  role: string;
  /** null on an assistant turn that only calls tools */
  content: string | null;
  name?: string;
  tool_calls?: readonly ChatToolCall[];
  /** on a `tool` message: the call it answers */
  tool_call_id?: string;
}

export interface EncodeOptions {
  /** Add the model's BOS/EOS (or post-processor template) tokens. Default true. */
  addSpecial?: boolean;
  /** Match special/control token strings in the input as single tokens. Default true. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  skipSpecial?: boolean;
}

/** A tool definition as OpenAI sends it (`{type: "function", function: {name, description, parameters}}`). */
export type ChatTool = Readonly<Record<string, unknown>>;

export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  /** passed to the template as `tools`, as transformers' apply_chat_template does */
  tools?: readonly ChatTool[] | undefined;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  /** All ids that end generation (eos, eot, <|im_end|>, ...). */
  readonly eosIds: readonly number[];
  /** Whether encode(text, { addSpecial: true }) prepends BOS. */
  readonly addBos: boolean;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** The raw vocabulary entry (for logprobs "token" fields). */
  tokenText(id: number): string;
  /** The UTF-8 bytes this token decodes to (for logprobs "bytes"). */
  tokenBytes(id: number): Uint8Array;
  isSpecial(id: number): boolean;
  /** Chat template rendering (Jinja via @huggingface/jinja); throws a clear Error when the template fails. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
}

/** What a GGUF file carries under tokenizer.ggml.* (the GGUF loader maps metadata to this). */
export interface GGUFVocab {
  /** tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece BPE with scores). */
  model: string;
  /** tokenizer.ggml.pre: selects the pre-tokenizer regex; unknown values fall back to GPT-2's. */
  pre?: string;
  tokens: readonly string[];
  scores?: readonly number[];
  /** llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  tokenTypes?: readonly number[];
  /** "a b" pairs, rank = index. */
  merges?: readonly string[];
  bosId?: number;
  eosId?: number;
  eotId?: number;
  unknownId?: number;
  paddingId?: number;
  addBos?: boolean;
  addEos?: boolean;
  chatTemplate?: string;
}

export const TOKEN_TYPE = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;
