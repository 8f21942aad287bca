// The nano training corpus: loading (from npm data packages), normalisation and the train/validation/test split.

export {
  ALL_SOURCES,
  CORPUS_PACKAGES,
  type CorpusSource,
  type Document,
  type LoadCorpusOptions,
  loadCorpus,
  resolvePackageDir,
} from "./load.js";
export { dropStageDirections, normalizeText } from "./normalize.js";
export {
  type CorpusSplit,
  DOCUMENT_SEPARATOR,
  SPLIT_NAMES,
  type SplitManifest,
  type SplitName,
  type SplitOptions,
  type SplitStats,
  splitCorpus,
  splitStats,
} from "./split.js";
