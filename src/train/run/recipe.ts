/**
 * Training recipes: the model shape and every knob of a run, as data. A run's recipe is
 * written beside its checkpoints and into the model cards, so a run can be reproduced from it.
 */
import { z } from "zod";

export const RecipeSchema = z.strictObject({
  name: z.string().min(1),
  model: z.strictObject({
    layers: z.int().min(0),
    embedding: z.int().min(2),
    feedForward: z.int().min(1),
    heads: z.int().min(1),
    kvHeads: z.int().min(1),
    vocab: z.int().min(2),
    context: z.int().min(2),
    ropeBase: z.number().positive(),
    eps: z.number().positive(),
  }),
  seed: z.int().min(0),
  /** sequences per step and tokens per sequence (<= context) */
  batch: z.int().min(1),
  sequence: z.int().min(1),
  steps: z.int().min(1),
  warmupSteps: z.int().min(0),
  /** peak learning rates of the two modes (QAT wants a larger one) */
  peakLr: z.strictObject({ fp32: z.number().positive(), qat: z.number().positive() }),
  weightDecay: z.number().min(0),
  clip: z.number().min(0),
  initStd: z.number().positive(),
  evalEvery: z.int().min(1),
  evalBatches: z.int().min(1),
  checkpointEvery: z.int().min(1),
});
export type Recipe = z.infer<typeof RecipeSchema>;

const NANO_TOKENIZER_VOCAB = 4096;

/**
 * The committed nano family: 6 layers of width 256 (5.8M parameters, 4.7M of them in the
 * ternary linear layers), context 256, ~3.7M training tokens (1.4 passes over the train split).
 * Sized so one run takes ~40 minutes on one core of the reference machine, and the two modes run
 * side by side on its two cores.
 */
export const NANO: Recipe = {
  name: "nano",
  model: {
    layers: 6,
    embedding: 256,
    feedForward: 768,
    heads: 8,
    kvHeads: 4,
    vocab: NANO_TOKENIZER_VOCAB,
    context: 256,
    ropeBase: 10000,
    eps: 1e-5,
  },
  seed: 1,
  batch: 8,
  sequence: 256,
  steps: 1800,
  warmupSteps: 100,
  peakLr: { fp32: 2e-3, qat: 3e-3 },
  weightDecay: 0.1,
  clip: 1,
  initStd: 0.02,
  evalEvery: 150,
  evalBatches: 8,
  checkpointEvery: 150,
};

/**
 * A second, smaller size (a quarter of nano's linear weights: 2 layers, feed-forward 512), so the
 * QAT / fp32 gap can be shown as a trend across sizes. Width stays 256, which TQ2_0 needs.
 */
export const MICRO: Recipe = {
  ...NANO,
  name: "micro",
  model: { ...NANO.model, layers: 2, feedForward: 512 },
};

/** Seconds-long runs for tests: one block, but as wide as TQ2_0's 256-value blocks need. */
export const TINY: Recipe = {
  ...NANO,
  name: "tiny",
  model: { ...NANO.model, layers: 1, embedding: 256, feedForward: 256, heads: 4, kvHeads: 2, context: 32 },
  batch: 4,
  sequence: 32,
  steps: 40,
  warmupSteps: 4,
  peakLr: { fp32: 1e-2, qat: 1e-2 },
  evalEvery: 10,
  evalBatches: 2,
  checkpointEvery: 10,
};

export const RECIPES: Readonly<Record<string, Recipe>> = { nano: NANO, micro: MICRO, tiny: TINY };

export function parseRecipe(json: unknown): Recipe {
  const r = RecipeSchema.parse(json);
  if (r.sequence > r.model.context)
    throw new RangeError(`sequence ${r.sequence} is longer than the context ${r.model.context}`);
  return r;
}
