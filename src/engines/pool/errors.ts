/**
 * Why a pooled generation did not run or did not finish; the server maps each to an HTTP status. A
 * request fault (`RequestError` from `../errors.js`: context overflow, chat template, invalid value) is
 * rejected as itself; the rest are these.
 */
import { ChatTemplateError, ContextOverflowError, InvalidGenerationError } from "../errors.js";
import { KvWaitExceededError } from "./kv-budget.js";
import type { SerializedError } from "./protocol.js";

/** The variant is at capacity (queue or KV budget): retry later or elsewhere; not a fault of the variant. */
export abstract class CapacityError extends Error {
  /** seconds after which a retry may find room */
  abstract readonly retryAfterSec: number;
}

/** The variant's queue is at its bound. */
export class QueueFullError extends CapacityError {
  readonly retryAfterSec = 1;
  constructor(
    readonly variant: string,
    readonly limit: number,
  ) {
    super(`variant ${variant} has ${limit} requests waiting already`);
    this.name = "QueueFullError";
  }
}

/** The variant's KV budget stayed spent for as long as a request may wait for it (`maxKvWaitMs`). */
export class KvBudgetExhaustedError extends CapacityError {
  readonly retryAfterSec = 1;
  constructor(
    readonly variant: string,
    readonly limit: number,
    readonly tokens: number,
  ) {
    super(`variant ${variant} has its KV-cache budget (${limit} tokens) in use; this request needs ${tokens}`);
    this.name = "KvBudgetExhaustedError";
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
 * The engine failed inside the worker (or the worker could not run it): an engine fault, counted against
 * the variant's health. `originalName` keeps the engine's error name. Request faults do not become an
 * EngineError: they cross the worker boundary as their own class (see `reviveError`).
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
}

/** An error as plain data for postMessage; request faults carry what rebuilds their class. */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof ContextOverflowError) {
    return {
      name: e.name,
      message: e.message,
      request: { kind: "context", needed: e.needed, capacity: e.capacity, param: e.param },
    };
  }
  if (e instanceof ChatTemplateError) return { name: e.name, message: e.message, request: { kind: "template" } };
  if (e instanceof InvalidGenerationError) {
    return { name: e.name, message: e.message, request: { kind: "invalid", param: e.param } };
  }
  if (e instanceof KvWaitExceededError) {
    return { name: e.name, message: e.message, capacity: { kind: "kv", limit: e.limit, tokens: e.tokens } };
  }
  return e instanceof Error ? { name: e.name, message: e.message } : { name: "Error", message: String(e) };
}

/**
 * The worker's error on the main thread: a request fault as its own class, a capacity refusal as a
 * KvBudgetExhaustedError, anything else as an EngineError.
 */
export function reviveError(variant: string, s: SerializedError): Error {
  if (s.capacity) return new KvBudgetExhaustedError(variant, s.capacity.limit, s.capacity.tokens);
  switch (s.request?.kind) {
    case "context":
      return new ContextOverflowError(s.request.needed, s.request.capacity, s.request.param);
    case "template":
      return new ChatTemplateError(s.message);
    case "invalid":
      return new InvalidGenerationError(s.message, s.request.param);
    default:
      return new EngineError(variant, s.name, s.message);
  }
}
