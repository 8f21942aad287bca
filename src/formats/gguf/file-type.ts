/**
 * `general.file_type`: llama.cpp's name for what most of a file's weight matrices are (its
 * `llama_ftype`). Without it llama.cpp guesses from the tensors and says so when it loads the
 * file; with a stale one (a re-packed file keeping its source's) it reports the wrong type.
 */
import type { TensorType } from "./types.js";
import type { GGUFSpec } from "./writer.js";

const KEY = "general.file_type";

/** llama_ftype values; I2_S has none in mainline llama.cpp, so such files carry no key. */
const FILE_TYPES: Partial<Record<TensorType, number>> = { F32: 0, F16: 1, Q8_0: 7, BF16: 32, TQ1_0: 36, TQ2_0: 37 };

/** The spec with `general.file_type` set from its matrices' most common type (replacing any). */
export function withFileType(spec: GGUFSpec): GGUFSpec {
  const counts = new Map<TensorType, number>();
  for (const t of spec.tensors) {
    if (t.dims.filter((d) => d > 1).length >= 2) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
  }
  let common: TensorType | undefined;
  for (const [type, n] of counts) if (common === undefined || n > (counts.get(common) ?? 0)) common = type;
  const fileType = common === undefined ? undefined : FILE_TYPES[common];
  const metadata = [...spec.metadata].filter(([key]) => key !== KEY);
  if (fileType !== undefined) metadata.push([KEY, { type: "u32", value: fileType }]);
  return { ...spec, metadata };
}
