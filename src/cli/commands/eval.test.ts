import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { run } from "../main.js";

afterEach(() => vi.restoreAllMocks());

describe("tritgate eval", () => {
  it("resolves a variant and its family's reference through the config, and writes the result", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "tg-eval-")), "eval.json");
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => lines.push(line));
    vi.spyOn(console, "error").mockImplementation(() => {});
    // the validation split: a test-split run would rewrite the committed card
    const args = ["--variant", "nano-b158", "--split", "validation", "--max-tokens", String(2 * 257), "--threads", "1"];
    expect(await run(["eval", ...args, "--out", out])).toBe(0);
    const result = JSON.parse(readFileSync(out, "utf8")) as Record<string, number | string>;
    expect(result.model).toMatch(/models\/nano\/nano-b158\/model\.gguf$/);
    expect(result.reference).toMatch(/models\/nano\/nano-fp32\/model\.onnx$/);
    expect(result.tokens).toBe(2 * 256);
    // scored as the gateway serves the variant: the config's kvCacheType (f16 unless it says otherwise)
    expect(result.kvCacheType).toBe("f16");
    expect(result.quality).toBeCloseTo((result.referencePerplexity as number) / (result.perplexity as number), 10);
    expect(JSON.parse(lines.join("\n"))).toEqual(result);
  }, 120_000);

  it("the family's reference is its own reference: quality 1 and referencePerplexity = perplexity", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "tg-eval-")), "eval.json");
    vi.spyOn(console, "log").mockImplementation(() => {});
    vi.spyOn(console, "error").mockImplementation(() => {});
    const args = ["--variant", "nano-fp32", "--split", "validation", "--max-tokens", String(2 * 257), "--threads", "1"];
    expect(await run(["eval", ...args, "--out", out])).toBe(0);
    const result = JSON.parse(readFileSync(out, "utf8")) as Record<string, number>;
    expect(result.quality).toBe(1);
    expect(result.referencePerplexity).toBe(result.perplexity);
  }, 120_000);

  it("names what is wrong with its arguments", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await run(["eval"])).toBe(2);
    expect(await run(["eval", "--variant", "nano-b158", "--model", "x.gguf"])).toBe(2);
    expect(await run(["eval", "--variant", "no-such-variant"])).toBe(1);
    expect(await run(["eval", "--variant", "nano-b158", "--split", "train"])).toBe(2);
    expect(await run(["eval", "--variant", "nano-b158", "--kv-cache", "q8_0"])).toBe(2);
  });
});
