import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyse, BASE_NEED, CHAT_OUTPUT_TOKENS, MAX_ESTIMATED_OUTPUT_TOKENS } from "./analyse.js";
import type { RouteRequest } from "./types.js";

function ask(content: string, over: Partial<RouteRequest> = {}): RouteRequest {
  return { messages: [{ role: "user", content }], promptTokens: Math.ceil(content.length / 4), ...over };
}

const CHIT_CHAT = [
  "hi!",
  "Hello, how are you today?",
  "Thanks, that was really helpful :)",
  "What's your favourite colour?",
  "good morning! hope your weekend was nice",
  "lol that's funny",
  "See you at 3 tomorrow, ok?",
];

const CODE = [
  "Why does this fail?\n```python\ndef add(a, b):\n    return a + b\nprint(add(1))\n```",
  "TypeError: Cannot read properties of undefined (reading 'map')\n    at render (/app/src/List.tsx:12:20)\n    at main (/app/src/index.ts:4:3)",
  "Traceback (most recent call last):\n  File \"main.py\", line 3, in <module>\n    foo()\nNameError: name 'foo' is not defined",
  "const total = items.reduce((sum, x) => sum + x.price, 0);\nconsole.log(total);\nwhy is it NaN?",
  '#include <stdio.h>\nint main() {\n  printf("%d", 1);\n}\n',
];

const MATH = [
  "Solve for x: 3x^2 + 2x - 5 = 0",
  "Prove that the square root of 2 is irrational.",
  "Compute the integral of x * sin(x) from 0 to π.",
  "What is \\frac{d}{dx} \\sqrt{x^3 + 1}?",
  "Calculate 1234 * 5678 + 91 / 7",
];

const MULTI_STEP = [
  "Explain step by step how TLS establishes a session.",
  "Plan my trip:\n1. book flights\n2. find a hotel\n3. rent a car",
  "What is a mutex? How does it differ from a semaphore? When should I use each?",
  "First read the file, then parse each line, and finally print a summary. Walk me through it.",
];

describe("analyse — signals", () => {
  it.each(CHIT_CHAT)("flags nothing on chit-chat: %s", (text) => {
    const f = analyse(ask(text));
    for (const s of Object.values(f.signals)) expect(s.flagged).toBe(false);
    expect(f.contentNeed).toBeLessThan(0.6);
    expect(f.expectedOutputTokens).toBe(CHAT_OUTPUT_TOKENS);
  });

  it.each(CODE)("flags code: %s", (text) => {
    const f = analyse(ask(text));
    expect(f.signals.code.flagged).toBe(true);
    expect(f.signals.code.evidence.length).toBeGreaterThan(0);
    expect(f.contentNeed).toBeGreaterThanOrEqual(0.8);
  });

  it.each(MATH)("flags math: %s", (text) => {
    const f = analyse(ask(text));
    expect(f.signals.math.flagged).toBe(true);
    expect(f.contentNeed).toBeGreaterThanOrEqual(0.8);
  });

  it.each(MULTI_STEP)("flags multi-step: %s", (text) => {
    const f = analyse(ask(text));
    expect(f.signals.multiStep.flagged).toBe(true);
    expect(f.contentNeed).toBeGreaterThan(BASE_NEED);
  });

  it("names its evidence", () => {
    const f = analyse(ask(CODE[0]!));
    expect(f.signals.code.evidence).toContain("code_fence:1");
    expect(f.signals.code.evidence).toContain("syntax:def");
    const m = analyse(ask("Prove the theorem, then solve the integral"));
    expect(m.signals.math.evidence).toEqual(expect.arrayContaining(["keyword:prove", "keyword:integral"]));
  });

  it("long prompts raise the need through the length signal", () => {
    const short = analyse(ask("summarise this", { promptTokens: 100 }));
    const long = analyse(ask("summarise this", { promptTokens: 4000 }));
    expect(short.signals.length.score).toBe(0);
    expect(long.signals.length.flagged).toBe(true);
    expect(long.contentNeed).toBeGreaterThan(short.contentNeed);
  });

  it("looks at the whole conversation for code, the last user turn for questions", () => {
    const f = analyse({
      messages: [
        { role: "user", content: "```ts\nconst x: number = 1;\n```" },
        { role: "assistant", content: "Looks fine. Anything else? Need more?" },
        { role: "user", content: "make it faster" },
      ],
      promptTokens: 30,
    });
    expect(f.signals.code.flagged).toBe(true);
    expect(f.signals.multiStep.evidence).toEqual([]);
  });
});

describe("analyse — output estimate, hints, determinism", () => {
  it("uses max tokens when given, else estimates: chit-chat small, instructions larger, capped", () => {
    expect(analyse(ask("hi", { maxTokens: 300 }))).toMatchObject({
      expectedOutputTokens: 300,
      expectedOutputSource: "max_tokens",
    });
    const chat = analyse(ask("hi"));
    const code = analyse(ask(`${CODE[0]} Rewrite it step by step in detail.`));
    expect(chat.expectedOutputSource).toBe("estimate");
    expect(code.expectedOutputTokens).toBeGreaterThan(chat.expectedOutputTokens);
    expect(code.expectedOutputTokens).toBeLessThanOrEqual(MAX_ESTIMATED_OUTPUT_TOKENS);
    expect(analyse(ask("Write an essay about the sea.")).expectedOutputTokens).toBeGreaterThan(CHAT_OUTPUT_TOKENS);
  });

  it("a caller's quality hint overrides the analysed need", () => {
    const code = CODE[0]!;
    expect(analyse(ask(code, { qualityHint: "low" }))).toMatchObject({ qualityNeed: 0, qualityNeedSource: "hint" });
    expect(analyse(ask("hi", { qualityHint: "high" })).qualityNeed).toBe(1);
    expect(analyse(ask("hi", { qualityHint: 0.7 })).qualityNeed).toBe(0.7);
    expect(analyse(ask("hi", { qualityHint: 7 })).qualityNeed).toBe(1);
    const f = analyse(ask(code));
    expect(f.qualityNeedSource).toBe("analysis");
    expect(f.qualityNeed).toBe(f.contentNeed);
  });

  it("keeps a positive SLA hint and drops nonsense", () => {
    expect(analyse(ask("hi", { slaMsHint: 1500 })).slaMsHint).toBe(1500);
    expect(analyse(ask("hi", { slaMsHint: -1 })).slaMsHint).toBeNull();
    expect(analyse(ask("hi")).slaMsHint).toBeNull();
  });

  it("is deterministic, and every score and the need stay in [0, 1]", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ role: fc.constantFrom("system", "user", "assistant"), content: fc.string() }), {
          maxLength: 4,
        }),
        fc.integer({ min: -10, max: 10_000 }),
        (messages, promptTokens) => {
          const r = { messages, promptTokens };
          const f = analyse(r);
          expect(analyse(structuredClone(r))).toEqual(f);
          for (const s of Object.values(f.signals)) expect(s.score).toBeGreaterThanOrEqual(0);
          for (const s of Object.values(f.signals)) expect(s.score).toBeLessThanOrEqual(1);
          expect(f.qualityNeed).toBeGreaterThanOrEqual(BASE_NEED);
          expect(f.qualityNeed).toBeLessThanOrEqual(1);
          expect(f.promptTokens).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
