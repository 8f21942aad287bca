// Loss curves as a PNG for model cards: one line per series (train / validation, fp32 / qat / ptq ...) on shared
// axes, with a legend outside the plot area so it never hides a curve.

import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { encodePng } from "./png.js";
import { Raster, type Rgb, textHeight, textWidth } from "./raster.js";
import { type AxisTicks, formatTickLabels, niceTicks } from "./ticks.js";

export interface LossSeries {
  name: string;
  /** [x, y] pairs, typically [step, loss]; non-finite pairs are skipped. */
  points: readonly (readonly [x: number, y: number])[];
  /** RGB 0-255; defaults to the palette colour for the series' position. */
  color?: readonly [number, number, number];
}

export interface LossCurveOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
}

export const CHART_COLORS = {
  background: [255, 255, 255],
  grid: [232, 232, 232],
  axis: [60, 60, 60],
  text: [30, 30, 30],
} as const satisfies Record<string, Rgb>;

/** Distinct, colour-blind-tolerant hues that stay readable as 2 px lines on white. */
export const DEFAULT_PALETTE: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

const DEFAULT_WIDTH = 640;
const DEFAULT_HEIGHT = 400;
const MIN_WIDTH = 160;
const MIN_HEIGHT = 120;
// Keeps the pixel buffer (width x height x 3 bytes) within a few hundred MB.
const MAX_SIDE = 8192;
const MIN_PLOT_SIDE = 40;

const PADDING = 10;
const TICK_LENGTH = 4;
const TICK_LABEL_GAP = 3;
const TITLE_SCALE = 2;
/** Gap between the frame and the first/last tick, so curves at the data bounds do not merge with the axis lines. */
const DATA_INSET = 4;
const SERIES_THICKNESS = 2;
const LEGEND_SWATCH = 14;
const LEGEND_GAP = 4;
const LEGEND_ROW = textHeight() + 4;
/** Target pixels per tick interval: enough room for a label of ~6 characters on x. */
const X_PIXELS_PER_TICK = 90;
const Y_PIXELS_PER_TICK = 50;

/** Where everything goes: the frame (inclusive pixel bounds), the axes and the data-to-pixel mapping. */
export interface LossChartLayout {
  width: number;
  height: number;
  title: string;
  xLabel: string;
  yLabel: string;
  plot: { left: number; top: number; right: number; bottom: number };
  xTicks: AxisTicks;
  yTicks: AxisTicks;
  series: { name: string; color: Rgb; points: (readonly [number, number])[] }[];
  toPixel(x: number, y: number): [px: number, py: number];
}

function checkSide(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min || value > MAX_SIDE) {
    throw new RangeError(`renderLossCurves: ${name} must be an integer from ${min} to ${MAX_SIDE}, got ${value}`);
  }
}

function checkColor(series: LossSeries): Rgb | undefined {
  const color = series.color;
  if (color === undefined) return undefined;
  if (color.length !== 3 || color.some((channel) => !Number.isInteger(channel) || channel < 0 || channel > 255)) {
    throw new RangeError(
      `renderLossCurves: series ${JSON.stringify(series.name)} has color [${color.join(", ")}]; need three integers 0-255`,
    );
  }
  return [color[0], color[1], color[2]];
}

/** Finite points ordered by x: a curve is read left to right, whatever order the log was written in. */
function finitePointsByX(series: LossSeries): (readonly [number, number])[] {
  return series.points
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    .map(([x, y]) => [x, y] as const)
    .sort((a, b) => a[0] - b[0]);
}

function ticksForSpan(min: number, max: number, pixels: number, pixelsPerTick: number): AxisTicks {
  return niceTicks(min, max, Math.max(1, Math.round(pixels / pixelsPerTick)));
}

