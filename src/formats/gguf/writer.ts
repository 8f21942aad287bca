/**
 * GGUF v3 writer, used by the converter, the trainer's export and tests. Tensor data may be
 * given lazily so multi-gigabyte synthetic models are produced one tensor at a time.
 */
import { open } from "node:fs/promises";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  type GGUFValue,
  type ScalarType,
  TENSOR_TYPES,
  type TensorType,
  tensorByteSize,
  VALUE_TYPE_IDS,
} from "./types.js";

export interface GGUFTensorInput {
  readonly name: string;
  readonly type: TensorType;
  /** fastest-varying first (a matrix of `rows` x `cols` is [cols, rows]) */
  readonly dims: readonly number[];
  readonly data: Uint8Array | (() => Uint8Array);
}

export interface GGUFSpec {
  readonly metadata: Iterable<readonly [string, GGUFValue]>;
  readonly tensors: readonly GGUFTensorInput[];
  readonly alignment?: number;
}

/** Grows as header fields are appended. */
class HeaderBuilder {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  private readonly encoder = new TextEncoder();
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.byteLength) {
      const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  // reserve() may replace buf and view, so it runs before either is read

  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }

  u64(v: number | bigint): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }

  string(s: string): void {
    const bytes = this.encoder.encode(s);
    this.u64(bytes.byteLength);
    const at = this.reserve(bytes.byteLength);
    this.buf.set(bytes, at);
  }

  scalar(type: ScalarType, v: number | bigint | boolean | string): void {
    if (type === "string") {
      this.string(v as string);
      return;
    }
    if (type === "bool") {
      this.scalar("u8", v ? 1 : 0);
      return;
    }
    const size = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, f64: 8, u64: 8, i64: 8 }[type];
    const at = this.reserve(size);
    const n = v as number;
    if (type === "u8") this.view.setUint8(at, n);
    else if (type === "i8") this.view.setInt8(at, n);
    else if (type === "u16") this.view.setUint16(at, n, true);
    else if (type === "i16") this.view.setInt16(at, n, true);
    else if (type === "u32") this.view.setUint32(at, n, true);
    else if (type === "i32") this.view.setInt32(at, n, true);
    else if (type === "f32") this.view.setFloat32(at, n, true);
    else if (type === "f64") this.view.setFloat64(at, n, true);
    else if (type === "u64") this.view.setBigUint64(at, BigInt(v as bigint), true);
    else this.view.setBigInt64(at, BigInt(v as bigint), true);
  }

  pad(alignment: number): void {
    this.reserve((alignment - (this.length % alignment)) % alignment);
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function encodeHeader(spec: GGUFSpec, alignment: number): { header: Uint8Array; offsets: number[]; sizes: number[] } {
  const metadata = [...spec.metadata];
  const declared = metadata.find(([key]) => key === "general.alignment")?.[1];
  if (declared !== undefined && declared.value !== alignment) {
    throw new Error(`general.alignment says ${String(declared.value)} but the writer was asked for ${alignment}`);
  }
  if (declared === undefined && alignment !== GGUF_DEFAULT_ALIGNMENT) {
    metadata.push(["general.alignment", { type: "u32", value: alignment }]);
  }
  const h = new HeaderBuilder();
  h.u32(GGUF_MAGIC);
  h.u32(3);
  h.u64(spec.tensors.length);
  h.u64(metadata.length);
  for (const [key, value] of metadata) {
    h.string(key);
    h.u32(VALUE_TYPE_IDS[value.type]);
    if (value.type === "array") {
      h.u32(VALUE_TYPE_IDS[value.itemType]);
      h.u64(value.value.length);
      for (const item of value.value) h.scalar(value.itemType, item);
    } else {
      h.scalar(value.type, value.value);
    }
  }
  const offsets: number[] = [];
  const sizes: number[] = [];
  let offset = 0;
  for (const t of spec.tensors) {
    const size = tensorByteSize(t.type, t.dims);
    if (typeof size === "string") throw new Error(`tensor ${t.name}: ${size}`);
    h.string(t.name);
    h.u32(t.dims.length);
    for (const d of t.dims) h.u64(d);
    h.u32(TENSOR_TYPES[t.type].id);
    h.u64(offset);
    offsets.push(offset);
    sizes.push(size);
    offset += Math.ceil(size / alignment) * alignment;
  }
  h.pad(alignment);
  return { header: h.bytes(), offsets, sizes };
}

function tensorBytes(t: GGUFTensorInput, size: number): Uint8Array {
  const data = typeof t.data === "function" ? t.data() : t.data;
  if (data.byteLength !== size) {
    throw new Error(
      `tensor ${t.name}: ${t.type} ${JSON.stringify(t.dims)} needs ${size} bytes, got ${data.byteLength}`,
    );
  }
  return data;
}

/** The whole file in memory (small models and tests). */
export function encodeGGUF(spec: GGUFSpec): Uint8Array {
  const alignment = spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const { header, offsets, sizes } = encodeHeader(spec, alignment);
  const last = spec.tensors.length - 1;
  const total = header.byteLength + (last >= 0 ? (offsets[last] ?? 0) + (sizes[last] ?? 0) : 0);
  const out = new Uint8Array(total);
  out.set(header);
  spec.tensors.forEach((t, i) => {
    out.set(tensorBytes(t, sizes[i] ?? 0), header.byteLength + (offsets[i] ?? 0));
  });
  return out;
}

/** Streams the file to disk, asking lazy tensors for their bytes one at a time. */
export async function writeGGUF(path: string, spec: GGUFSpec): Promise<void> {
  const alignment = spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const { header, offsets, sizes } = encodeHeader(spec, alignment);
  const handle = await open(path, "w");
  try {
    await handle.write(header, 0, header.byteLength, 0);
    for (const [i, t] of spec.tensors.entries()) {
      const data = tensorBytes(t, sizes[i] ?? 0);
      await handle.write(data, 0, data.byteLength, header.byteLength + (offsets[i] ?? 0));
    }
  } finally {
    await handle.close();
  }
}
