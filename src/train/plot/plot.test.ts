import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inflateSync, crc32 as zlibCrc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { fontCharacters, GLYPH_HEIGHT, GLYPH_WIDTH, glyphFor } from "./font.js";
import { encodePng, type LossSeries, renderLossCurves, writeLossCurvePng } from "./index.js";
import { CHART_COLORS, DEFAULT_PALETTE, layoutLossChart } from "./loss-curve.js";
import { crc32 } from "./png.js";
import { Raster, type Rgb, textWidth } from "./raster.js";
import { formatTickLabels, niceTicks } from "./ticks.js";

interface DecodedPng {
  width: number;
  height: number;
  chunkTypes: string[];
  pixel(x: number, y: number): Rgb;
}

/** An independent PNG reader: walks the chunks, checks each CRC with zlib's, inflates IDAT and unfilters type 0. */
function decodePng(png: Buffer): DecodedPng {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunkTypes: string[] = [];
  const idat: Buffer[] = [];
  let header: Buffer | undefined;
  let offset = 8;
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const typeAndData = png.subarray(offset + 4, offset + 8 + length);
    const type = typeAndData.subarray(0, 4).toString("latin1");
    const data = typeAndData.subarray(4);
    expect(png.readUInt32BE(offset + 8 + length), `CRC of ${type}`).toBe(zlibCrc32(typeAndData));
    chunkTypes.push(type);
    if (type === "IHDR") header = data;
    if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  expect(offset).toBe(png.length);
  if (header === undefined) throw new Error("no IHDR chunk");
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  expect([...header.subarray(8)]).toEqual([8, 2, 0, 0, 0]);

  const raw = inflateSync(Buffer.concat(idat));
  const stride = 1 + width * 3;
  expect(raw.length).toBe(height * stride);
  for (let y = 0; y < height; y++) expect(raw[y * stride], `filter byte of row ${y}`).toBe(0);
  return {
    width,
    height,
    chunkTypes,
    pixel: (x, y) => {
      const at = y * stride + 1 + x * 3;
      return [raw[at]!, raw[at + 1]!, raw[at + 2]!];
    },
  };
}

const sameColor = (a: Rgb, b: Rgb): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];

describe("encodePng", () => {
  it("computes the standard CRC-32 check value and agrees with zlib on arbitrary bytes", () => {
    expect(crc32(Buffer.from("123456789", "ascii"))).toBe(0xcbf43926);
    const bytes = Uint8Array.from({ length: 1000 }, (_, index) => (index * 7919 + 13) & 0xff);
    expect(crc32(bytes)).toBe(zlibCrc32(bytes));
    expect(crc32(bytes.subarray(400), crc32(bytes.subarray(0, 400)))).toBe(zlibCrc32(bytes));
  });

  it("round-trips exact pixels through signature, IHDR, IDAT and IEND", () => {
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    const decoded = decodePng(encodePng(3, 2, rgb));
    expect(decoded.chunkTypes).toEqual(["IHDR", "IDAT", "IEND"]);
    expect([decoded.width, decoded.height]).toEqual([3, 2]);
    expect(decoded.pixel(0, 0)).toEqual([255, 0, 0]);
    expect(decoded.pixel(2, 0)).toEqual([0, 0, 255]);
    expect(decoded.pixel(1, 1)).toEqual([40, 50, 60]);
    expect(decoded.pixel(2, 1)).toEqual([70, 80, 90]);
  });

  it("rejects a pixel buffer of the wrong size and non-positive dimensions", () => {
    expect(() => encodePng(2, 2, new Uint8Array(11))).toThrow(/expected 12 bytes/);
    expect(() => encodePng(0, 2, new Uint8Array(0))).toThrow(RangeError);
    expect(() => encodePng(2, 1.5, new Uint8Array(9))).toThrow(/height/);
  });
});

