/**
 * What a UTF-8 lead byte promises: how many continuation bytes follow and the range the first of them
 * must fall in (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF); later continuation
 * bytes are always 0x80..0xBF. Undefined for a byte that cannot start a multi-byte character.
 */
export interface Utf8Lead {
  readonly need: 1 | 2 | 3;
  readonly lo: number;
  readonly hi: number;
}

export function utf8Lead(b: number): Utf8Lead | undefined {
  if (b >= 0xc2 && b <= 0xdf) return { need: 1, lo: 0x80, hi: 0xbf };
  if (b === 0xe0) return { need: 2, lo: 0xa0, hi: 0xbf };
  if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) return { need: 2, lo: 0x80, hi: 0xbf };
  if (b === 0xed) return { need: 2, lo: 0x80, hi: 0x9f };
  if (b === 0xf0) return { need: 3, lo: 0x90, hi: 0xbf };
  if (b >= 0xf1 && b <= 0xf3) return { need: 3, lo: 0x80, hi: 0xbf };
  if (b === 0xf4) return { need: 3, lo: 0x80, hi: 0x8f };
  return undefined;
}
