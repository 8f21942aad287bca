/**
 * The decode loop every engine shares: prefill the prompt as one batch, then sample, stream
 * and extend one token at a time until a stop condition. Engines only provide logits.
 */

import { ConstrainedOutput } from "./constrain/index.js";
import type {
  Engine,
  FinishReason,
  GeneratedToken,
  GenerationRequest,
  GenerationResult,
  LogitsSession,
} from "./engine.js";
import { ConstraintUnsatisfiableError, ContextOverflowError } from "./errors.js";
import { Sampler, StopMatcher } from "./sampler/index.js";
import { type ChatMessage, type ChatTool, createStreamDecoder, type Tokenizer } from "./tokenizer/index.js";

export async function generateWith(
  session: LogitsSession,
  tokenizer: Tokenizer,
  vocabSize: number,
  request: GenerationRequest,
  onToken?: (token: GeneratedToken) => void,
): Promise<GenerationResult> {
  if (request.prompt.length === 0) throw new Error("the prompt has no tokens");
  if (request.prompt.length >= session.capacity) {
    throw new ContextOverflowError(request.prompt.length + 1, session.capacity);
  }
  const sampler = new Sampler(request.sampling ?? {}, vocabSize, { chosenLogprob: request.logprobs !== false });
  const constrained = request.constraint && new ConstrainedOutput(request.constraint.grammar, request.constraint.vocab);
  const stop = new StopMatcher(request.stop ?? []);
  const decoder = createStreamDecoder(tokenizer, { skipSpecial: true });
  const history = [...request.prompt];
  const tokens: GeneratedToken[] = [];
  let text = "";
  let finishReason: FinishReason = "length";
  let stopString = false;

  const t0 = performance.now();
  let logits = await session.append(request.prompt);
  const t1 = performance.now();
  while (tokens.length < request.maxTokens) {
    if (request.signal?.aborted) {
      finishReason = "abort";
      break;
    }
    if (constrained && constrained.mask(logits) === 0) {
      if (constrained.accepting) {
        finishReason = "stop";
        break;
      }
      throw new ConstraintUnsatisfiableError(`after ${JSON.stringify(text.slice(-40))}`);
    }
    const sampled = sampler.sample(logits, history);
    if (!request.ignoreEos && tokenizer.eosIds.includes(sampled.id)) {
      finishReason = "stop";
      break;
    }
    constrained?.accept(sampled.id);
    history.push(sampled.id);
    const piece = stop.push(decoder.push(sampled.id));
    // alternatives the constraint ruled out (-Infinity) are not alternatives: fewer than asked may remain
    const top = constrained ? sampled.top.filter((t) => t.logprob > Number.NEGATIVE_INFINITY) : sampled.top;
    const token: GeneratedToken = { id: sampled.id, text: piece.emit, logprob: sampled.logprob, top };
    tokens.push(token);
    text += piece.emit;
    onToken?.(token);
    // a complete value that nothing may follow ends the output without another forward pass
    if (piece.stopped || constrained?.closed) {
      stopString = piece.stopped;
      finishReason = "stop";
      break;
    }
    if (tokens.length >= request.maxTokens || session.length >= session.capacity) break;
    logits = await session.append([sampled.id]);
  }
  if (!stopString) {
    // what the decoder and stop matcher still hold is real output once no stop string can form (also at
    // end-of-sequence, and when a constrained value completes: its last characters may be held back)
    const rest = stop.push(decoder.flush()).emit + stop.flush();
    text += rest;
  }
  return {
    text,
    tokens,
    finishReason,
    promptTokens: request.prompt.length,
    completionTokens: tokens.length,
    prefillMs: t1 - t0,
    decodeMs: performance.now() - t1,
  };
}

/** Chat messages → prompt ids; a template that writes the BOS text itself gets no second BOS. */
export function encodeChatWith(
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  tools?: readonly ChatTool[],
): number[] {
  const text = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true, tools });
  const bos = tokenizer.bosId === undefined ? undefined : tokenizer.tokenText(tokenizer.bosId);
  const addSpecial = !(bos && text.startsWith(bos));
  return tokenizer.encode(text, { addSpecial, parseSpecial: true });
}

export type { Engine };
