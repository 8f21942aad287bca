/**
 * Percentiles by the nearest-rank method: the p-th percentile of n samples is the sample of rank
 * ⌈p/100 · n⌉ in ascending order. It is always a latency that was observed (no interpolation between
 * two requests): p95 of 20 samples is the 19th of 20 in ascending order (the second slowest), so at
 * least 95 % of requests took at most that long. k6 interpolates between ranks instead, so on few samples its p95 can sit a little
 * below this one; the runner's is the stricter reading.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: expected 0 < p ≤ 100, got ${p}`);
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[rank - 1];
}
