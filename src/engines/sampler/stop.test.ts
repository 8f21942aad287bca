import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StopMatcher } from "./stop.js";

/** Feeds the chunks and returns everything the client would see, plus the stop that fired. */
function stream(stops: readonly string[], chunks: readonly string[]): { text: string; stop?: string } {
  const m = new StopMatcher(stops);
  let text = "";
  for (const chunk of chunks) {
    const r = m.push(chunk);
    text += r.emit;
    if (r.stopped) return { text, stop: r.stop };
  }
  return { text: text + m.flush() };
}

/** What streaming must amount to: the text before the stop that completes first (the longer one on a tie). */
function reference(stops: readonly string[], full: string): { text: string; stop?: string } {
  let best: { start: number; end: number; stop: string } | undefined;
  for (const s of stops) {
    if (s === "") continue;
    const start = full.indexOf(s);
    if (start < 0) continue;
    const end = start + s.length;
    if (!best || end < best.end || (end === best.end && start < best.start)) best = { start, end, stop: s };
  }
  return best ? { text: full.slice(0, best.start), stop: best.stop } : { text: full };
}

describe("StopMatcher", () => {
  it("passes text straight through when there are no stop strings", () => {
    const m = new StopMatcher([]);
    expect(m.push("hello <")).toEqual({ emit: "hello <", stopped: false });
    expect(m.flush()).toBe("");
  });

  it("holds back a possible stop prefix and releases it when the stop does not follow", () => {
    const m = new StopMatcher(["</s>"]);
    expect(m.push("a <")).toEqual({ emit: "a ", stopped: false });
    expect(m.push("/")).toEqual({ emit: "", stopped: false });
    expect(m.push("b")).toEqual({ emit: "</b", stopped: false });
    expect(m.push("c <")).toEqual({ emit: "c ", stopped: false });
    expect(m.flush()).toBe("<");
    expect(m.flush()).toBe("");
  });

  it("catches a stop string split across chunks and drops everything after it", () => {
    const m = new StopMatcher(["</s>"]);
    expect(m.push("Hello <")).toEqual({ emit: "Hello ", stopped: false });
    expect(m.push("/s")).toEqual({ emit: "", stopped: false });
    expect(m.push("> and more")).toEqual({ emit: "", stopped: true, stop: "</s>" });
    expect(m.push("later")).toEqual({ emit: "", stopped: true, stop: "</s>" });
    expect(m.flush()).toBe("");
  });

  it("stops on a stop at the very start", () => {
    const m = new StopMatcher(["STOP"]);
    expect(m.push("STOP right there")).toEqual({ emit: "", stopped: true, stop: "STOP" });
    expect(stream(["\n"], ["\n", "x"])).toEqual({ text: "", stop: "\n" });
  });

  it("with overlapping stops 'ab' and 'abc', stops at 'ab' as soon as it completes", () => {
    expect(stream(["abc", "ab"], ["xa", "bc"])).toEqual({ text: "x", stop: "ab" });
    expect(stream(["abc", "ab"], ["xabc"])).toEqual({ text: "x", stop: "ab" });
    // 'abc' and 'abd' share a prefix: hold 'ab' until the third character decides
    const m = new StopMatcher(["abc", "abd"]);
    expect(m.push("xab")).toEqual({ emit: "x", stopped: false });
    expect(m.push("d!")).toEqual({ emit: "", stopped: true, stop: "abd" });
  });

  it("with several stops, the one that completes first wins, whatever the chunking", () => {
    // 'b' completes before 'abc' even though 'abc' starts earlier
    expect(stream(["abc", "b"], ["xabc"])).toEqual({ text: "xa", stop: "b" });
    expect(stream(["abc", "b"], ["xa", "bc"])).toEqual({ text: "xa", stop: "b" });
    // both end together: the longer one, which starts earlier, wins
    expect(stream(["bc", "abc"], ["xabc"])).toEqual({ text: "x", stop: "abc" });
    expect(stream(["\n\n", "User:"], ["Hi", " there\n", "User:", " more"])).toEqual({
      text: "Hi there\n",
      stop: "User:",
    });
  });

  it("ignores empty stop strings", () => {
    expect(stream(["", "z"], ["abc"])).toEqual({ text: "abc" });
  });

  it("agrees with the whole-text reference for any text, stops and chunking", () => {
    const alphabet = fc.constantFrom("a", "b", "c", "<", "/");
    const text = fc.array(alphabet, { maxLength: 40 }).map((a) => a.join(""));
    const stops = fc.array(
      fc.array(alphabet, { minLength: 1, maxLength: 4 }).map((a) => a.join("")),
      { maxLength: 4 },
    );
    fc.assert(
      fc.property(text, stops, fc.array(fc.nat({ max: 40 }), { maxLength: 10 }), (full, ss, cuts) => {
        const points = [...new Set(cuts.map((c) => Math.min(c, full.length)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let at = 0;
        for (const p of [...points, full.length]) {
          chunks.push(full.slice(at, p));
          at = p;
        }
        expect(stream(ss, chunks)).toEqual(reference(ss, full));
      }),
      { numRuns: 2000 },
    );
  });
});
