import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LogitsSession } from "../engine.js";
import { ConstraintUnsatisfiableError } from "../errors.js";
import { generateWith } from "../generate.js";
import { ANY } from "./grammar.js";
import { ConstrainedOutput } from "./mask.js";
import { advanceBytes, initialState, isAccepting, type RecognizerState } from "./recognizer.js";
import { compileConstraint } from "./spec.js";
import { byteTokenizer } from "./testkit.js";
import { buildVocabIndex, walkTrie } from "./vocab.js";

const utf8 = (s: string) => new TextEncoder().encode(s);
const TEXTS = [
  "{",
  "}",
  '"',
  '"a',
  'a"',
  "a",
  "b",
  " ",
  "\n",
  "  ",
  ":",
  ",",
  "1",
  "23",
  "-",
  ".5",
  "e",
  "[",
  "]",
  "],",
];
const MORE = ["true", "tr", "ue", "null", '{"', '"}', '":', '":"', '","', "é", "日本", "\\", "\\n", "\\u00e9", '"\\'];
const PIECES: Uint8Array[] = [
  ...[...TEXTS, ...MORE].map(utf8),
  Uint8Array.of(0xe6), // first byte of 日
  Uint8Array.of(0x97, 0xa5), // its other two
  Uint8Array.of(0xff), // never valid UTF-8
  new Uint8Array(0), // a hole
  utf8("<|eos|>"),
  utf8("<|tool|>"),
];
const EOS = PIECES.length - 2;
const SPECIAL = PIECES.length - 1;
const tokenizer = byteTokenizer(PIECES, { eos: [EOS], special: [SPECIAL] });
/** the engine's output layer is padded past the tokenizer's vocabulary, as some exports are */
const VOCAB = PIECES.length + 3;
const vocab = buildVocabIndex(tokenizer, VOCAB);

/** What the mask must allow: every token whose bytes continue the output, EOS when it is complete. */
function bruteForce(state: RecognizerState): Set<number> {
  const out = new Set<number>();
  PIECES.forEach((bytes, id) => {
    if (id === EOS || id === SPECIAL || bytes.length === 0) return;
    if (advanceBytes(state, bytes) !== null) out.add(id);
  });
  if (isAccepting(state)) out.add(EOS);
  return out;
}

/** States reached by random allowed tokens (each step picks among the brute-force set). */
const walks = fc.array(fc.nat(), { minLength: 1, maxLength: 30 });

/** Every single byte plus multi-byte tokens: any valid continuation can be written, so none may be missing. */
const BYTES: Uint8Array[] = [...Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)), ...TEXTS.map(utf8)];
const byteVocab = buildVocabIndex(byteTokenizer(BYTES), BYTES.length);
const SCHEMA = {
  type: "object",
  properties: {
    id: { type: "integer" },
    tag: { type: "string", minLength: 1, maxLength: 3 },
    list: { type: "array", items: { enum: ["x", 2, null] }, minItems: 2, maxItems: 3 },
    opt: { type: "boolean" },
    last: { anyOf: [{ type: "number" }, { type: "object", properties: { k: { type: "null" } }, required: ["k"] }] },
  },
  required: ["id", "tag", "list", "last"],
};

