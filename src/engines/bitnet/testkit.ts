/** Test-only: the tiny BitNet shape the suites build synthetic models from (override what a test varies). */
import type { SyntheticBitNetSpec } from "./synthetic.js";

export const TINY_BITNET: SyntheticBitNetSpec = {
  layers: 2,
  embedding: 256,
  feedForward: 512,
  heads: 4,
  kvHeads: 2,
  vocab: 270,
  contextLength: 64,
  linearType: "TQ2_0",
  seed: 9,
};
