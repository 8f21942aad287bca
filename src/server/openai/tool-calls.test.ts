import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseToolCalls, type ToolCallEvent, ToolCallScanner } from "./tool-calls.js";

const ONE = '{"name": "wx", "arguments": {"city": "O\\"s{lo}", "n": [1, {"a": 2}]}}';
const MANY = '[{"name":"wx","arguments":{"city":"Lima"}},\n {"name":"now","arguments":{}}]';

function collect(events: readonly ToolCallEvent[]) {
  const calls: { name: string; arguments: string }[] = [];
  for (const e of events) {
    calls[e.index] ??= { name: "", arguments: "" };
    if (e.name !== undefined) calls[e.index]!.name = e.name;
    if (e.arguments !== undefined) calls[e.index]!.arguments += e.arguments;
  }
  return calls;
}

/** The text cut at the given points, as tokens would deliver it. */
function chunked(text: string, cuts: readonly number[]): string[] {
  const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const c of at) {
    out.push(text.slice(from, c));
    from = c;
  }
  out.push(text.slice(from));
  return out;
}

describe("tool-call scanning", () => {
  it("finds names and the arguments exactly as written, braces and quotes in strings included", () => {
    expect(parseToolCalls(ONE)).toEqual({
      calls: [{ name: "wx", arguments: '{"city": "O\\"s{lo}", "n": [1, {"a": 2}]}' }],
      closed: true,
    });
    expect(parseToolCalls(MANY)).toEqual({
      calls: [
        { name: "wx", arguments: '{"city":"Lima"}' },
        { name: "now", arguments: "{}" },
      ],
      closed: true,
    });
    expect(parseToolCalls("Hello there")).toBeNull();
    expect(parseToolCalls('{"name":"wx","arguments":{"ci')).toEqual({
      calls: [{ name: "wx", arguments: '{"ci' }],
      closed: false,
    });
  });

  it("streams the same calls however the text is chunked", () => {
    fc.assert(
      fc.property(fc.constantFrom(ONE, MANY), fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
        const scanner = new ToolCallScanner();
        const events = chunked(text, cuts).flatMap((piece) => scanner.push(piece));
        expect(collect(events)).toEqual(parseToolCalls(text)!.calls);
        expect(scanner.closed).toBe(true);
        // a call's name arrives before any of its arguments
        const firstArgs = events.findIndex((e) => e.arguments !== undefined && e.index === 0);
        const name = events.findIndex((e) => e.name !== undefined && e.index === 0);
        expect(name).toBeLessThan(firstArgs);
      }),
    );
  });
});
