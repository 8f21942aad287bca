/**
 * Errors engines raise. `RequestError`s are the request's fault — the same request would fail on any
 * healthy engine of this model — so callers answer them as client errors (HTTP 400, CLI exit 1) and
 * never count them against the engine's health. Anything else an engine throws is an engine fault.
 */
import { FileError } from "../util/file-error.js";

export abstract class RequestError extends Error {
  /** the request field at fault, in OpenAI's naming, when one is */
  abstract readonly param: string | null;
}

export class ContextOverflowError extends RequestError {
  constructor(
    readonly needed: number,
    readonly capacity: number,
    /** "messages" when the prompt alone does not fit, "max_tokens" when the prompt plus the requested output does not */
    readonly param: "messages" | "max_tokens" = "messages",
  ) {
    super(
      param === "max_tokens"
        ? `this request needs ${needed} tokens of context (prompt plus max_tokens) but the model's context holds ${capacity}; lower max_tokens or shorten the prompt`
        : `this request needs ${needed} tokens of context but the model's context holds ${capacity}`,
    );
    this.name = "ContextOverflowError";
  }
}

/** The model's chat template cannot render this conversation (a role or a message shape it does not support). */
export class ChatTemplateError extends RequestError {
  readonly param = "messages";
  constructor(message: string) {
    super(message);
    this.name = "ChatTemplateError";
  }
}

/** A request value this engine cannot use (e.g. a logit_bias token id outside its vocabulary). */
export class InvalidGenerationError extends RequestError {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
    this.name = "InvalidGenerationError";
  }
}

/** A model file that cannot be used, with the file named. */
export class ModelLoadError extends FileError {}

/**
 * A constrained generation reached a point where no token of the vocabulary can continue the output
 * (a vocabulary without byte tokens that cannot write a character the grammar requires). The request
 * and this model's vocabulary are at fault, not the engine: a request fault, never counted by a breaker.
 */
export class ConstraintUnsatisfiableError extends InvalidGenerationError {
  constructor(detail: string) {
    super(`no token of this model's vocabulary can continue the constrained output (${detail})`, null);
    this.name = "ConstraintUnsatisfiableError";
  }
}
