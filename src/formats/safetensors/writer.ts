/** safetensors writer (tests and small exports): tensors are laid out in the order given. */
import { writeFileSync } from "node:fs";
import { DTYPE_BYTES } from "./dtypes.js";

export interface SafetensorsTensorInput {
  readonly name: string;
  readonly dtype: string;
  /** slowest-varying first */
  readonly shape: readonly number[];
  /** little-endian element bytes */
  readonly data: Uint8Array;
}

export function encodeSafetensors(
  tensors: readonly SafetensorsTensorInput[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const elementBytes = DTYPE_BYTES[t.dtype];
    const elements = t.shape.reduce((a, b) => a * b, 1);
    if (elementBytes === undefined) throw new Error(`tensor ${t.name}: unknown safetensors dtype ${t.dtype}`);
    if (elements * elementBytes !== t.data.byteLength) {
      throw new Error(`tensor ${t.name}: ${t.dtype} [${t.shape.join(", ")}] needs ${elements * elementBytes} bytes`);
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // pad the header with spaces so the data section starts 8-byte aligned, as the reference writer does
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsTensorInput[],
  metadata?: Readonly<Record<string, string>>,
): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}
