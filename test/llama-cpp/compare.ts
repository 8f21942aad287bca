/**
 * One BitNet GGUF in tritgate and in llama.cpp, step by step: both continue the same prompt
 * greedily, and each step records both engines' next-token log-probabilities, how far apart they
 * are, and how much tritgate's own int8 activations move them (against its float activations).
 */
import { type Isa, isTernary } from "../../kernels/index.js";
import { LINEAR_TENSOR } from "../../src/convert/index.js";
import { bitnetEngineFromFile } from "../../src/engines/bitnet/index.js";
import type { GGUFFile } from "../../src/formats/gguf/index.js";
import type { LlamaCpp } from "./llama.js";
import { argmax, denseLogProbs, logSoftmax, maxAbsDifference, topMargin } from "./models.js";

export interface Step {
  readonly ours: number;
  readonly theirs: number;
  /** largest |log p_tritgate − log p_llama.cpp| over the vocabulary */
  readonly difference: number;
  /** largest |log p_int8 − log p_float| of tritgate's own two activation modes */
  readonly quantization: number;
  /** llama.cpp's lead of its top token over the next, in log-probability */
  readonly margin: number;
}

/** What sets how far apart the engines may be (see forward.test.ts for the reasoning). */
export interface BoundFactors {
  /**
   * some tensor is F16 (llama.cpp rounds an F16 matmul's input to F16) or Q8_0 (both engines
   * quantize its input per 32 values, but llama.cpp rounds each block's scale to F16)
   */
  readonly f16: boolean;
  /** some ternary matmul takes an input longer than one Q8_K block (256) */
  readonly blockwise: boolean;
}

/** log-probability distance both engines' arithmetic explains at a step */
export function agreementBound(factors: BoundFactors, quantization: number): number {
  return (factors.f16 ? 4e-3 : 1e-4) + (factors.blockwise ? 2 * quantization : 0);
}

export function boundFactors(file: GGUFFile): BoundFactors {
  return {
    f16: file.tensors.some((t) => t.type === "F16" || t.type === "Q8_0"),
    blockwise: file.tensors.some((t) => LINEAR_TENSOR.test(t.name) && isTernary(t.type) && (t.dims[0] ?? 0) > 256),
  };
}

export async function compareGreedy(
  llama: LlamaCpp,
  file: GGUFFile,
  prompt: readonly number[],
  steps: number,
  options: { isa?: Isa } = {},
): Promise<Step[]> {
  const reference = await llama.greedy(file.path, prompt, steps);
  const int8 = bitnetEngineFromFile(file, { isa: options.isa });
  const float = bitnetEngineFromFile(file, { isa: options.isa, activations: "float" });
  const positions = prompt.length + steps + 1;
  const a = int8.newSession(positions);
  const b = float.newSession(positions);
  const out: Step[] = [];
  let input = [...prompt];
  try {
    for (let step = 0; step < reference.tokens.length; step++) {
      const got = logSoftmax(await a.append(input));
      const unquantized = logSoftmax(await b.append(input));
      const theirs = denseLogProbs(reference.logProbs[step] as Map<number, number>, int8.vocabSize);
      out.push({
        ours: argmax(got),
        theirs: reference.tokens[step] as number,
        difference: maxAbsDifference(got, theirs),
        quantization: maxAbsDifference(got, unquantized),
        margin: topMargin(theirs),
      });
      // each engine continues from its own choice; until they differ that is one sequence
      input = [out[step]?.ours as number];
    }
  } finally {
    a.close?.();
    b.close?.();
  }
  return out;
}
