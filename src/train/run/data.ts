/**
 * Training data: a split's token ids (uint16 little-endian, as prepare-data writes them) and
 * the batches a run draws from them. Batch k of a run depends only on (seed, k), so a resumed
 * run sees exactly the batches an uninterrupted one would, and the fp32 and QAT runs of one
 * recipe see the same data in the same order.
 */
import { readFile } from "node:fs/promises";
import { seededRandom } from "../../util/seeded-random.js";

export async function readTokenFile(path: string, vocab: number): Promise<Uint16Array> {
  const bytes = await readFile(path);
  if (bytes.length % 2 !== 0)
    throw new RangeError(`${path}: ${bytes.length} bytes is not a whole number of uint16 ids`);
  const ids = new Uint16Array(bytes.length / 2);
  for (let i = 0; i < ids.length; i++) {
    const id = bytes.readUInt16LE(i * 2);
    if (id >= vocab) throw new RangeError(`${path}: id ${id} at ${i} is outside the vocabulary of ${vocab}`);
    ids[i] = id;
  }
  return ids;
}

/** `batch` windows of `sequence + 1` ids at positions drawn from (seed, index). */
export function batchAt(ids: Uint16Array, batch: number, sequence: number, seed: number, index: number): Int32Array {
  const span = ids.length - (sequence + 1);
  if (span < 0) throw new RangeError(`the split has ${ids.length} tokens, fewer than one sequence of ${sequence + 1}`);
  const random = seededRandom((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0);
  const out = new Int32Array(batch * (sequence + 1));
  for (let b = 0; b < batch; b++) {
    const start = Math.floor(random() * (span + 1));
    for (let i = 0; i <= sequence; i++) out[b * (sequence + 1) + i] = ids[start + i]!;
  }
  return out;
}

/** Consecutive non-overlapping windows from the start of a split: the fixed evaluation batches. */
export function evaluationBatch(
  ids: Uint16Array,
  batch: number,
  sequence: number,
  index: number,
): Int32Array | undefined {
  const out = new Int32Array(batch * (sequence + 1));
  for (let b = 0; b < batch; b++) {
    const start = (index * batch + b) * (sequence + 1);
    if (start + sequence + 1 > ids.length) return undefined;
    for (let i = 0; i <= sequence; i++) out[b * (sequence + 1) + i] = ids[start + i]!;
  }
  return out;
}
