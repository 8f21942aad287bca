// GPT-2 byte-level alphabet: printable Latin-1 bytes keep their own code point, the remaining 68 bytes
// (controls, space, DEL, NBSP, soft hyphen...) are shifted to U+0100 upwards so every byte has a visible,
// non-whitespace character and BPE can treat the text as ordinary characters.
function buildByteToChar(): string[] {
  const table: string[] = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + shifted++);
  }
  return table;
}

/** BYTE_TO_CHAR[b] is the one-character string standing for byte b ("Ġ" for space, "Ċ" for newline). */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();
const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const utf8Encoder = new TextEncoder();
// fatal: false so invalid sequences become U+FFFD instead of throwing mid-generation
const utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

export function byteToChar(byte: number): string {
  return BYTE_TO_CHAR[byte & 0xff] ?? "";
}

/** Maps text to the byte-level alphabet (one character per UTF-8 byte). */
export function toByteLevel(text: string): string {
  let out = "";
  for (const b of utf8(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/**
 * Bytes of a byte-level vocabulary entry. Entries containing characters outside the alphabet (added tokens
 * stored verbatim, e.g. with real spaces) are taken as plain UTF-8, as Hugging Face's ByteLevel decoder does.
 */
export function fromByteLevel(piece: string): Uint8Array {
  const out = new Uint8Array(piece.length);
  let n = 0;
  for (const ch of piece) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) return utf8(piece);
    out[n++] = b;
  }
  return out.subarray(0, n);
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** Parses SentencePiece byte-fallback pieces such as "<0x0A>". */
export function parseByteToken(piece: string): number | undefined {
  const m = BYTE_TOKEN.exec(piece);
  return m?.[1] === undefined ? undefined : Number.parseInt(m[1], 16);
}

export function byteTokenText(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
