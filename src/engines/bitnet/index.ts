export { ContextOverflowError } from "../errors.js";
export { BITNET_ARCHITECTURES, type BitNetConfig, readBitNetConfig } from "./config.js";
export { loadTokenEmbedder, type TextEmbedder } from "./embed.js";
export {
  BitNetEngine,
  type BitNetEngineOptions,
  BitNetSession,
  bitnetEngineFromFile,
  ggufVocab,
  loadBitNetEngine,
} from "./engine.js";
export { type BatchStep, BitNetForward, type ForwardOptions } from "./forward.js";
export { KVCache } from "./kv-cache.js";
export { StepProfile } from "./profile.js";
export { type SyntheticBitNetSpec, syntheticBitNet } from "./synthetic.js";
export { type BitNetWeights, loadBitNetWeights } from "./weights.js";
