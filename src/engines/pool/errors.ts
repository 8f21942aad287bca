/** Why a pooled generation did not run or did not finish; the server maps each to an HTTP status. */

/** The variant's queue is at its bound: retry later or elsewhere. */
export class QueueFullError extends Error {
  constructor(
    readonly variant: string,
    readonly limit: number,
  ) {
    super(`variant ${variant} has ${limit} requests waiting already`);
    this.name = "QueueFullError";
  }
}

/** The variant cannot serve: still loading, failed to load, crashed or closed. */
export class VariantUnavailableError extends Error {
  constructor(
    readonly variant: string,
    readonly state: string,
    detail?: string,
  ) {
    super(`variant ${variant} is ${state}${detail ? `: ${detail}` : ""}`);
    this.name = "VariantUnavailableError";
  }
}

/** The caller aborted (client disconnect); the slot is freed. */
export class GenerationAbortedError extends Error {
  constructor(readonly variant: string) {
    super(`generation on ${variant} was cancelled`);
    this.name = "GenerationAbortedError";
  }
}

/**
 * The engine threw inside the worker. `cause` keeps the original error's name, so callers can tell
 * a client mistake (ContextOverflowError → 400) from an engine fault (→ fallback).
 */
export class EngineError extends Error {
  constructor(
    readonly variant: string,
    readonly originalName: string,
    message: string,
  ) {
    super(message);
    this.name = "EngineError";
  }

  /** The request itself is at fault (it would fail on any variant). */
  get clientFault(): boolean {
    return this.originalName === "ContextOverflowError" || this.originalName === "RangeError";
  }
}
