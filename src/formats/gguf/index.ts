export { withFileType } from "./file-type.js";
export { metaBool, metaNumber, metaNumbers, metaString, metaStrings, requireNumber } from "./metadata.js";
export { GGUFError, type GGUFFile, type GGUFTensorInfo, parseGGUF, readGGUF } from "./reader.js";
export type { GGUFValue, TensorType } from "./types.js";
export { TENSOR_TYPES, tensorByteSize } from "./types.js";
export { encodeGGUF, type GGUFSpec, type GGUFTensorInput, writeGGUF } from "./writer.js";
