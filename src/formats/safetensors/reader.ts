/**
 * safetensors reader: an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {…} }`, then the data
 * section the offsets point into. Only the header is read up front; tensors are read one at a
 * time with positional reads, so a multi-gigabyte checkpoint never sits in memory whole.
 * Reads are synchronous because the GGUF writer asks for lazy tensor data synchronously.
 */

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { FileError } from "../../util/file-error.js";
import { DTYPE_BYTES, FLOAT_DTYPES, isFloatDType, toFloat32 } from "./dtypes.js";

export class SafetensorsError extends FileError {}

export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: string;
  /** slowest-varying first, as PyTorch writes it (a rows x cols matrix is [rows, cols]) */
  readonly shape: readonly number[];
  /** absolute byte range in the file */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsFile {
  readonly path: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly SafetensorsTensorInfo[];
  has(name: string): boolean;
  info(name: string): SafetensorsTensorInfo;
  /** The tensor's raw little-endian bytes (a fresh, aligned buffer). */
  readBytes(name: string): Uint8Array;
  /** An F32, F16 or BF16 tensor as fp32; other dtypes throw naming the tensor and dtype. */
  readFloat32(name: string): Float32Array;
  close(): void;
}

/** The spec caps the header at 100 MB; anything larger is corrupt. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function readExactly(fd: number, into: Uint8Array, position: number, fail: (p: string) => never): void {
  for (let done = 0; done < into.byteLength; ) {
    const n = readSync(fd, into, done, into.byteLength - done, position + done);
    if (n === 0) fail(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function parseHeader(
  json: unknown,
  dataStart: number,
  dataBytes: number,
  fail: (p: string) => never,
): { metadata: Record<string, string>; tensors: SafetensorsTensorInfo[] } {
  if (typeof json !== "object" || json === null || Array.isArray(json)) fail("header is not a JSON object");
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null) fail("__metadata__ is not an object");
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v === "string") metadata[k] = v;
      }
      continue;
    }
    if (typeof entry !== "object" || entry === null) fail(`tensor ${name}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== "string") fail(`tensor ${name}: dtype is missing`);
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      fail(`tensor ${name}: shape ${JSON.stringify(shape)} is not a list of sizes`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !isNonNegativeInteger(offsets[0]) ||
      !isNonNegativeInteger(offsets[1]) ||
      offsets[1] < offsets[0]
    ) {
      fail(`tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair`);
    }
    const [begin, end] = offsets as [number, number];
    const elementBytes = DTYPE_BYTES[dtype as string];
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (elementBytes !== undefined && end - begin !== elements * elementBytes) {
      fail(
        `tensor ${name}: ${dtype} [${(shape as number[]).join(", ")}] needs ${elements * elementBytes} bytes, data_offsets span ${end - begin}`,
      );
    }
    if (end > dataBytes) {
      fail(`truncated: tensor ${name} needs data bytes ${begin}..${end}, the file holds ${dataBytes}`);
    }
    tensors.push({
      name,
      dtype: dtype as string,
      shape: shape as number[],
      begin: dataStart + begin,
      end: dataStart + end,
    });
  }
  return { metadata, tensors };
}

/** Opens a safetensors file and parses its header; call `close()` when done. */
export function openSafetensors(path: string): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new SafetensorsError(path, problem);
  };
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    return fail(`cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) fail(`truncated: ${size} bytes is too short for a safetensors header`);
    const lengthBytes = new Uint8Array(8);
    readExactly(fd, lengthBytes, 0, fail);
    const headerLength = new DataView(lengthBytes.buffer).getBigUint64(0, true);
    if (headerLength > BigInt(MAX_HEADER_BYTES)) {
      fail(`header length ${headerLength} is implausible (not a safetensors file?)`);
    }
    const headerBytes = Number(headerLength);
    if (8 + headerBytes > size) {
      fail(`truncated: the header claims ${headerBytes} bytes but the file has ${size - 8} after the length`);
    }
    const raw = new Uint8Array(headerBytes);
    readExactly(fd, raw, 8, fail);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
    } catch (e) {
      fail(`corrupt header: ${(e as Error).message}`);
    }
    const dataStart = 8 + headerBytes;
    const { metadata, tensors } = parseHeader(json, dataStart, size - dataStart, fail);
    return fileOf(path, fd, metadata, tensors, fail);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function fileOf(
  path: string,
  fd: number,
  metadata: Record<string, string>,
  tensors: SafetensorsTensorInfo[],
  fail: (p: string) => never,
): SafetensorsFile {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  let open = true;
  const info = (name: string): SafetensorsTensorInfo => {
    const t = byName.get(name);
    if (t === undefined) return fail(`has no tensor ${name}`);
    return t;
  };
  const readBytes = (name: string): Uint8Array => {
    if (!open) fail("read after close");
    const t = info(name);
    const out = new Uint8Array(t.end - t.begin);
    readExactly(fd, out, t.begin, fail);
    return out;
  };
  return {
    path,
    metadata,
    tensors,
    has: (name) => byName.has(name),
    info,
    readBytes,
    readFloat32(name) {
      const t = info(name);
      if (!isFloatDType(t.dtype)) {
        fail(`tensor ${name} has dtype ${t.dtype}; tritgate converts ${FLOAT_DTYPES.join(", ")} tensors only`);
      }
      return toFloat32(t.dtype as (typeof FLOAT_DTYPES)[number], readBytes(name));
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
