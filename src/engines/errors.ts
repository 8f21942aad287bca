/** Errors engines raise that callers map to client-facing messages (HTTP 400, CLI exit 1). */
import { FileError } from "../util/file-error.js";

export class ContextOverflowError extends Error {
  constructor(
    readonly needed: number,
    readonly capacity: number,
  ) {
    super(`this request needs ${needed} tokens of context but the model's context holds ${capacity}`);
    this.name = "ContextOverflowError";
  }
}

/** A model file that cannot be used, with the file named. */
export class ModelLoadError extends FileError {}

/**
 * A constrained generation reached a point where no token of the vocabulary can continue the output
 * (a vocabulary without byte tokens that cannot write a character the grammar requires). The request
 * and this model's vocabulary are at fault, not the engine.
 */
export class ConstraintUnsatisfiableError extends Error {
  constructor(detail: string) {
    super(`no token of this model's vocabulary can continue the constrained output (${detail})`);
    this.name = "ConstraintUnsatisfiableError";
  }
}