describe("niceTicks", () => {
  it("chooses 1/2/5 x 10^k steps covering the range", () => {
    expect(niceTicks(0, 10, 5)).toEqual({ min: 0, max: 10, step: 2, values: [0, 2, 4, 6, 8, 10] });
    expect(niceTicks(0.13, 0.87, 5).values).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(2.31, 4.08, 4).values).toEqual([2, 2.5, 3, 3.5, 4, 4.5]);
    expect(niceTicks(0, 12000, 5).values).toEqual([0, 5000, 10000, 15000]);
    expect(niceTicks(-3, 7, 2).values).toEqual([-5, 0, 5, 10]);
  });

  it("gives exact decimal values, not accumulated floating-point sums", () => {
    expect(niceTicks(0, 1, 10).values).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(niceTicks(0.0003, 0.0007, 4).values).toEqual([0.0003, 0.0004, 0.0005, 0.0006, 0.0007]);
  });

  it("widens a zero-width range around a constant value", () => {
    const ticks = niceTicks(0.3, 0.3, 5);
    expect(ticks.min).toBeLessThan(0.3);
    expect(ticks.max).toBeGreaterThan(0.3);
    expect(ticks.values).toContain(0.3);
    expect(niceTicks(0, 0, 4).values).toEqual([-1, -0.5, 0, 0.5, 1]);
  });

  it("always steps by 1, 2 or 5 times a power of ten and brackets the data", () => {
    for (const [min, max] of [
      [0, 1e-5],
      [1.7, 9.3],
      [-250, 13],
      [2.25, 2.26],
      [0, 73_456],
      [5e8, 9e9],
    ] as const) {
      for (const target of [2, 5, 8]) {
        const { step, values } = niceTicks(min, max, target);
        const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
        expect(
          [1, 2, 5].some((nice) => Math.abs(mantissa - nice) < 1e-9),
          `step ${step}`,
        ).toBe(true);
        expect(values[0]!).toBeLessThanOrEqual(min);
        expect(values[values.length - 1]!).toBeGreaterThanOrEqual(max);
        expect(values.length - 1).toBeLessThanOrEqual(2 * target + 1);
      }
    }
  });

  it("rejects non-finite or reversed ranges", () => {
    expect(() => niceTicks(Number.NaN, 1)).toThrow(RangeError);
    expect(() => niceTicks(2, 1)).toThrow(/min <= max/);
    expect(() => niceTicks(0, 1, 0)).toThrow(/targetCount/);
  });

  it("formats labels with one shared precision, switching to exponents for extreme magnitudes", () => {
    expect(formatTickLabels([0, 0.5, 1], 0.5)).toEqual(["0.0", "0.5", "1.0"]);
    expect(formatTickLabels([0, 5000, 10000], 5000)).toEqual(["0", "5000", "10000"]);
    expect(formatTickLabels([0, 2e6, 4e6], 2e6)).toEqual(["0", "2e+6", "4e+6"]);
    expect(formatTickLabels([1e-5, 2e-5], 1e-5)).toEqual(["1e-5", "2e-5"]);
  });
});

