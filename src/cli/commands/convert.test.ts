import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { writeTinyCheckpoint } from "../../convert/testkit.js";
import { readGGUF } from "../../formats/gguf/index.js";
import { convertCommand } from "./convert.js";

const dir = mkdtempSync(join(tmpdir(), "tritgate-cli-convert-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  return { out, err };
}

describe("tritgate convert", () => {
  const ck = writeTinyCheckpoint(join(dir, "hf"), { layers: 1, seed: 3 });

  it("--from-hf writes a GGUF and prints a one-line summary", async () => {
    const { out } = capture();
    const file = join(dir, "model.gguf");
    expect(
      await convertCommand.run(["--from-hf", ck.dir, "--out", file, "--type", "I2_S", "--embedding-type", "F32"]),
    ).toBe(0);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^wrote .*model\.gguf: 13 tensors, [\d.]+ [kM]?B in → [\d.]+ [kM]?B out, [\d.]+ s$/);
    const gguf = await readGGUF(file);
    expect(gguf.tensors.find((t) => t.name === "blk.0.attn_q.weight")?.type).toBe("I2_S");
    expect(gguf.tensors.find((t) => t.name === "token_embd.weight")?.type).toBe("F32");
  });

  it("--from-gguf re-quantizes (TQ2_0 by default)", async () => {
    capture();
    const first = join(dir, "first.gguf");
    const second = join(dir, "second.gguf");
    expect(await convertCommand.run(["--from-hf", ck.dir, "--out", first, "--type", "I2_S"])).toBe(0);
    expect(await convertCommand.run(["--from-gguf", first, "--out", second])).toBe(0);
    const gguf = await readGGUF(second);
    expect(gguf.tensors.find((t) => t.name === "blk.0.ffn_down.weight")?.type).toBe("TQ2_0");
  });

  it("--rope-pairs-to-neox reorders attn_q/attn_k rows and keeps the rest", async () => {
    capture();
    const first = join(dir, "pairs.gguf");
    const second = join(dir, "neox.gguf");
    expect(await convertCommand.run(["--from-hf", ck.dir, "--out", first])).toBe(0);
    expect(await convertCommand.run(["--from-gguf", first, "--rope-pairs-to-neox", "--out", second])).toBe(0);
    const [before, after] = [await readGGUF(first), await readGGUF(second)];
    const bytes = (f: typeof before, name: string) => Buffer.from(f.tensorData(name));
    expect(bytes(after, "blk.0.attn_q.weight").equals(bytes(before, "blk.0.attn_q.weight"))).toBe(false);
    expect(bytes(after, "blk.0.attn_v.weight").equals(bytes(before, "blk.0.attn_v.weight"))).toBe(true);
  });

  it.each([
    [["--from-hf", "a", "--rope-pairs-to-neox", "--out", "b"], /--rope-pairs-to-neox needs --from-gguf/],
    [["--from-gguf", "a", "--rope-pairs-to-neox", "--to", "onnx", "--out", "b"], /no --to, --type or --kv-type/],
    [[], /exactly one of --from-hf and --from-gguf/],
    [["--from-hf", "a", "--from-gguf", "b", "--out", "c"], /exactly one of/],
    [["--from-hf", "a"], /--out is required/],
    [["--from-hf", "a", "--out", "b", "--type", "Q4_0"], /--type must be one of TQ2_0, TQ1_0, I2_S, got Q4_0/],
    [["--from-hf", "a", "--out", "b", "--embedding-type", "TQ2_0"], /--embedding-type must be one of F16, F32, Q8_0/],
    [["--from-gguf", "a", "--out", "b", "--embedding-type", "F16"], /applies to --from-hf only/],
    [["--bogus"], /Unknown option '--bogus'/],
  ])("usage error %j → exit 2", async (args, message) => {
    const { err } = capture();
    expect(await convertCommand.run(args)).toBe(2);
    expect(err.join("\n")).toMatch(message);
    expect(err.join("\n")).toContain("usage: tritgate convert");
  });

  it("a failed conversion exits 1 naming the file and leaves no partial output", async () => {
    const { err } = capture();
    const out = join(dir, "fail", "x.gguf");
    const missing = join(dir, "nowhere");
    expect(await convertCommand.run(["--from-hf", missing, "--out", join(dir, "x.gguf")])).toBe(1);
    expect(err[0]).toBe(`tritgate convert: ${join(missing, "config.json")}: not found`);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes(".partial-"))).toEqual([]);
  });

  it("--help prints usage", async () => {
    const { out } = capture();
    expect(await convertCommand.run(["--help"])).toBe(0);
    expect(out[0]).toContain("--from-gguf");
  });
});
