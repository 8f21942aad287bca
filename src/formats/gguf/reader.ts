/**
 * GGUF v2/v3 reader. The header (metadata and tensor infos) is parsed from the start of the
 * file; the tensor data section is read once into a single buffer and every tensor is a view
 * into it, so packed ternary weights are never copied or widened.
 */

import { open } from "node:fs/promises";
import { FileError } from "../../util/file-error.js";
import {
  type BigIntType,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  type GGUFValue,
  type NumberType,
  type TensorType,
  tensorByteSize,
  tensorTypeById,
  VALUE_TYPE_IDS,
} from "./types.js";

export class GGUFError extends FileError {}

export interface GGUFTensorInfo {
  readonly name: string;
  readonly type: TensorType;
  /** fastest-varying first, as GGUF stores them (a matrix is [cols, rows]) */
  readonly dims: readonly number[];
  /** offset inside the data section */
  readonly offset: number;
  readonly byteSize: number;
}

export interface GGUFFile {
  readonly path: string;
  readonly version: number;
  readonly alignment: number;
  readonly metadata: ReadonlyMap<string, GGUFValue>;
  readonly tensors: readonly GGUFTensorInfo[];
  /** The tensor's bytes as a view into the data section (throws for unknown names). */
  tensorData(name: string): Uint8Array;
}

/** Thrown inside the parser when the header runs past the bytes read so far. */
class NeedMoreBytes extends Error {}

const VALUE_TYPE_NAMES = new Map<number, keyof typeof VALUE_TYPE_IDS>(
  Object.entries(VALUE_TYPE_IDS).map(([name, id]) => [id, name as keyof typeof VALUE_TYPE_IDS]),
);