describe("Raster and font", () => {
  it("has a distinct glyph for every character the chart labels need", () => {
    for (const char of "0123456789.-e+ steplossTrainValidationfp32qatptqABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
      expect(glyphFor(char), JSON.stringify(char)).toBeDefined();
    }
    const bitmaps = fontCharacters().map((char) => glyphFor(char)!.join(","));
    expect(new Set(bitmaps).size).toBe(bitmaps.length);
    for (const char of fontCharacters()) {
      if (char !== " ")
        expect(
          glyphFor(char)!.some((row) => row !== 0),
          JSON.stringify(char),
        ).toBe(true);
    }
  });

  it("draws a glyph inside its cell only", () => {
    const white: Rgb = [255, 255, 255];
    const ink: Rgb = [0, 0, 0];
    const canvas = new Raster(20, 20, white);
    const drawn = canvas.text(3, 4, "e", ink);
    expect(drawn).toBe(textWidth("e"));
    let inked = 0;
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 20; x++) {
        if (!sameColor(canvas.getPixel(x, y), ink)) continue;
        inked++;
        expect(x >= 3 && x < 3 + GLYPH_WIDTH && y >= 4 && y < 4 + GLYPH_HEIGHT, `(${x}, ${y})`).toBe(true);
      }
    }
    expect(inked).toBeGreaterThan(5);
    // The bar of "e" is its middle row, all five columns.
    for (let x = 3; x < 8; x++) expect(canvas.getPixel(x, 8)).toEqual(ink);
  });

  it("draws an unknown character as a box outline", () => {
    const canvas = new Raster(10, 10, [255, 255, 255]);
    canvas.text(1, 1, "\u20ac", [9, 9, 9], 1);
    expect(canvas.getPixel(1, 1)).toEqual([9, 9, 9]);
    expect(canvas.getPixel(5, 7)).toEqual([9, 9, 9]);
    expect(canvas.getPixel(3, 4)).toEqual([255, 255, 255]);
  });

  it("draws Bresenham lines of thickness 1 and 2, clipping at the edges", () => {
    const red: Rgb = [255, 0, 0];
    const thin = new Raster(12, 12, [0, 0, 0]);
    thin.line(0, 0, 9, 9, red);
    for (let i = 0; i <= 9; i++) {
      expect(thin.getPixel(i, i)).toEqual(red);
      if (i < 9) expect(thin.getPixel(i + 1, i)).toEqual([0, 0, 0]);
    }
    const thick = new Raster(12, 12, [0, 0, 0]);
    thick.line(0, 5, 11, 5, red, 2);
    for (let x = 0; x < 12; x++) {
      expect(thick.getPixel(x, 5)).toEqual(red);
      expect(thick.getPixel(x, 6)).toEqual(red);
      expect(thick.getPixel(x, 4)).toEqual([0, 0, 0]);
    }
    expect(() => thick.line(-20, -3, 30, 40, red, 2)).not.toThrow();
  });
});

