export {
  DTYPE_BYTES,
  FLOAT_DTYPES,
  type FloatDType,
  floatToBF16,
  isFloatDType,
  toFloat32,
} from "./dtypes.js";
export { openSafetensors, SafetensorsError, type SafetensorsFile, type SafetensorsTensorInfo } from "./reader.js";
export { encodeSafetensors, type SafetensorsTensorInput, writeSafetensors } from "./writer.js";
