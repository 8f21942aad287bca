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
