// A tiny RGB canvas: just the primitives a line chart needs. Drawing outside the canvas is clipped silently,
// so callers can draw near the edges without bounds arithmetic.

import { GLYPH_CAP_HEIGHT, GLYPH_HEIGHT, GLYPH_WIDTH, glyphFor } from "./font.js";

export type Rgb = readonly [red: number, green: number, blue: number];

/** Horizontal gap between glyphs, in font pixels. */
const LETTER_SPACING = 1;

export class Raster {
  readonly width: number;
  readonly height: number;
  /** Row-major RGB bytes, top row first: the layout `encodePng` takes. */
  readonly pixels: Uint8Array;

  constructor(width: number, height: number, background: Rgb) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new RangeError(`Raster: size must be positive integers, got ${width}x${height}`);
    }
    this.width = width;
    this.height = height;
    this.pixels = new Uint8Array(width * height * 3);
    this.fill(background);
  }

  fill(color: Rgb): void {
    for (let offset = 0; offset < this.pixels.length; offset += 3) this.pixels.set(color, offset);
  }

  setPixel(x: number, y: number, color: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.pixels.set(color, (y * this.width + x) * 3);
  }

  getPixel(x: number, y: number): Rgb {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) {
      throw new RangeError(`Raster: pixel (${x}, ${y}) is outside ${this.width}x${this.height}`);
    }
    const offset = (y * this.width + x) * 3;
    return [this.pixels[offset]!, this.pixels[offset + 1]!, this.pixels[offset + 2]!];
  }

  fillRect(x: number, y: number, width: number, height: number, color: Rgb): void {
    for (let row = y; row < y + height; row++) {
      for (let column = x; column < x + width; column++) this.setPixel(column, row, color);
    }
  }

  /** Outline of the rectangle whose top-left pixel is (x, y). */
  rect(x: number, y: number, width: number, height: number, color: Rgb): void {
    if (width < 1 || height < 1) return;
    this.fillRect(x, y, width, 1, color);
    this.fillRect(x, y + height - 1, width, 1, color);
    this.fillRect(x, y, 1, height, color);
    this.fillRect(x + width - 1, y, 1, height, color);
  }

  /**
   * Bresenham line between pixel centres (inputs are rounded). A thickness of 2 stamps a 2x2 block at each step,
   * which keeps steep and shallow segments equally visible.
   */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness: 1 | 2 = 1): void {
    let x = Math.round(x0);
    let y = Math.round(y0);
    const endX = Math.round(x1);
    const endY = Math.round(y1);
    const dx = Math.abs(endX - x);
    const dy = -Math.abs(endY - y);
    const stepX = x < endX ? 1 : -1;
    const stepY = y < endY ? 1 : -1;
    let error = dx + dy;
    for (;;) {
      this.fillRect(x, y, thickness, thickness, color);
      if (x === endX && y === endY) return;
      const doubled = 2 * error;
      if (doubled >= dy) {
        error += dy;
        x += stepX;
      }
      if (doubled <= dx) {
        error += dx;
        y += stepY;
      }
    }
  }

  /**
   * Draws `text` with its top-left corner at (x, y), each font pixel `scale` x `scale` canvas pixels.
   * Characters outside the font draw as a box so missing glyphs are visible rather than silently dropped.
   * Returns the width drawn, as `textWidth` does.
   */
  text(x: number, y: number, text: string, color: Rgb, scale = 1): number {
    let penX = x;
    for (const char of text) {
      const glyph = glyphFor(char);
      if (glyph === undefined) {
        this.rect(penX, y, GLYPH_WIDTH * scale, GLYPH_CAP_HEIGHT * scale, color);
      } else {
        for (let row = 0; row < GLYPH_HEIGHT; row++) {
          const bits = glyph[row]!;
          for (let column = 0; column < GLYPH_WIDTH; column++) {
            if ((bits >> (GLYPH_WIDTH - 1 - column)) & 1) {
              this.fillRect(penX + column * scale, y + row * scale, scale, scale, color);
            }
          }
        }
      }
      penX += (GLYPH_WIDTH + LETTER_SPACING) * scale;
    }
    return textWidth(text, scale);
  }
}

/** Width in pixels of `text` drawn at `scale` (no trailing letter gap). */
export function textWidth(text: string, scale = 1): number {
  const length = [...text].length;
  return length === 0 ? 0 : (length * (GLYPH_WIDTH + LETTER_SPACING) - LETTER_SPACING) * scale;
}

/** Height in pixels of a line of text at `scale`, descenders included. */
export function textHeight(scale = 1): number {
  return GLYPH_HEIGHT * scale;
}
