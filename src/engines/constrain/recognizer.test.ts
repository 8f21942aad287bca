import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ANY } from "./grammar.js";
import { advance, advanceBytes, initialState, isAccepting, isClosed, type RecognizerState } from "./recognizer.js";
import { compileConstraint } from "./spec.js";

const utf8 = (s: string) => new TextEncoder().encode(s);
const start = (root = ANY) => initialState(root);

/** Bytes fed one at a time: the state after each prefix, null once rejected. */
function prefixes(text: string, root = ANY): (RecognizerState | null)[] {
  const out: (RecognizerState | null)[] = [];
  let s: RecognizerState | null = start(root);
  for (const b of utf8(text)) {
    s = s === null ? null : advance(s, b);
    out.push(s);
  }
  return out;
}

const accepts = (text: string, root = ANY) => {
  const s = advanceBytes(start(root), utf8(text));
  return s !== null && isAccepting(s);
};

const json = fc.jsonValue({ maxDepth: 5 });

describe("the JSON recognizer", () => {
  it("accepts every prefix of valid JSON, compact or indented, and the whole as complete", () => {
    fc.assert(
      fc.property(json, fc.boolean(), (value, pretty) => {
        const text = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
        const states = prefixes(text);
        expect(states.every((s) => s !== null)).toBe(true);
        expect(isAccepting(states.at(-1)!)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it("never accepts as complete a text JSON.parse rejects (mutated valid JSON)", () => {
    const alphabet = fc.constantFrom(...'{}[]:," \n\t\\-+.0123456789eEtruefalsnu\u00e9x');
    fc.assert(
      fc.property(json, fc.nat(), fc.nat(3), fc.array(alphabet, { maxLength: 3 }), (value, at, drop, insert) => {
        const text = JSON.stringify(value);
        const i = at % (text.length + 1);
        const mutated = text.slice(0, i) + insert.join("") + text.slice(i + drop);
        if (accepts(mutated)) expect(() => JSON.parse(mutated)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['{"a" 1}', 4],
    ['{"a" :1}', 4],
    ["[1 ,2]", 3],
    ["[1,]", 3],
    ["01", 1],
    ["1.", null],
    ["-", null],
    ["1e", null],
    ["tru e", 3],
    ["{,", 1],
    ['"\\x"', 2],
    ['"\\u12G4"', 5],
    ['"a\u0001"', 2],
    ['"a\nb"', 2],
    ["{}  ", 2],
    [" 1", 0],
    ["{   }", 2],
    ['{"a":1}x', 7],
    ["[\t1]", 1],
  ])("rejects %j at byte %s", (text, at) => {
    const states = prefixes(text);
    if (at === null) {
      expect(states.every((s) => s !== null)).toBe(true);
      expect(isAccepting(states.at(-1)!)).toBe(false);
    } else {
      expect(states.slice(0, at).every((s) => s !== null)).toBe(true);
      expect(states[at]).toBeNull();
    }
  });

  it("checks UTF-8 byte by byte: partial characters continue, overlongs, surrogates and stray bytes do not", () => {
    const open = advance(start(), 0x22)!;
    const feed = (...bytes: number[]) => advanceBytes(open, Uint8Array.from(bytes));
    expect(feed(0xe6)).not.toBeNull(); // first byte of 日
    expect(feed(0xe6, 0x97)).not.toBeNull();
    expect(feed(0xe6, 0x97, 0xa5, 0x22)).not.toBeNull();
    expect(isClosed(feed(0xe6, 0x97, 0xa5, 0x22)!)).toBe(true);
    expect(feed(0xe6, 0x22)).toBeNull(); // the quote cannot end a character
    expect(feed(0xc0, 0x80)).toBeNull(); // overlong
    expect(feed(0xed, 0xa0, 0x80)).toBeNull(); // UTF-16 surrogate
    expect(feed(0x80)).toBeNull(); // continuation without lead
    expect(feed(0xf5)).toBeNull();
    expect(feed(0xf0, 0x9f, 0x98, 0x80, 0x22)).not.toBeNull(); // 😀
  });

  it("bounds whitespace: one space, or a newline and at most 4 indent characters per level (20 in all)", () => {
    expect(accepts('{ "a": 1 }')).toBe(true);
    expect(accepts(`{\n${" ".repeat(4)}"a": 1}`)).toBe(true);
    expect(accepts(`{\n${" ".repeat(5)}"a": 1}`)).toBe(false);
    const deep = (indent: number) => `${"[".repeat(6)}\n${" ".repeat(indent)}1${"]".repeat(6)}`;
    expect(accepts(deep(20))).toBe(true);
    expect(accepts(deep(21))).toBe(false);
    expect(accepts('{"a":  1}')).toBe(false);
    expect(accepts('{"a":\n\n1}')).toBe(false);
  });

  it("a top-level number stays open: complete, yet more digits may follow", () => {
    const s = advanceBytes(start(), utf8("12"))!;
    expect(isAccepting(s)).toBe(true);
    expect(isClosed(s)).toBe(false);
    expect(isClosed(advanceBytes(start(), utf8("[12]"))!)).toBe(true);
  });
});

describe("tool-call grammars", () => {
  const weather = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
  const spec = (parallel: boolean, orText: boolean) =>
    compileConstraint({
      kind: "tool_call",
      parallel,
      orText,
      functions: [
        { name: "get_weather", parameters: weather, strict: false, path: "tools[0].function.parameters" },
        { name: "now", strict: false, path: "tools[1].function.parameters" },
      ],
    });

  it("accepts a call of a given function with its arguments, nothing else", () => {
    const g = spec(false, false);
    expect(accepts('{"name": "get_weather", "arguments": {"city": "Oslo"}}', g)).toBe(true);
    expect(accepts('{"name":"now","arguments":{}}', g)).toBe(true);
    expect(accepts('{"name":"now","arguments":{"x":1}}', g)).toBe(false);
    expect(accepts('{"name":"get_weather","arguments":{}}', g)).toBe(false);
    expect(accepts('{"name":"other","arguments":{}}', g)).toBe(false);
    expect(accepts('[{"name":"now","arguments":{}}]', g)).toBe(false);
    expect(accepts("hello", g)).toBe(false);
  });

  it("parallel allows an array of calls; orText allows text that does not open with { or [", () => {
    expect(accepts('[{"name":"now","arguments":{}},{"name":"now","arguments":{}}]', spec(true, false))).toBe(true);
    expect(accepts("[]", spec(true, false))).toBe(false);
    expect(accepts("It is sunny.", spec(false, true))).toBe(true);
    expect(accepts("{oops", spec(false, true))).toBe(false);
  });
});
