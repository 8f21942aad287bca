/**
 * Constrained decoding: the output of a generation restricted to a JSON value, a JSON Schema's language
 * or a tool call, by masking at each step every token that would leave it. See README.md.
 */
import type { GrammarNode } from "./grammar.js";
import type { VocabIndex } from "./vocab.js";

export { SchemaError } from "./errors.js";
export type { GrammarNode } from "./grammar.js";
export { ConstrainedOutput } from "./mask.js";
export { advanceBytes, initialState, isAccepting, isClosed, type RecognizerState } from "./recognizer.js";
export { compileSchema } from "./schema.js";
export { type ConstraintSpec, compileConstraint, type FunctionSpec, MAX_PARALLEL_CALLS } from "./spec.js";
export { buildVocabIndex, type VocabIndex } from "./vocab.js";

/** A compiled grammar with the vocabulary index of the engine that will run it. */
export interface Constraint {
  readonly grammar: GrammarNode;
  readonly vocab: VocabIndex;
}