/** Computes the chart layout; `renderLossCurves` draws it. Exposed for tests that need pixel positions. */
export function layoutLossChart(series: readonly LossSeries[], options: LossCurveOptions = {}): LossChartLayout {
  const width = options.width ?? DEFAULT_WIDTH;
  const height = options.height ?? DEFAULT_HEIGHT;
  checkSide("width", width, MIN_WIDTH);
  checkSide("height", height, MIN_HEIGHT);
  if (series.length === 0) throw new RangeError("renderLossCurves: no series given; pass at least one LossSeries");

  const plotted = series.map((entry, index) => ({
    name: entry.name,
    color: checkColor(entry) ?? DEFAULT_PALETTE[index % DEFAULT_PALETTE.length]!,
    points: finitePointsByX(entry),
  }));
  const allPoints = plotted.flatMap((entry) => entry.points);
  if (allPoints.length === 0) {
    throw new RangeError(
      `renderLossCurves: no finite points in ${series.length} series (${series.map((s) => s.name).join(", ")})`,
    );
  }
  const xs = allPoints.map(([x]) => x);
  const ys = allPoints.map(([, y]) => y);

  const title = options.title ?? "Loss";
  const xLabel = options.xLabel ?? "step";
  const yLabel = options.yLabel ?? "loss";

  const titleBlock = title === "" ? 0 : textHeight(TITLE_SCALE) + 6;
  const top = PADDING + titleBlock + textHeight() + 6;
  const bottom = height - 1 - (TICK_LENGTH + TICK_LABEL_GAP + textHeight() + 6 + textHeight() + PADDING);
  const yTicks = ticksForSpan(Math.min(...ys), Math.max(...ys), bottom - top - 2 * DATA_INSET, Y_PIXELS_PER_TICK);
  const yTickLabels = formatTickLabels(yTicks.values, yTicks.step);

  const left = PADDING + Math.max(...yTickLabels.map((label) => textWidth(label))) + TICK_LABEL_GAP + TICK_LENGTH;
  const legendWidth = LEGEND_SWATCH + LEGEND_GAP + Math.max(...plotted.map((entry) => textWidth(entry.name)));
  const right = width - 1 - (PADDING + legendWidth + PADDING);
  if (right - left < MIN_PLOT_SIDE || bottom - top < MIN_PLOT_SIDE) {
    throw new RangeError(
      `renderLossCurves: ${width}x${height} leaves a ${right - left}x${bottom - top} plot area after labels and ` +
        `legend; need at least ${MIN_PLOT_SIDE}x${MIN_PLOT_SIDE} (make the image larger or the names shorter)`,
    );
  }
  const xTicks = ticksForSpan(Math.min(...xs), Math.max(...xs), right - left - 2 * DATA_INSET, X_PIXELS_PER_TICK);

  const dataLeft = left + DATA_INSET;
  const dataWidth = right - left - 2 * DATA_INSET;
  const dataBottom = bottom - DATA_INSET;
  const dataHeight = bottom - top - 2 * DATA_INSET;
  const toPixel = (x: number, y: number): [number, number] => [
    Math.round(dataLeft + ((x - xTicks.min) / (xTicks.max - xTicks.min)) * dataWidth),
    Math.round(dataBottom - ((y - yTicks.min) / (yTicks.max - yTicks.min)) * dataHeight),
  ];

  return {
    width,
    height,
    title,
    xLabel,
    yLabel,
    plot: { left, top, right, bottom },
    xTicks,
    yTicks,
    series: plotted,
    toPixel,
  };
}

