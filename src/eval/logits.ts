/** Pure math on one row of logits (one position's scores over the vocabulary), in float64. */

export interface RowScore {
  /** log softmax(row)[target]: the log-probability the row gives the target token */
  readonly logProb: number;
  /** index of the largest logit (the lowest index among ties): the top-1 prediction */
  readonly argmax: number;
}

/** Index of the largest value; the first one when several tie. */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  let max = row[0] as number;
  for (let i = 1; i < row.length; i++) {
    const v = row[i] as number;
    if (v > max) {
      max = v;
      best = i;
    }
  }
  return best;
}

/**
 * log Σ exp(row), shifted by the maximum so no term overflows. Entries of -Infinity (masked
 * tokens) contribute nothing; NaN or +Infinity anywhere, or no finite entry, is an error.
 */
export function logSumExp(row: ArrayLike<number>): number {
  if (row.length === 0) throw new RangeError("row is empty: log-softmax needs at least one logit");
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) {
    const v = row[i] as number;
    if (Number.isNaN(v) || v === Number.POSITIVE_INFINITY) throw new Error(`logit ${i} is ${v}`);
    if (v > max) max = v;
  }
  if (max === Number.NEGATIVE_INFINITY) throw new Error("every logit is -Infinity");
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp((row[i] as number) - max);
  return max + Math.log(sum);
}

/** The log-probability of `target` under softmax(row), and the row's top-1 token. */
export function scoreRow(row: ArrayLike<number>, target: number): RowScore {
  if (!Number.isInteger(target) || target < 0 || target >= row.length) {
    throw new RangeError(`target ${target} is outside the row's ${row.length} logits`);
  }
  return { logProb: (row[target] as number) - logSumExp(row), argmax: argmax(row) };
}
