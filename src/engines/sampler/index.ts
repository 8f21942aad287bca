/** Token sampling and stop strings, shared by the BitNet and ONNX engines. */

export {
  DEFAULT_PENALTY_WINDOW,
  MAX_LOGIT_BIAS,
  MAX_TOP_LOGPROBS,
  type SampledToken,
  type SamplingParams,
  type TokenLogprob,
  validateSamplingParams,
} from "./params.js";
export { Rng, randomSeed } from "./rng.js";
export { Sampler } from "./sampler.js";
export { StopMatcher, type StopPush } from "./stop.js";
