import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SchemaError } from "./errors.js";
import {
  advance,
  advanceBytes,
  initialState,
  isAccepting,
  MAX_CONFIGURATIONS,
  type RecognizerState,
} from "./recognizer.js";
import { compileSchema } from "./schema.js";
import { validateJson } from "./testkit.js";

const PATH = "response_format.json_schema.schema";
const compile = (schema: unknown, strict = false) => compileSchema(schema, { strict, path: PATH });
const accepts = (schema: unknown, value: unknown, pretty = false) => {
  const text = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
  const s = advanceBytes(initialState(compile(schema)), new TextEncoder().encode(text));
  return s !== null && isAccepting(s);
};
const refusal = (schema: unknown, strict = false): string => {
  try {
    compile(schema, strict);
  } catch (e) {
    if (e instanceof SchemaError) return e.path;
    throw e;
  }
  throw new Error("compiled");
};

const ITEM = {
  type: "object",
  properties: {
    id: { type: "integer" },
    name: { type: "string", maxLength: 5 },
    kind: { enum: ["a", "b", 3, null] },
    score: { type: ["number", "null"] },
    flags: { type: "array", items: { type: "boolean" }, minItems: 1, maxItems: 3 },
    note: { type: "string" },
  },
  required: ["id", "name", "kind", "score", "flags"],
  additionalProperties: false,
};

/** Values of ITEM, with the optional `note` present or not; keys in declared order. */
const items = fc
  .record({
    id: fc.integer(),
    name: fc.string({ maxLength: 5, unit: "grapheme-composite" }).filter((s) => [...s].length <= 5),
    kind: fc.constantFrom("a", "b", 3, null),
    score: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null)),
    flags: fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }),
    note: fc.option(fc.string(), { nil: undefined }),
  })
  .map(({ note, ...rest }) => (note === undefined ? rest : { ...rest, note }));

describe("JSON Schema → grammar", () => {
  it("accepts every value of the schema, written in declared order, compact or indented", () => {
    fc.assert(
      fc.property(items, fc.boolean(), (value, pretty) => {
        expect(validateJson(ITEM, value)).toEqual([]);
        expect(accepts(ITEM, value, pretty)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("rejects what the schema rejects", () => {
    const ok = { id: 1, name: "ab", kind: "a", score: null, flags: [true] };
    expect(accepts(ITEM, ok)).toBe(true);
    expect(accepts(ITEM, { ...ok, id: 1.5 })).toBe(false);
    expect(accepts(ITEM, { ...ok, name: "abcdef" })).toBe(false);
    expect(accepts(ITEM, { ...ok, kind: "c" })).toBe(false);
    expect(accepts(ITEM, { ...ok, flags: [] })).toBe(false);
    expect(accepts(ITEM, { ...ok, flags: [true, true, true, true] })).toBe(false);
    expect(accepts(ITEM, { ...ok, extra: 1 })).toBe(false);
    const { score: _score, ...missing } = ok;
    expect(accepts(ITEM, missing)).toBe(false);
    // declared order is part of the language: a reordered object is not written
    expect(accepts(ITEM, { name: "ab", id: 1, kind: "a", score: null, flags: [true] })).toBe(false);
  });

  it("an arbitrary value the grammar accepts always validates (soundness)", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (value) => {
        if (accepts(ITEM, value)) expect(validateJson(ITEM, value)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it("follows $ref into $defs, recursively", () => {
    const tree = {
      $defs: { node: { type: "object", properties: { kids: { type: "array", items: { $ref: "#/$defs/node" } } } } },
      $ref: "#/$defs/node",
    };
    expect(accepts(tree, { kids: [{ kids: [] }, { kids: [{}] }] })).toBe(true);
    expect(accepts(tree, { kids: [1] })).toBe(false);
  });

  it("refuses, naming the path, what it cannot express", () => {
    expect(refusal({ type: "object", properties: { x: { type: "string", pattern: "a" } } })).toBe(
      `${PATH}.properties.x.pattern`,
    );
    expect(refusal({ type: "array", items: [{ type: "string" }] })).toBe(`${PATH}.items`);
    expect(refusal({ oneOf: [{ type: "string" }] })).toBe(`${PATH}.oneOf`);
    expect(refusal({ type: "integer", minimum: 0 })).toBe(`${PATH}.minimum`);
    expect(refusal({ type: "object", required: ["a"] })).toBe(`${PATH}.required`);
    expect(refusal({ type: "bogus" })).toBe(`${PATH}.type`);
    expect(refusal({ $ref: "#/$defs/none" })).toBe(`${PATH}.$ref`);
    expect(refusal({ anyOf: [{ type: "string" }], type: "string" })).toBe(PATH);
    expect(refusal({ type: "string", enum: [1, 2] })).toBe(`${PATH}.enum`);
    expect(refusal({ type: "array", minItems: 3, maxItems: 2 })).toBe(`${PATH}.minItems`);
  });

  it("strict mode requires additionalProperties false and every property required, on every object", () => {
    const inner = { type: "object", properties: { a: { type: "string" } }, required: ["a"] };
    const outer = (o: unknown) => ({
      type: "object",
      properties: { o },
      required: ["o"],
      additionalProperties: false,
    });
    expect(refusal(outer(inner), true)).toBe(`${PATH}.properties.o.additionalProperties`);
    expect(refusal(outer({ ...inner, required: [], additionalProperties: false }), true)).toBe(
      `${PATH}.properties.o.required`,
    );
    expect(() => compile(outer({ ...inner, additionalProperties: false }), true)).not.toThrow();
  });

  it("refuses $ref cycles that write nothing (they would recurse forever), allows those through a container", () => {
    expect(refusal({ $defs: { a: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" })).toBe(`${PATH}.$defs.a`);
    expect(
      refusal({ $defs: { a: { anyOf: [{ type: "null" }, { $ref: "#/$defs/b" }] }, b: { $ref: "#/$defs/a" } } }),
    ).toBe(`${PATH}.$defs.a`);
    expect(() =>
      compile({ $defs: { a: { type: "array", items: { $ref: "#/$defs/a" } } }, $ref: "#/$defs/a" }),
    ).not.toThrow();
  });

  it("nested undecided unions stay bounded instead of doubling per level", () => {
    // shared through $defs, so the schema stays small while the undecided options double per level
    const $defs: Record<string, unknown> = { d0: { type: "integer" } };
    for (let i = 1; i <= 30; i++) {
      const item = { type: "array", items: { $ref: `#/$defs/d${i - 1}` } };
      $defs[`d${i}`] = { anyOf: [item, item] };
    }
    const nested = { $defs, $ref: "#/$defs/d30" };
    const text = `${"[".repeat(30)}1${"]".repeat(30)}`;
    let s: RecognizerState | null = initialState(compile(nested));
    for (const b of new TextEncoder().encode(text)) {
      s = advance(s!, b);
      expect(s).not.toBeNull();
      expect(s!.length).toBeLessThanOrEqual(MAX_CONFIGURATIONS);
    }
    expect(isAccepting(s!)).toBe(true);
  });

  it("refuses hostile sizes instead of compiling them", () => {
    expect(refusal({ enum: Array.from({ length: 2000 }, (_, i) => i) })).toBe(`${PATH}.enum`);
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, { type: "null" }]));
    expect(refusal({ type: "object", properties: many })).toBe(`${PATH}.properties`);
    let deep: unknown = { type: "string" };
    for (let i = 0; i < 100; i++) deep = { type: "array", items: deep };
    expect(() => compile(deep)).toThrow(SchemaError);
  });
});
