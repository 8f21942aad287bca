/**
 * One constrained generation: the recognizer state of the output so far, and per step the set of
 * tokens that keep it a valid prefix. `mask` sets every other logit to -Infinity before the sampler
 * runs, so temperature, top-p, penalties, seeds and logprobs all work over the allowed tokens: the
 * reported log-probabilities are those of the model's distribution renormalised over what the
 * constraint allows at that step.
 */
import type { GrammarNode } from "./grammar.js";
import {
  advanceBytes,
  initialState,
  isAccepting,
  isClosed,
  plainStringRoom,
  type RecognizerState,
} from "./recognizer.js";
import { type VocabIndex, walkTrie } from "./vocab.js";

export class ConstrainedOutput {
  private state: RecognizerState;
  private readonly allowed: Uint8Array;
  private readonly scratch: (RecognizerState | null)[] = [];

  constructor(
    root: GrammarNode,
    private readonly vocab: VocabIndex,
  ) {
    this.state = initialState(root);
    this.allowed = new Uint8Array(vocab.vocabSize);
  }

  /** The output is complete and nothing may follow: generation ends without sampling again. */
  get closed(): boolean {
    return isClosed(this.state);
  }

  /** The output so far is a complete value. */
  get accepting(): boolean {
    return isAccepting(this.state);
  }

  /**
   * Fills `allowed` (1 = may be sampled) for the current state and returns how many tokens it allows,
   * end-of-sequence included (allowed only when the output is complete).
   */
  allowedTokens(): { allowed: Uint8Array; count: number } {
    const { vocab, allowed } = this;
    let count: number;
    const room = plainStringRoom(this.state);
    if (room >= vocab.maxPlainChars) {
      allowed.set(vocab.plain);
      count = vocab.plainCount + walkTrie(vocab.nonPlain, this.state, allowed, this.scratch);
    } else if (room >= 0) {
      allowed.fill(0);
      count = 0;
      const { plainByChars, plainChars } = vocab;
      for (; count < plainByChars.length; count++) {
        const id = plainByChars[count]!;
        if (plainChars[id]! > room) break;
        allowed[id] = 1;
      }
      count += walkTrie(vocab.nonPlain, this.state, allowed, this.scratch);
    } else {
      allowed.fill(0);
      count = walkTrie(vocab.all, this.state, allowed, this.scratch);
    }
    if (isAccepting(this.state)) {
      for (const id of vocab.eosIds) {
        if (allowed[id] === 0) count++;
        allowed[id] = 1;
      }
    }
    return { allowed, count };
  }

  /** Sets the logits of disallowed tokens to -Infinity (in place); returns how many tokens remain. */
  mask(logits: Float32Array): number {
    const { allowed, count } = this.allowedTokens();
    const n = Math.min(logits.length, allowed.length);
    for (let i = 0; i < n; i++) if (allowed[i] === 0) logits[i] = Number.NEGATIVE_INFINITY;
    for (let i = n; i < logits.length; i++) logits[i] = Number.NEGATIVE_INFINITY;
    return count;
  }

  /** Advances past a sampled token; end-of-sequence ids leave the state as it is. */
  accept(id: number): void {
    if (this.vocab.eosIds.includes(id)) return;
    const bytes = this.vocab.tokenBytes[id];
    const next = bytes ? advanceBytes(this.state, bytes) : null;
    if (next === null) throw new Error(`constrained output: token ${id} does not continue the output`);
    this.state = next;
  }
}