describe("the token mask", () => {
  it("never leaves a prefix without a continuation (random walks over a schema with every rule)", () => {
    const grammar = compileConstraint({ kind: "json_schema", schema: SCHEMA, strict: false, path: "s" });
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 1, maxLength: 80 }), (choices) => {
        const out = new ConstrainedOutput(grammar, byteVocab);
        for (const choice of choices) {
          if (out.closed) break;
          const { allowed, count } = out.allowedTokens();
          expect(count > 0 || out.accepting).toBe(true);
          const ids = [...allowed.keys()].filter((id) => allowed[id] === 1);
          out.accept(ids[choice % ids.length]!);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("allows exactly the tokens that continue the output, EOS only when it is complete", () => {
    const bounded = {
      type: "object",
      properties: {
        a: { type: "string", maxLength: 2 },
        b: { type: "array", items: { type: "string", minLength: 1, maxLength: 3 } },
      },
      required: ["a"],
    };
    const roots = [
      ANY,
      compileConstraint({ kind: "json_object" }),
      compileConstraint({ kind: "json_schema", schema: bounded, strict: false, path: "s" }),
    ];
    fc.assert(
      fc.property(walks, fc.nat(2), (choices, r) => {
        const out = new ConstrainedOutput(roots[r]!, vocab);
        let state: RecognizerState = initialState(roots[r]!);
        for (const choice of choices) {
          const want = bruteForce(state);
          const { allowed, count } = out.allowedTokens();
          const got = new Set([...allowed.keys()].filter((id) => allowed[id] === 1));
          expect(got).toEqual(want);
          expect(count).toBe(want.size);
          const options = [...want].filter((id) => id !== EOS);
          if (options.length === 0) break;
          const id = options[choice % options.length]!;
          out.accept(id);
          state = advanceBytes(state, PIECES[id]!)!;
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the trie walk from a state marks the same tokens as feeding each token alone", () => {
    const inString = advanceBytes(initialState(ANY), utf8('{"k":"'))!;
    const allowed = new Uint8Array(VOCAB);
    walkTrie(vocab.all, inString, allowed, []);
    const want = bruteForce(inString);
    expect(new Set([...allowed.keys()].filter((id) => allowed[id] === 1))).toEqual(want);
    // the fast path: inside a free string the plain tokens are allowed without a walk
    expect(vocab.plain[PIECES.findIndex((p) => new TextDecoder().decode(p) === "日本")]).toBe(1);
    expect(vocab.plain[PIECES.length - 6]).toBe(0); // the lone lead byte is not plain
  });

  it("a partial UTF-8 token is allowed in a string only when the rest of its character can follow", () => {
    const out = new ConstrainedOutput(ANY, vocab);
    out.accept(PIECES.findIndex((p) => p.length === 1 && p[0] === 0x22));
    const lead = PIECES.findIndex((p) => p.length === 1 && p[0] === 0xe6);
    const rest = PIECES.findIndex((p) => p.length === 2 && p[0] === 0x97);
    expect(out.allowedTokens().allowed[lead]).toBe(1);
    expect(out.allowedTokens().allowed[rest]).toBe(0);
    out.accept(lead);
    const { allowed, count } = out.allowedTokens();
    expect(allowed[rest]).toBe(1);
    expect(count).toBe(1);
  });

  it("masks logits to -Infinity, padding past the tokenizer included", () => {
    const out = new ConstrainedOutput(compileConstraint({ kind: "json_object" }), vocab);
    const logits = new Float32Array(VOCAB).fill(1);
    const n = out.mask(logits);
    const open = [...logits.keys()].filter((id) => logits[id] === 1);
    expect(open.length).toBe(n);
    expect(open.map((id) => new TextDecoder().decode(PIECES[id]!)).sort()).toEqual(["{", '{"'].sort());
    expect(logits[VOCAB - 1]).toBe(Number.NEGATIVE_INFINITY);
  });
});

/** A session whose logits are seeded noise: a model that knows nothing of JSON. */
function noiseSession(seed: number, capacity = 512): LogitsSession {
  let x = seed * 2654435761 || 1;
  let length = 0;
  const logits = () => {
    const out = new Float32Array(VOCAB);
    for (let i = 0; i < VOCAB; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      out[i] = (x / 2 ** 32) * 8;
    }
    return out;
  };
  return {
    get length() {
      return length;
    },
    capacity,
    async append(tokens) {
      length += tokens.length;
      return logits();
    },
    async appendAll() {
      throw new Error("not used");
    },
  };
}

describe("constrained generation in the shared decode loop", () => {
  it("every completed output parses; max_tokens mid-value ends with finish 'length'", async () => {
    const grammar = compileConstraint({ kind: "json_object" });
    let completed = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const result = await generateWith(noiseSession(seed), tokenizer, VOCAB, {
        prompt: [0],
        maxTokens: 24,
        sampling: { seed, temperature: 1 + (seed % 3) / 4, topLogprobs: 20 },
        constraint: { grammar, vocab },
      });
      // logprobs are renormalised over the allowed tokens; ruled-out tokens are not listed as alternatives
      for (const t of result.tokens) {
        expect(t.logprob).toBeGreaterThan(Number.NEGATIVE_INFINITY);
        expect(t.logprob).toBeLessThanOrEqual(0);
        expect(t.top.every((a) => Number.isFinite(a.logprob))).toBe(true);
      }
      if (result.finishReason === "stop") {
        completed++;
        expect(typeof JSON.parse(result.text)).toBe("object");
      } else {
        expect(result.finishReason).toBe("length");
        expect(result.completionTokens).toBe(24);
        expect(advanceBytes(initialState(grammar), utf8(result.text))).not.toBeNull();
      }
    }
    expect(completed).toBeGreaterThan(0);
  });

  it("a vocabulary that cannot write what the grammar requires fails with a clear error, not a hang", async () => {
    const grammar = compileConstraint({ kind: "json_schema", schema: { const: "z" }, strict: false, path: "s" });
    await expect(
      generateWith(noiseSession(1), tokenizer, VOCAB, { prompt: [0], maxTokens: 8, constraint: { grammar, vocab } }),
    ).rejects.toThrow(ConstraintUnsatisfiableError);
  });

  it("without the constraint the same noise is not JSON", async () => {
    const result = await generateWith(noiseSession(1), tokenizer, VOCAB, {
      prompt: [0],
      maxTokens: 24,
      sampling: { seed: 1 },
    });
    expect(() => JSON.parse(result.text)).toThrow();
  });
});
