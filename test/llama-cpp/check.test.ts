/** `npm run check:llama-cpp -- FILE.gguf`: the verdicts it gives, on files built to earn each one. */
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { syntheticBitNet } from "../../src/engines/bitnet/synthetic.js";
import { writeGGUF } from "../../src/formats/gguf/index.js";
import { checkFile } from "./check.js";
import { main } from "./check-file.js";
import { llamaCppOnce } from "./llama.js";
import { scratchDir, writeModel } from "./models.js";

const SHAPE = { layers: 2, embedding: 256, feedForward: 256, heads: 4, kvHeads: 2, vocab: 270, contextLength: 256 };

const llamaCpp = llamaCppOnce();
const scratch = scratchDir("llama-check");
const at = (name: string) => join(scratch.dir, name);
afterAll(() => scratch.remove());

describe("checkFile", () => {
  test("a file both engines run alike agrees, and the command exits 0", async () => {
    const path = await writeModel(scratch.dir, "clean", { ...SHAPE, linearType: "TQ2_0", seed: 3 });
    const report = await checkFile(await llamaCpp(), path, { tokens: 8 });
    expect(report.llamaCppWarnings).toEqual([]);
    expect(report.tokenizerMismatches).toEqual([]);
    expect(report.steps).toHaveLength(8);
    expect(report.verdict).toBe("agree");
    const printed: string[] = [];
    expect(await main([path, "--tokens", "4"], (line) => printed.push(line))).toBe(0);
    expect(JSON.parse(printed.join("\n")).verdict).toBe("agree");
  });

  test("a bitnet file asking for ReLU², which llama.cpp runs as SiLU, disagrees and says why", async () => {
    const path = at("relu2.gguf");
    await writeGGUF(path, syntheticBitNet({ ...SHAPE, linearType: "TQ2_0", activation: "relu2", seed: 3 }));
    const report = await checkFile(await llamaCpp(), path, { tokens: 8 });
    expect(report.notes.join(" ")).toMatch(/relu2 feed-forward; llama.cpp's bitnet always runs SiLU/);
    expect(report.verdict).toBe("disagree");
    expect(await main([path, "--tokens", "4"], () => undefined)).toBe(1);
  });

  test("bitnet.cpp's architecture name and I2_S tensors: llama.cpp cannot load them, and the report says what to do", async () => {
    const b158 = at("b158.gguf");
    await writeGGUF(b158, syntheticBitNet({ ...SHAPE, linearType: "TQ2_0", architecture: "bitnet-b1.58", seed: 3 }));
    const named = await checkFile(await llamaCpp(), b158);
    expect(named.verdict).toBe("llama.cpp-cannot-load");
    expect(named.notes.join(" ")).toMatch(/no "bitnet-b1.58" architecture/);

    const i2s = await writeModel(scratch.dir, "i2s", { ...SHAPE, linearType: "I2_S", seed: 3 });
    const packed = await checkFile(await llamaCpp(), i2s);
    expect(packed.verdict).toBe("llama.cpp-cannot-load");
    expect(packed.notes.join(" ")).toMatch(/convert --from-gguf IN --out OUT --type TQ2_0/);
  });

  test("bad arguments print the usage", async () => {
    const printed: string[] = [];
    expect(await main([], (line) => printed.push(line))).toBe(2);
    expect(await main(["a.gguf", "--tokens", "zero"], (line) => printed.push(line))).toBe(2);
    expect(printed[0]).toMatch(/^usage: npm run check:llama-cpp/);
  });
});