/** A cursor over the header bytes; every read checks bounds. */
class HeaderCursor {
  private readonly view: DataView;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  pos = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly complete: boolean,
    private readonly fail: (problem: string) => never,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): number {
    if (this.pos + n > this.bytes.byteLength) {
      if (this.complete) this.fail(`truncated header: needed ${n} bytes at offset ${this.pos}`);
      throw new NeedMoreBytes();
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }

  /** u64 as a number; lengths and offsets beyond 2^53 are corrupt for our purposes. */
  size(what: string): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} is implausibly large (${v})`);
    return Number(v);
  }

  string(what: string): string {
    const length = this.size(`length of ${what}`);
    const at = this.need(length);
    try {
      return this.decoder.decode(this.bytes.subarray(at, at + length));
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  number(type: NumberType): number {
    switch (type) {
      case "u8":
        return this.view.getUint8(this.need(1));
      case "i8":
        return this.view.getInt8(this.need(1));
      case "u16":
        return this.view.getUint16(this.need(2), true);
      case "i16":
        return this.view.getInt16(this.need(2), true);
      case "u32":
        return this.view.getUint32(this.need(4), true);
      case "i32":
        return this.view.getInt32(this.need(4), true);
      case "f32":
        return this.view.getFloat32(this.need(4), true);
      case "f64":
        return this.view.getFloat64(this.need(8), true);
    }
  }

  bigint(type: BigIntType): bigint {
    const at = this.need(8);
    return type === "u64" ? this.view.getBigUint64(at, true) : this.view.getBigInt64(at, true);
  }

  bool(what: string): boolean {
    const b = this.view.getUint8(this.need(1));
    if (b > 1) this.fail(`${what} is a bool with value ${b}`);
    return b === 1;
  }
}

function isNumberType(t: string): t is NumberType {
  return t !== "u64" && t !== "i64" && t !== "bool" && t !== "string" && t !== "array";
}

function readValue(c: HeaderCursor, typeId: number, key: string, fail: (p: string) => never): GGUFValue {
  const type = VALUE_TYPE_NAMES.get(typeId);
  if (type === undefined) return fail(`metadata ${key} has unknown value type ${typeId}`);
  if (type === "string") return { type, value: c.string(`metadata ${key}`) };
  if (type === "bool") return { type, value: c.bool(`metadata ${key}`) };
  if (type === "u64" || type === "i64") return { type, value: c.bigint(type) };
  if (type !== "array") return { type, value: c.number(type) };

  const itemId = c.u32();
  const count = c.size(`length of metadata ${key}`);
  const itemType = VALUE_TYPE_NAMES.get(itemId);
  if (itemType === undefined || itemType === "array") {
    return fail(`metadata ${key} is an array of ${itemType ?? `unknown type ${itemId}`}, which tritgate does not read`);
  }
  if (itemType === "string") {
    const value: string[] = [];
    for (let i = 0; i < count; i++) value.push(c.string(`metadata ${key}[${i}]`));
    return { type, itemType, value };
  }
  if (itemType === "bool") {
    const value: boolean[] = [];
    for (let i = 0; i < count; i++) value.push(c.bool(`metadata ${key}[${i}]`));
    return { type, itemType, value };
  }
  if (itemType === "u64" || itemType === "i64") {
    const value: bigint[] = [];
    for (let i = 0; i < count; i++) value.push(c.bigint(itemType));
    return { type, itemType, value };
  }
  if (!isNumberType(itemType)) return fail(`metadata ${key} has unsupported item type ${itemType}`);
  const value: number[] = new Array(count);
  for (let i = 0; i < count; i++) value[i] = c.number(itemType);
  return { type, itemType, value };
}

interface Header {
  version: number;
  alignment: number;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
  dataStart: number;
}

function parseHeader(bytes: Uint8Array, complete: boolean, file: string): Header {
  const fail = (problem: string): never => {
    throw new GGUFError(file, problem);
  };
  const c = new HeaderCursor(bytes, complete, fail);
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) fail("not a GGUF file (bad magic)");
  const version = c.u32();
  if (version !== 2 && version !== 3) fail(`GGUF version ${version} is not supported (2 and 3 are)`);
  const tensorCount = c.size("tensor count");
  const kvCount = c.size("metadata count");

  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string(`metadata key ${i}`);
    metadata.set(key, readValue(c, c.u32(), key, fail));
  }
  const alignValue = metadata.get("general.alignment");
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignValue !== undefined) {
    if (alignValue.type !== "u32" || alignValue.value === 0 || alignValue.value % 8 !== 0) {
      fail("general.alignment must be a u32 multiple of 8");
    }
    alignment = alignValue.value as number;
  }

  const tensors: GGUFTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string(`tensor ${i} name`);
    const nDims = c.u32();
    if (nDims < 1 || nDims > 4) fail(`tensor ${name} has ${nDims} dimensions`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.size(`tensor ${name} dimension ${d}`));
    const typeId = c.u32();
    const offset = c.size(`tensor ${name} offset`);
    const type = tensorTypeById(typeId);
    if (type === undefined) {
      fail(
        `tensor ${name} has ggml type ${typeId}, which tritgate cannot run (F32, F16, BF16, Q8_0, Q6_K, TQ1_0, TQ2_0, I2_S)`,
      );
      continue;
    }
    const byteSize = tensorByteSize(type, dims);
    if (typeof byteSize === "string") fail(`tensor ${name}: ${byteSize}`);
    if (offset % alignment !== 0)
      fail(`tensor ${name} starts at ${offset}, not a multiple of the alignment ${alignment}`);
    if (names.has(name)) fail(`tensor ${name} appears twice`);
    names.add(name);
    tensors.push({ name, type, dims, offset, byteSize: byteSize as number });
  }
  const dataStart = Math.ceil(c.pos / alignment) * alignment;
  return { version, alignment, metadata, tensors, dataStart };
}

function buildFile(path: string, header: Header, data: Uint8Array): GGUFFile {
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  for (const t of header.tensors) {
    if (t.offset + t.byteSize > data.byteLength) {
      throw new GGUFError(
        path,
        `truncated: tensor ${t.name} needs bytes ${t.offset}..${t.offset + t.byteSize} of the data section, which has ${data.byteLength}`,
      );
    }
  }
  return {
    path,
    version: header.version,
    alignment: header.alignment,
    metadata: header.metadata,
    tensors: header.tensors,
    tensorData(name: string): Uint8Array {
      const t = byName.get(name);
      if (t === undefined) throw new GGUFError(path, `has no tensor ${name}`);
      return data.subarray(t.offset, t.offset + t.byteSize);
    },
  };
}

/** Parses a whole GGUF image held in memory (tests, converters). */
export function parseGGUF(bytes: Uint8Array, path = "<memory>"): GGUFFile {
  const header = parseHeader(bytes, true, path);
  if (header.dataStart > bytes.byteLength && header.tensors.length > 0) {
    throw new GGUFError(path, "truncated: the file ends before its tensor data");
  }
  return buildFile(path, header, bytes.subarray(Math.min(header.dataStart, bytes.byteLength)));
}

/** Reads a GGUF file: the header, then the data section in one buffer (tensors are views). */
export async function readGGUF(path: string): Promise<GGUFFile> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (e) {
    throw new GGUFError(path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const fileSize = (await handle.stat()).size;
    let header: Header | undefined;
    for (let prefix = Math.min(fileSize, 1 << 20); header === undefined; prefix = Math.min(fileSize, prefix * 4)) {
      const head = new Uint8Array(prefix);
      await readFully(handle, head, 0);
      try {
        header = parseHeader(head, prefix === fileSize, path);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
      }
    }
    const dataBytes = Math.max(0, fileSize - header.dataStart);
    // a fresh ArrayBuffer starts 64-byte aligned, and tensor offsets are multiples of the
    // alignment, so float views over tensors are aligned too
    const data = new Uint8Array(dataBytes);
    await readFully(handle, data, header.dataStart);
    return buildFile(path, header, data);
  } finally {
    await handle.close();
  }
}

async function readFully(handle: Awaited<ReturnType<typeof open>>, into: Uint8Array, position: number): Promise<void> {
  const chunk = 1 << 30;
  for (let done = 0; done < into.byteLength; ) {
    const { bytesRead } = await handle.read(into, done, Math.min(chunk, into.byteLength - done), position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
}
