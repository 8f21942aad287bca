/**
 * The synthetic BitNet models the benches measure: real shapes, random ternary weights, our GGUF
 * writer; written on demand into bench/.models (kept out of git) and reused by later runs. A file is
 * written under a `.partial` name and renamed when complete, so a run cut short never leaves a
 * truncated model behind.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { WeightType } from "../kernels/index.js";
import { type SyntheticBitNetSpec, syntheticBitNet } from "../src/engines/bitnet/index.js";
import { writeGGUF } from "../src/formats/gguf/index.js";

export interface Shape {
  readonly name: string;
  readonly spec: Omit<SyntheticBitNetSpec, "linearType" | "seed">;
}

export const SHAPES: readonly Shape[] = [
  {
    // microsoft/bitnet-b1.58-2B-4T
    name: "2B-4T",
    spec: { layers: 30, embedding: 2560, feedForward: 6912, heads: 20, kvHeads: 5, vocab: 128256, contextLength: 4096 },
  },
  {
    // 1bitLLM/bitnet_b1_58-large (~730M)
    name: "700M",
    spec: { layers: 24, embedding: 1536, feedForward: 4096, heads: 16, kvHeads: 16, vocab: 32002, contextLength: 2048 },
  },
];

export function shapeNamed(name: string): Shape {
  const shape = SHAPES.find((s) => s.name === name);
  if (!shape) throw new Error(`no synthetic shape ${name} (known: ${SHAPES.map((s) => s.name).join(", ")})`);
  return shape;
}

export const MODEL_DIR = join(import.meta.dirname, ".models");

/** The shape's synthetic model in `type` (seed 42), written first if it is not there yet. */
export async function ensureSyntheticModel(shape: Shape, type: WeightType): Promise<string> {
  const path = join(MODEL_DIR, `synthetic-${shape.name}-${type}.gguf`);
  if (existsSync(path)) return path;
  mkdirSync(MODEL_DIR, { recursive: true });
  process.stderr.write(`writing ${path} ... `);
  const t0 = performance.now();
  await writeGGUF(`${path}.partial`, syntheticBitNet({ ...shape.spec, linearType: type, seed: 42 }));
  renameSync(`${path}.partial`, path);
  process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return path;
}
