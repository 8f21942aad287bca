import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { classifyChunk, SseParser } from "./sse.js";

const chat = (delta: object, finish: string | null = null) =>
  JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] });
const completion = (text: string) => JSON.stringify({ object: "text_completion", choices: [{ index: 0, text }] });

const STREAM = [
  `data: ${chat({ role: "assistant", content: "", refusal: null })}\n\n`,
  `data: ${chat({ content: "Call" })}\n\n`,
  ": a comment\n\n",
  `data: ${chat({ content: " me" })}\n\n`,
  `data: ${chat({}, "stop")}\n\n`,
  "data: [DONE]\n\n",
].join("");

describe("SseParser", () => {
  it("yields each event's data once it is complete", () => {
    const parser = new SseParser();
    expect(parser.push('data: {"a":1}\n')).toEqual([]);
    expect(parser.push("\n")).toEqual(['{"a":1}']);
    expect(parser.push("data: x\r\n\r\ndata:y\n\n")).toEqual(["x", "y"]);
    expect(parser.push("data: one\ndata: two\n\n")).toEqual(["one\ntwo"]);
    expect(parser.push("event: ping\nid: 3\n\n")).toEqual([]);
  });

  it("yields the same events however the bytes are split", () => {
    const whole = new SseParser().push(STREAM);
    expect(whole).toHaveLength(5);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 20 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), STREAM.length];
        const parser = new SseParser();
        const events = points.slice(1).flatMap((end, i) => parser.push(STREAM.slice(points[i], end)));
        expect(events).toEqual(whole);
      }),
    );
  });
});

describe("classifyChunk", () => {
  it("counts generated text as content, not the role chunk, the finish chunk or usage", () => {
    const kinds = new SseParser().push(STREAM).map(classifyChunk);
    expect(kinds).toEqual(["empty", "content", "content", "empty", "done"]);
    expect(classifyChunk(JSON.stringify({ object: "chat.completion.chunk", choices: [], usage: {} }))).toBe("empty");
  });

  it("reads a completions stream's text", () => {
    expect(classifyChunk(completion(""))).toBe("empty");
    expect(classifyChunk(completion(" the"))).toBe("content");
  });

  it("tells an error event or unparsable data from a chunk", () => {
    expect(classifyChunk(JSON.stringify({ error: { message: "boom", type: "server_error" } }))).toBe("error");
    expect(classifyChunk("{not json")).toBe("error");
  });
});
