/**
 * The ceiling bench:concurrency prints beside the 2B-4T-shaped model's aggregate: what the
 * machine's int8 multiply-add roof and the output head's bytes allow a decode step of n sequences.
 *
 * A step of n sequences does n x (the linear layers' multiply-adds) on the int8 path, and reads the
 * tied F16 head (vocab x embedding x 2 bytes) once, whatever n (one M = n matmul). The head runs
 * after the last layer, so the two add:
 *
 *   stepSeconds(n)     >= n * linearMacsPerToken / int8MacsPerSecond + headBytes / readBytesPerSecond
 *   aggregateBound(n)   = n / stepSeconds(n)
 *
 * Left out, so a real step is slower: attention, norms and sampling; the head's own float
 * arithmetic; and the ternary weights' bytes (also read once per step), which bound small n. The
 * tighter variant with those bytes replaces the first term by
 * max(n * linearMacsPerToken / int8MacsPerSecond, ternaryBytes / readBytesPerSecond).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Shape } from "./synthetic.js";

const run = promisify(execFile);

export const BOUND_FORMULA =
  "aggregate(n) <= n / (n * linearMacsPerToken / int8MacsPerSecond + headBytes / readBytesPerSecond); headBytes = vocab * embedding * 2 (tied F16 head, read once per step)";
export const BOUND_WITH_WEIGHTS_FORMULA =
  "aggregate(n) <= n / (max(n * linearMacsPerToken / int8MacsPerSecond, ternaryBytes / readBytesPerSecond) + headBytes / readBytesPerSecond); ternaryBytes = linearMacsPerToken * 66 / 256 (TQ2_0)";

export interface ShapeCosts {
  /** multiply-adds of q, k, v, o, gate, up and down for one token, all layers */
  readonly linearMacsPerToken: number;
  /** the tied F16 head: vocab x embedding x 2 bytes */
  readonly headBytes: number;
  /** the linear weights as TQ2_0 (66 bytes per 256 weights) */
  readonly ternaryBytes: number;
}

export function shapeCosts(shape: Shape): ShapeCosts {
  const s = shape.spec;
  const headDim = s.embedding / s.heads;
  const q = s.heads * headDim;
  const kv = s.kvHeads * headDim;
  const linearMacsPerToken = s.layers * s.embedding * (2 * q + 2 * kv + 3 * s.feedForward);
  return {
    linearMacsPerToken,
    headBytes: s.vocab * s.embedding * 2,
    ternaryBytes: (linearMacsPerToken * 66) / 256,
  };
}

export interface Roof {
  readonly int8MacsPerSecond: number;
  readonly readBytesPerSecond: number;
}

/** The two bounds at n sequences per step, tokens/s. */
export function aggregateBounds(costs: ShapeCosts, roof: Roof, n: number): { bound: number; withWeights: number } {
  const compute = (n * costs.linearMacsPerToken) / roof.int8MacsPerSecond;
  const head = costs.headBytes / roof.readBytesPerSecond;
  const weights = costs.ternaryBytes / roof.readBytesPerSecond;
  return { bound: n / (compute + head), withWeights: n / (Math.max(compute, weights) + head) };
}

/**
 * The int8 roof of `cores` cores: bench/int8-peak.c (zmm vpdpbusd) compiled as its header says,
 * one copy per core run at once, their multiply-adds per second summed. Undefined when it cannot
 * be built or run here (no gcc, no AVX-512 VNNI).
 */
export async function measureInt8Peak(cores: number): Promise<number | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "tritgate-int8-peak-"));
  const binary = join(dir, "int8-peak");
  try {
    const source = join(import.meta.dirname, "int8-peak.c");
    await run("gcc", ["-O3", "-funroll-all-loops", "-mavx512f", "-mavx512bw", "-mavx512vnni", source, "-o", binary]);
    const outputs = await Promise.all(Array.from({ length: cores }, () => run(binary, [])));
    let total = 0;
    for (const { stdout } of outputs) {
      const { int8_gmacs_per_core: gmacs } = JSON.parse(stdout) as { int8_gmacs_per_core: number };
      total += gmacs * 1e9;
    }
    return total;
  } catch (e) {
    process.stderr.write(`int8 peak not measured: ${(e as Error).message.split("\n")[0]}\n`);
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
