import { describe, expect, it } from "vitest";
import {
  ChatTemplateError,
  ConstraintUnsatisfiableError,
  ContextOverflowError,
  InvalidGenerationError,
  RequestError,
} from "../errors.js";
import { EngineError, reviveError, serializeError } from "./errors.js";

/** What the main thread sees of an error thrown in a worker: it crosses as plain data (structured clone). */
const across = (e: unknown) => reviveError("v", structuredClone(serializeError(e)));

describe("errors across the worker boundary", () => {
  it("request faults come back as request faults, with what the server answers from", () => {
    const overflow = across(new ContextOverflowError(300, 256, "max_tokens"));
    expect(overflow).toBeInstanceOf(ContextOverflowError);
    expect(overflow).toMatchObject({ needed: 300, capacity: 256, param: "max_tokens" });
    expect(across(new ChatTemplateError("no tool role"))).toBeInstanceOf(ChatTemplateError);
    expect(across(new InvalidGenerationError("bad id", "logit_bias"))).toMatchObject({ param: "logit_bias" });
  });

  it("a constraint the vocabulary cannot satisfy is the request's fault, not the engine's", () => {
    const revived = across(new ConstraintUnsatisfiableError("after '{'"));
    expect(revived).toBeInstanceOf(RequestError);
    expect(revived).not.toBeInstanceOf(EngineError);
    expect(revived.message).toContain("no token of this model's vocabulary");
  });

  it("anything else is an engine fault that keeps the engine's error name", () => {
    const revived = across(new TypeError("boom"));
    expect(revived).toBeInstanceOf(EngineError);
    expect(revived).toMatchObject({ variant: "v", originalName: "TypeError", message: "boom" });
  });
});
