/**
 * The nano parameters as one flat float32 buffer (the native trainer's layout, kernels/src/train.h)
 * and back: tensors in namedTensors order, each row-major.
 */
import { type NanoConfig, type NanoParams, namedTensors, zeroParams } from "./reference/model.js";

export function flattenParams(p: NanoParams): Float32Array {
  const tensors = namedTensors(p);
  const out = new Float32Array(tensors.reduce((n, t) => n + t.tensor.length, 0));
  let offset = 0;
  for (const t of tensors) {
    out.set(t.tensor, offset);
    offset += t.tensor.length;
  }
  return out;
}

export function unflattenParams(flat: Float32Array, c: NanoConfig): NanoParams {
  const p = zeroParams(c);
  let offset = 0;
  for (const t of namedTensors(p)) {
    if (offset + t.tensor.length > flat.length) throw new RangeError("the flat buffer is shorter than the model");
    for (let i = 0; i < t.tensor.length; i++) t.tensor[i] = flat[offset + i]!;
    offset += t.tensor.length;
  }
  if (offset !== flat.length) throw new RangeError(`the flat buffer has ${flat.length} values, the model ${offset}`);
  return p;
}

/** [offset, length] of every named tensor in the flat buffer. */
export function flatLayout(c: NanoConfig): { name: string; kind: string; offset: number; length: number }[] {
  let offset = 0;
  return namedTensors(zeroParams(c)).map((t) => {
    const entry = { name: t.name, kind: t.kind, offset, length: t.tensor.length };
    offset += t.tensor.length;
    return entry;
  });
}
