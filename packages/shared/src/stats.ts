/**
 * The `p`-th percentile of `sorted` (ascending) by the **nearest-rank** method: the smallest sample
 * such that at least `p` % of the samples are less than or equal to it, i.e. the sample at 1-based
 * rank `ceil(p / 100 · n)`, with p = 0 giving the smallest sample. There is no interpolation: the
 * answer is always one of the samples, as the agent's telemetry windows, the rollout gates fed by
 * them and the variant measurements have always computed it.
 *
 * @param sorted samples in ascending order, an array or a typed array (not checked: the caller sorts once for several percentiles)
 * @param p the percentile, 0 to 100
 * @returns the sample at that rank; `NaN` when there are no samples
 * @throws RangeError when `p` is not a number from 0 to 100
 *
 * @example percentile([1, 2, 3, 4], 50) // 2 (rank ceil(0.5 · 4) = 2), not the interpolated 2.5
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile: p must be from 0 to 100, got ${p}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? Number.NaN;
}