describe("renderLossCurves", () => {
  const trainColor: Rgb = [200, 30, 30];
  // loss 4 at step 0 falling linearly to 0 at step 100
  const descending: LossSeries = {
    name: "train",
    color: trainColor,
    points: Array.from({ length: 11 }, (_, index) => [index * 10, 4 - index * 0.4] as const),
  };

  it("draws a straight descending series where the axes put it, and only there", () => {
    const options = { width: 480, height: 320, title: "fp32 vs qat" };
    const png = decodePng(renderLossCurves([descending], options));
    expect([png.width, png.height]).toEqual([480, 320]);
    expect(sameColor(png.pixel(0, 0), CHART_COLORS.background)).toBe(true);

    const layout = layoutLossChart([descending], options);
    expect([layout.xTicks.min, layout.xTicks.max, layout.yTicks.min, layout.yTicks.max]).toEqual([0, 100, 0, 4]);
    for (const [x, y] of descending.points) expect(png.pixel(...layout.toPixel(x, y))).toEqual(trainColor);

    const [startX, startY] = layout.toPixel(0, 4);
    const [endX, endY] = layout.toPixel(100, 0);
    const { plot } = layout;
    // The frame really is where the layout says, and the data span maps onto it (inside a small inset), so the
    // checks below do not just trust toPixel.
    for (const [x, y] of [
      [plot.left, plot.top + 20],
      [plot.right, plot.bottom - 20],
      [plot.left + 20, plot.top],
      [plot.right - 20, plot.bottom],
    ] as const) {
      expect(png.pixel(x, y), `frame at (${x}, ${y})`).toEqual(CHART_COLORS.axis);
    }
    for (const gap of [startX - plot.left, startY - plot.top, plot.right - endX, plot.bottom - endY]) {
      expect(gap).toBeGreaterThanOrEqual(1);
      expect(gap).toBeLessThanOrEqual(5);
    }
    for (let px = plot.left + 1; px < plot.right; px++) {
      const rows: number[] = [];
      for (let py = plot.top + 1; py < plot.bottom; py++) if (sameColor(png.pixel(px, py), trainColor)) rows.push(py);
      if (px < startX || px > endX + 1) {
        expect(rows, `column ${px} is outside the series`).toEqual([]);
        continue;
      }
      const expected = startY + ((Math.min(px, endX) - startX) * (endY - startY)) / (endX - startX);
      if (px <= endX) expect(rows.length, `column ${px}`).toBeGreaterThan(0);
      for (const py of rows) {
        expect(py, `column ${px}`).toBeGreaterThanOrEqual(expected - 2);
        expect(py, `column ${px}`).toBeLessThanOrEqual(expected + 3);
      }
      // Well away from the line there is only background or grid.
      for (const offset of [-10, 10]) {
        const py = Math.round(expected) + offset;
        if (py <= plot.top || py >= plot.bottom) continue;
        const color = png.pixel(px, py);
        expect(sameColor(color, CHART_COLORS.background) || sameColor(color, CHART_COLORS.grid)).toBe(true);
      }
    }
  });

  it("gives uncoloured series the default palette and shows every name in the legend in its colour", () => {
    const validation: LossSeries = {
      name: "validation",
      points: [
        [0, 3.5],
        [50, 2.0],
        [100, 1.5],
      ],
    };
    const ptq: LossSeries = {
      name: "ptq",
      points: [
        [0, 3.8],
        [100, 1.9],
      ],
    };
    const series = [descending, validation, ptq];
    const png = decodePng(renderLossCurves(series));
    const layout = layoutLossChart(series);
    expect(layout.series.map((entry) => entry.color)).toEqual([trainColor, DEFAULT_PALETTE[1], DEFAULT_PALETTE[2]]);
    for (const { color } of layout.series) {
      let legendPixels = 0;
      for (let y = 0; y < png.height; y++) {
        for (let x = layout.plot.right + 1; x < png.width; x++) if (sameColor(png.pixel(x, y), color)) legendPixels++;
      }
      expect(legendPixels).toBeGreaterThan(20);
    }
  });

  it("skips non-finite points and orders points by x", () => {
    const clean = renderLossCurves([descending]);
    const noisy = renderLossCurves([
      {
        ...descending,
        points: [[Number.NaN, 1], ...[...descending.points].reverse(), [50, Number.POSITIVE_INFINITY]],
      },
    ]);
    expect(noisy.equals(clean)).toBe(true);
  });

  it("draws the title text", () => {
    const titled = decodePng(renderLossCurves([descending], { title: "Loss" }));
    const untitled = decodePng(renderLossCurves([descending], { title: "" }));
    const countTextPixels = (png: DecodedPng): number => {
      let count = 0;
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < png.width; x++) if (sameColor(png.pixel(x, y), CHART_COLORS.text)) count++;
      }
      return count;
    };
    expect(countTextPixels(titled)).toBeGreaterThan(40);
    expect(countTextPixels(untitled)).toBeLessThan(countTextPixels(titled));
  });

  it("marks a single-point series with a dot", () => {
    const layout = layoutLossChart([{ name: "qat", color: [0, 90, 0], points: [[5, 2]] }]);
    const png = decodePng(renderLossCurves([{ name: "qat", color: [0, 90, 0], points: [[5, 2]] }]));
    expect(png.pixel(...layout.toPixel(5, 2))).toEqual([0, 90, 0]);
  });

  it("throws RangeError for empty input, bad sizes and bad colours", () => {
    expect(() => renderLossCurves([])).toThrow(/no series/);
    expect(() => renderLossCurves([{ name: "train", points: [] }])).toThrow(/no finite points/);
    expect(() => renderLossCurves([{ name: "train", points: [[Number.NaN, 1]] }])).toThrow(RangeError);
    expect(() => renderLossCurves([descending], { width: 10 })).toThrow(/width must be an integer/);
    expect(() => renderLossCurves([descending], { height: 200.5 })).toThrow(/height/);
    expect(() => renderLossCurves([descending], { width: 100_000 })).toThrow(RangeError);
    expect(() => renderLossCurves([{ ...descending, color: [0, 256, 0] }])).toThrow(/color/);
    expect(() => renderLossCurves([{ ...descending, name: "x".repeat(80) }], { width: 400 })).toThrow(/plot area/);
  });

  it("writes the same PNG to disk, creating the directory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tritgate-plot-"));
    const path = join(dir, "nested", "loss.png");
    await writeLossCurvePng(path, [descending], { title: "train" });
    expect((await readFile(path)).equals(renderLossCurves([descending], { title: "train" }))).toBe(true);
  });
});
