// GPT-2's reversible byte → printable character mapping: printable Latin-1 bytes stand for themselves, the other 68
// bytes (controls, space, DEL, NBSP, soft hyphen, ...) take the code points from U+0100 on, in byte order.

function isPrintable(byte: number): boolean {
  return (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
}

/** BYTE_TO_CHAR[b] is the one-character string standing for byte b ("Ġ" for space, "Ċ" for newline). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const out: string[] = [];
  let next = 0x100;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(isPrintable(b) ? b : next++));
  return out;
})();

const CHAR_TO_BYTE = new Map<string, number>(BYTE_TO_CHAR.map((c, b) => [c, b]));

const encoder = new TextEncoder();

/** UTF-8 bytes of `text` spelled in the byte-level alphabet. */
export function toByteLevel(text: string): string {
  let out = "";
  for (const b of encoder.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/** Bytes spelled by a byte-level string; throws on a character outside the alphabet. */
export function fromByteLevel(piece: string): Uint8Array {
  const out = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) {
    const b = CHAR_TO_BYTE.get(piece[i] ?? "");
    if (b === undefined) throw new Error(`byte-level: ${JSON.stringify(piece[i])} is not a byte-level character`);
    out[i] = b;
  }
  return out;
}
