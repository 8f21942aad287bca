import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { syntheticBitNet } from "../../engines/bitnet/index.js";
import { TINY_BITNET } from "../../engines/bitnet/testkit.js";
import { tinyDecoder, writeModelDir } from "../../engines/onnx/testkit.js";
import { writeGGUF } from "../../formats/gguf/index.js";
import { run } from "../main.js";

describe("tritgate generate", () => {
  afterEach(() => vi.restoreAllMocks());

  async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => {
      err += `${parts.join(" ")}\n`;
    });
    const code = await run(args);
    return { code, out, err };
  }

  it("streams text and reports prompt and decode speed", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "tg-cli-")), "tiny.gguf");
    await writeGGUF(path, syntheticBitNet(TINY_BITNET));
    const args = ["generate", "--model", path, "--prompt", "Once", "--max-tokens", "6", "--seed", "3", "--ignore-eos"];
    const first = await cli(args);
    expect(first.code).toBe(0);
    expect(first.out.startsWith("Once")).toBe(true);
    expect(first.err).toMatch(
      /\[bitnet\] load \d+ ms \| prompt \d+ tokens, [\d.]+ tok\/s \| generated 6 tokens, [\d.]+ tok\/s/,
    );
    vi.restoreAllMocks();
    const again = await cli(args);
    expect(again.out).toBe(first.out);
  });

  it("runs an ONNX decoder with the same command", async () => {
    const path = writeModelDir(join(mkdtempSync(join(tmpdir(), "tg-cli-onnx-")), "m"), tinyDecoder().bytes);
    const args = ["generate", "--model", path, "--prompt", "ab", "--max-tokens", "5", "--seed", "1", "--ignore-eos"];
    const first = await cli(args);
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/\[onnx\] load \d+ ms \| prompt \d+ tokens, [\d.]+ tok\/s \| generated 5 tokens/);
    vi.restoreAllMocks();
    expect((await cli(args)).out).toBe(first.out);
  });

  it("bad arguments and missing files are clear errors with non-zero exit codes", async () => {
    expect((await cli(["generate", "--prompt", "x"])).code).toBe(2);
    vi.restoreAllMocks();
    const missing = await cli(["generate", "--model", "/nope/m.gguf", "--prompt", "x"]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/m\.gguf: cannot open: ENOENT/);
    vi.restoreAllMocks();
    expect((await cli(["generate", "--model", "x.bin", "--prompt", "x"])).err).toMatch(/unknown model format/);
  });
});
