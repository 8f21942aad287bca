// "Nice" axis ticks: steps of 1, 2 or 5 times a power of ten, so tick labels are short round numbers.

export interface AxisTicks {
  /** First tick, at or below the data minimum: the axis starts here. */
  min: number;
  /** Last tick, at or above the data maximum: the axis ends here. */
  max: number;
  step: number;
  values: number[];
}

const NICE_MULTIPLIERS = [1, 2, 5, 10] as const;
// Absorbs floating-point noise such as 0.30000000000000004 / 0.1 when deciding which tick a bound falls on.
const EPSILON = 1e-9;

/** `count` times `multiplier` x 10^exponent, computed so that e.g. 3 x 0.1 gives 0.3 rather than 0.30000000000000004. */
function scaledPower(count: number, multiplier: number, exponent: number): number {
  return exponent >= 0 ? count * multiplier * 10 ** exponent : (count * multiplier) / 10 ** -exponent;
}

/**
 * Ticks covering [min, max] with about `targetCount` intervals. A zero-width range is widened around its value so a
 * constant series still gets an axis.
 */
export function niceTicks(min: number, max: number, targetCount = 5): AxisTicks {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) {
    throw new RangeError(`niceTicks: need finite min <= max, got [${min}, ${max}]`);
  }
  if (!Number.isInteger(targetCount) || targetCount < 1) {
    throw new RangeError(`niceTicks: targetCount must be a positive integer, got ${targetCount}`);
  }
  if (min === max) {
    const padding = Math.abs(min) / 10 || 1;
    return niceTicks(min - padding, max + padding, targetCount);
  }

  const rough = (max - min) / targetCount;
  let exponent = Math.floor(Math.log10(rough));
  const fraction = exponent >= 0 ? rough / 10 ** exponent : rough * 10 ** -exponent;
  let multiplier: number = NICE_MULTIPLIERS.find((candidate) => fraction <= candidate * (1 + EPSILON)) ?? 10;
  if (multiplier === 10) {
    multiplier = 1;
    exponent += 1;
  }

  const step = scaledPower(1, multiplier, exponent);
  const first = Math.floor(min / step + EPSILON);
  const last = Math.ceil(max / step - EPSILON);
  const values: number[] = [];
  // "+ 0" turns -0 into 0 so no label ever reads "-0".
  for (let index = first; index <= last; index++) values.push(scaledPower(index, multiplier, exponent) + 0);
  return { min: values[0]!, max: values[values.length - 1]!, step, values };
}

/**
 * Labels for one axis, all with the same number of decimals (so "0.5" and "1.0" line up). Very large or very
 * small magnitudes switch to exponent notation to keep labels short.
 */
export function formatTickLabels(values: readonly number[], step: number): string[] {
  const stepExponent = Math.floor(Math.log10(step) + EPSILON);
  const largest = Math.max(...values.map(Math.abs));
  if (largest >= 1e6 || step < 1e-4) {
    const mantissaDigits = Math.max(0, Math.floor(Math.log10(largest) + EPSILON) - stepExponent);
    return values.map((value) => (value === 0 ? "0" : value.toExponential(mantissaDigits)));
  }
  const decimals = Math.max(0, -stepExponent);
  return values.map((value) => value.toFixed(decimals));
}
