/**
 * A model file that loads but cannot generate: a copy of a GGUF with one F32 tensor (by default the
 * final norm's weights) set to NaN, as a broken conversion or a bit-rotted download could leave it.
 * Every forward pass then ends in NaN logits and the sampler refuses them: an engine fault on each
 * request, while the header, the tokenizer and every shape check still pass at load.
 */
import { closeSync, copyFileSync, openSync, readFileSync, writeSync } from "node:fs";
import { parseGGUF } from "../../src/formats/gguf/index.js";

export function writeNanModel(source: string, target: string, tensor = "output_norm.weight"): void {
  const bytes = readFileSync(source);
  const file = parseGGUF(bytes, source);
  const info = file.tensors.find((t) => t.name === tensor);
  if (info?.type !== "F32") throw new Error(`${source}: no F32 tensor ${tensor}`);
  const view = file.tensorData(tensor);
  const nan = new Float32Array(info.byteSize / 4).fill(Number.NaN);
  copyFileSync(source, target);
  const fd = openSync(target, "r+");
  try {
    writeSync(fd, new Uint8Array(nan.buffer), 0, info.byteSize, view.byteOffset);
  } finally {
    closeSync(fd);
  }
}
