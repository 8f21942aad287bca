/** Writing the converted file: to a temporary name first, so a failed run leaves no half file. */
import { rename, rm, stat } from "node:fs/promises";
import { type GGUFSpec, withFileType, writeGGUF } from "../formats/gguf/index.js";

export interface ConvertSummary {
  readonly tensors: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly seconds: number;
}

/** Writes the GGUF beside `out` (naming its file type) and renames it into place; returns the file's size. */
export async function writeAtomically(out: string, spec: GGUFSpec): Promise<number> {
  const temporary = `${out}.partial-${process.pid}`;
  try {
    await writeGGUF(temporary, withFileType(spec));
    await rename(temporary, out);
  } catch (e) {
    await rm(temporary, { force: true });
    throw e;
  }
  return (await stat(out)).size;
}

function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function formatSummary(s: ConvertSummary, out: string): string {
  return `wrote ${out}: ${s.tensors} tensors, ${bytes(s.bytesIn)} in → ${bytes(s.bytesOut)} out, ${s.seconds.toFixed(1)} s`;
}
