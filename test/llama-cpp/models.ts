/** The synthetic BitNet files the cross-check runs in both engines, and the comparisons' arithmetic. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SyntheticBitNetSpec, syntheticBitNet } from "../../src/engines/bitnet/synthetic.js";
import { type GGUFSpec, type GGUFValue, metaString, readGGUF, writeGGUF } from "../../src/formats/gguf/index.js";

export function scratchDir(name: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tritgate-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A synthetic BitNet spec as llama.cpp runs it: architecture `bitnet` without a
 * `hidden_activation` key, so both engines take the SiLU feed-forward (llama.cpp has no ReLU²
 * for `bitnet`; tritgate defaults `bitnet` files without the key to SiLU, as llama.cpp does).
 */
export function llamaCompatible(spec: SyntheticBitNetSpec): GGUFSpec {
  const gguf = syntheticBitNet({ ...spec, architecture: "bitnet" });
  return { ...gguf, metadata: [...gguf.metadata].filter(([key]) => !key.endsWith(".hidden_activation")) };
}

export async function writeModel(dir: string, name: string, spec: SyntheticBitNetSpec): Promise<string> {
  const path = join(dir, `${name}.gguf`);
  await writeGGUF(path, llamaCompatible(spec));
  return path;
}

/** log-softmax: both engines' logits up to their (irrelevant) common offset. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] as number) - max);
  const lse = max + Math.log(sum);
  return Float64Array.from({ length: logits.length }, (_, i) => (logits[i] as number) - lse);
}

/** The first index of the largest value: llama.cpp's greedy sampler and ours break ties the same way. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

/** Distance between the best and second-best values. */
export function topMargin(values: ArrayLike<number>): number {
  let first = Number.NEGATIVE_INFINITY;
  let second = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v > first) {
      second = first;
      first = v;
    } else if (v > second) second = v;
  }
  return first - second;
}

/** llama.cpp's per-token probabilities as a dense log-probability vector. */
export function denseLogProbs(sparse: ReadonlyMap<number, number>, vocab: number): Float64Array {
  const out = new Float64Array(vocab).fill(Number.NEGATIVE_INFINITY);
  for (const [id, logProb] of sparse) out[id] = logProb;
  return out;
}

/**
 * A copy of a `bitnet-b1.58` / `bitnet-25` file (bitnet.cpp's names for the 2B-4T layout, which
 * mainline llama.cpp does not know) relabelled `bitnet`, so llama.cpp reads every other key.
 */
export async function relabelAsBitnet(path: string, out: string): Promise<void> {
  const file = await readGGUF(path);
  const arch = metaString(file, "general.architecture") ?? "";
  const metadata = [...file.metadata].map(([key, value]): [string, GGUFValue] => {
    if (key === "general.architecture") return [key, { type: "string", value: "bitnet" }];
    return [key.startsWith(`${arch}.`) ? `bitnet.${key.slice(arch.length + 1)}` : key, value];
  });
  const tensors = file.tensors.map((t) => ({
    name: t.name,
    type: t.type,
    dims: t.dims,
    data: file.tensorData(t.name),
  }));
  await writeGGUF(out, { metadata, tensors, alignment: file.alignment });
}
