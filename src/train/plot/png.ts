// Minimal PNG encoder (8-bit RGB, no interlace): enough for plots without pulling in an image library.

import { deflateSync } from "node:zlib";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** The largest width/height the PNG format allows (2^31 - 1). */
const PNG_MAX_DIMENSION = 0x7fffffff;
const BYTES_PER_PIXEL = 3;
const BIT_DEPTH = 8;
const COLOR_TYPE_RGB = 2;
/** Filter type 0 (None): plots are mostly flat colour that deflate compresses well without per-row prediction. */
const FILTER_NONE = 0;

const CRC_TABLE = buildCrcTable();

function buildCrcTable(): Uint32Array {
  // Reflected CRC-32 polynomial used by PNG (and zlib, gzip, Ethernet).
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 as PNG chunks use it; `previous` continues a running CRC over several buffers. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const typeBytes = Buffer.from(type, "latin1");
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  typeBytes.copy(chunk, 4);
  chunk.set(data, 8);
  // The CRC covers the chunk type and data, not the length.
  chunk.writeUInt32BE(crc32(data, crc32(typeBytes)), 8 + data.length);
  return chunk;
}

function assertDimension(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > PNG_MAX_DIMENSION) {
    throw new RangeError(`encodePng: ${name} must be an integer from 1 to ${PNG_MAX_DIMENSION}, got ${value}`);
  }
}

/** Encodes `rgb` (row-major, 3 bytes per pixel, top row first) as a PNG file. */
export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  assertDimension("width", width);
  assertDimension("height", height);
  const rowBytes = width * BYTES_PER_PIXEL;
  if (rgb.length !== rowBytes * height) {
    throw new RangeError(
      `encodePng: expected ${rowBytes * height} bytes for ${width}x${height} RGB, got ${rgb.length}`,
    );
  }

  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = BIT_DEPTH;
  header[9] = COLOR_TYPE_RGB;
  header[10] = 0; // compression: deflate (the only one defined)
  header[11] = 0; // filter method: adaptive (the only one defined)
  header[12] = 0; // interlace: none

  const scanlines = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    const start = y * (rowBytes + 1);
    scanlines[start] = FILTER_NONE;
    scanlines.set(rgb.subarray(y * rowBytes, (y + 1) * rowBytes), start + 1);
  }

  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(scanlines)),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}
