import type { DecodeOptions, Tokenizer } from "./types.js";

export interface StreamDecoder {
  /** Adds one generated id; returns the newly completed text (possibly ""). */
  push(id: number): string;
  /** Returns whatever is still held back (an incomplete UTF-8 sequence becomes U+FFFD). */
  flush(): string;
}

/**
 * Incremental detokenization. Decoding token by token would break multi-byte characters split across tokens and
 * would lose context-dependent details such as SentencePiece's leading-space rule, so each step decodes a small
 * window (the previously emitted tokens plus the pending ones) and emits only the new, complete suffix.
 */
export function createStreamDecoder(tokenizer: Tokenizer, options: DecodeOptions = {}): StreamDecoder {
  const ids: number[] = [];
  let prefixOffset = 0;
  let readOffset = 0;

  const step = (final: boolean): string => {
    const prefixText = tokenizer.decode(ids.slice(prefixOffset, readOffset), options);
    const fullText = tokenizer.decode(ids.slice(prefixOffset), options);
    // a trailing U+FFFD means the last character's bytes are not all here yet
    if (fullText.length <= prefixText.length || (!final && fullText.endsWith("\uFFFD"))) return "";
    const fresh = fullText.slice(prefixText.length);
    prefixOffset = readOffset;
    readOffset = ids.length;
    // keep the window short: drop everything before the last emitted run
    if (prefixOffset > 0) {
      ids.splice(0, prefixOffset);
      readOffset -= prefixOffset;
      prefixOffset = 0;
    }
    return fresh;
  };

  return {
    push(id: number): string {
      ids.push(id);
      return step(false);
    },
    flush(): string {
      return step(true);
    },
  };
}
