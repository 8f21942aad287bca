/**
 * The committed nano models (models/nano) under constraint: a seeded sweep of seeds x temperatures on
 * both engines, where every completed output must parse and validate against its schema, and every
 * output cut by max_tokens must be a prefix the grammar allows. Unconstrained, these models write
 * English-like prose and never a JSON object, so the outputs below are the constraint's doing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../engine.js";
import { loadEngine } from "../load.js";
import { advanceBytes, initialState } from "./recognizer.js";
import { type ConstraintSpec, compileConstraint } from "./spec.js";
import { validateJson } from "./testkit.js";
import { buildVocabIndex, type VocabIndex } from "./vocab.js";

const MODELS = { bitnet: "models/nano/nano-b158/model.gguf", onnx: "models/nano/nano-fp32/model.onnx" } as const;
const SEEDS = [1, 2, 3, 4, 5];
const TEMPERATURES = [0, 0.8, 1.3];
const MAX_TOKENS = 64;

const SCHEMAS: Record<string, Record<string, unknown>> = {
  verdict: {
    type: "object",
    properties: {
      ok: { type: "boolean" },
      score: { type: "integer" },
      label: { enum: ["whale", "ship", "sea"] },
    },
    required: ["ok", "score", "label"],
    additionalProperties: false,
  },
  crew: {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 8 },
      mates: { type: "array", items: { type: "string", maxLength: 4 }, minItems: 1, maxItems: 2 },
      rank: { anyOf: [{ type: "null" }, { type: "number" }] },
    },
    required: ["name", "mates"],
  },
  tree: {
    $defs: {
      node: {
        type: "object",
        properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 2 } },
        required: ["v", "kids"],
        additionalProperties: false,
      },
    },
    $ref: "#/$defs/node",
  },
};

const engines: Partial<Record<keyof typeof MODELS, { engine: Engine; vocab: VocabIndex }>> = {};

beforeAll(async () => {
  for (const [kind, path] of Object.entries(MODELS) as [keyof typeof MODELS, string][]) {
    const engine = await loadEngine(path, { threads: 1 });
    engines[kind] = { engine, vocab: buildVocabIndex(engine.tokenizer, engine.vocabSize) };
  }
});

afterAll(async () => {
  for (const e of Object.values(engines)) await e?.engine.close();
});

const utf8 = (s: string) => new TextEncoder().encode(s);

function parsesAsObject(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null;
  } catch {
    return false;
  }
}

async function sweep(kind: keyof typeof MODELS, spec: ConstraintSpec, check: (value: unknown) => void) {
  const { engine, vocab } = engines[kind]!;
  const grammar = compileConstraint(spec);
  const prompt = engine.encodeChat([{ role: "user", content: "Tell me about the whale, as JSON." }]);
  const outcomes = { stop: 0, length: 0 };
  for (const seed of SEEDS) {
    for (const temperature of TEMPERATURES) {
      if (temperature === 0 && seed !== SEEDS[0]) continue; // greedy ignores the seed
      const r = await engine.generate({
        prompt,
        maxTokens: MAX_TOKENS,
        sampling: { seed, temperature, topP: 0.95 },
        constraint: { grammar, vocab },
      });
      if (r.finishReason === "stop") {
        outcomes.stop++;
        check(JSON.parse(r.text));
      } else {
        outcomes.length++;
        expect(r.finishReason).toBe("length");
        expect(r.completionTokens).toBe(MAX_TOKENS);
        expect(advanceBytes(initialState(grammar), utf8(r.text)), r.text).not.toBeNull();
      }
    }
  }
  return outcomes;
}

describe.each(Object.keys(MODELS) as (keyof typeof MODELS)[])("nano %s under constraint", (kind) => {
  it("writes prose, never a JSON object, without one", async () => {
    const { engine } = engines[kind]!;
    const prompt = engine.encodeChat([{ role: "user", content: "Tell me about the whale, as JSON." }]);
    for (const seed of SEEDS) {
      const r = await engine.generate({ prompt, maxTokens: MAX_TOKENS, sampling: { seed, temperature: 0.8 } });
      // a quoted sentence is a JSON string, so the claim is about objects: never one unconstrained
      expect(parsesAsObject(r.text), r.text).toBe(false);
    }
  });

  it("json_object: every output is an object or a valid prefix of one", async () => {
    await sweep(kind, { kind: "json_object" }, (v) => {
      expect(typeof v === "object" && v !== null && !Array.isArray(v)).toBe(true);
    });
  });

  it.each(Object.keys(SCHEMAS))("json_schema %s: every completed output validates", async (name) => {
    const schema = SCHEMAS[name]!;
    const outcomes = await sweep(kind, { kind: "json_schema", schema, strict: false, path: "schema" }, (v) => {
      expect(validateJson(schema, v)).toEqual([]);
    });
    // bounded schemas leave the model little room: most outputs complete within the budget
    expect(outcomes.stop).toBeGreaterThan(outcomes.length);
  });

  it("tool call: every completed output is a call of a given function with valid arguments", async () => {
    const parameters = SCHEMAS.verdict!;
    const spec: ConstraintSpec = {
      kind: "tool_call",
      functions: [
        { name: "judge", parameters, strict: true, path: "tools[0].function.parameters" },
        { name: "skip", strict: false, path: "tools[1].function.parameters" },
      ],
      parallel: false,
      orText: false,
    };
    await sweep(kind, spec, (v) => {
      const call = v as { name: string; arguments: unknown };
      expect(["judge", "skip"]).toContain(call.name);
      if (call.name === "judge") expect(validateJson(parameters, call.arguments)).toEqual([]);
      else expect(call.arguments).toEqual({});
    });
  });
});