function drawAxes(canvas: Raster, layout: LossChartLayout): void {
  const { plot, xTicks, yTicks, toPixel } = layout;
  const labelHeight = textHeight();
  const xLabels = formatTickLabels(xTicks.values, xTicks.step);
  xTicks.values.forEach((value, index) => {
    const [px] = toPixel(value, yTicks.min);
    canvas.line(px, plot.top + 1, px, plot.bottom - 1, CHART_COLORS.grid);
    canvas.line(px, plot.bottom + 1, px, plot.bottom + TICK_LENGTH, CHART_COLORS.axis);
    const label = xLabels[index]!;
    const labelTop = plot.bottom + TICK_LENGTH + TICK_LABEL_GAP;
    canvas.text(px - Math.floor(textWidth(label) / 2), labelTop, label, CHART_COLORS.text);
  });
  const yLabels = formatTickLabels(yTicks.values, yTicks.step);
  yTicks.values.forEach((value, index) => {
    const [, py] = toPixel(xTicks.min, value);
    canvas.line(plot.left + 1, py, plot.right - 1, py, CHART_COLORS.grid);
    canvas.line(plot.left - TICK_LENGTH, py, plot.left - 1, py, CHART_COLORS.axis);
    const label = yLabels[index]!;
    const labelLeft = plot.left - TICK_LENGTH - TICK_LABEL_GAP - textWidth(label);
    // Centre the digits (cap height 7, not the full cell with descenders) on the tick.
    canvas.text(labelLeft, py - 3, label, CHART_COLORS.text);
  });
  canvas.rect(plot.left, plot.top, plot.right - plot.left + 1, plot.bottom - plot.top + 1, CHART_COLORS.axis);

  const xLabelLeft = Math.round((plot.left + plot.right - textWidth(layout.xLabel)) / 2);
  canvas.text(xLabelLeft, layout.height - PADDING - labelHeight, layout.xLabel, CHART_COLORS.text);
  // Horizontal above the axis: the font cannot rotate, and this reads fine for a one-word label.
  canvas.text(PADDING, plot.top - labelHeight - 4, layout.yLabel, CHART_COLORS.text);
}

function drawSeries(canvas: Raster, layout: LossChartLayout): void {
  for (const { color, points } of layout.series) {
    const pixels = points.map(([x, y]) => layout.toPixel(x, y));
    if (pixels.length === 1) {
      // A single point has no segment to draw; a dot keeps it visible.
      const [px, py] = pixels[0]!;
      canvas.fillRect(px - 1, py - 1, 3, 3, color);
      continue;
    }
    for (let index = 1; index < pixels.length; index++) {
      const [x0, y0] = pixels[index - 1]!;
      const [x1, y1] = pixels[index]!;
      canvas.line(x0, y0, x1, y1, color, SERIES_THICKNESS);
    }
  }
}

function drawLegend(canvas: Raster, layout: LossChartLayout): void {
  const left = layout.plot.right + PADDING;
  layout.series.forEach(({ name, color }, index) => {
    const rowTop = layout.plot.top + index * LEGEND_ROW;
    canvas.line(left, rowTop + 3, left + LEGEND_SWATCH - 1, rowTop + 3, color, SERIES_THICKNESS);
    canvas.text(left + LEGEND_SWATCH + LEGEND_GAP, rowTop, name, color);
  });
}

/** Renders the series as a line chart and returns the PNG bytes. */
export function renderLossCurves(series: readonly LossSeries[], options: LossCurveOptions = {}): Buffer {
  const layout = layoutLossChart(series, options);
  const canvas = new Raster(layout.width, layout.height, CHART_COLORS.background);
  drawAxes(canvas, layout);
  drawSeries(canvas, layout);
  drawLegend(canvas, layout);
  if (layout.title !== "") {
    const titleLeft = Math.round((layout.width - textWidth(layout.title, TITLE_SCALE)) / 2);
    canvas.text(titleLeft, PADDING, layout.title, CHART_COLORS.text, TITLE_SCALE);
  }
  return encodePng(layout.width, layout.height, canvas.pixels);
}

/** Renders the series and writes the PNG to `path`, creating its directory if needed. */
export async function writeLossCurvePng(
  path: string,
  series: readonly LossSeries[],
  options: LossCurveOptions = {},
): Promise<void> {
  const png = renderLossCurves(series, options);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, png);
}
