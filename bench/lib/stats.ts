/**
 * Summaries of repeated measurements: the median with its spread, and percentiles of
 * latency samples.
 */

/** One measured figure after repetition. */
export interface Summary {
  /** Median over the repetitions. */
  readonly median: number;
  /** Smallest value seen. */
  readonly min: number;
  /** Largest value seen. */
  readonly max: number;
  /** How many repetitions. */
  readonly runs: number;
}

/** The value below which `p` (0..1) of the sorted samples lie (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Median, min and max of repeated measurements. */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted[sorted.length - 1] ?? Number.NaN, runs: sorted.length };
}

/** Sort latency samples in place and return them (Float64Array sorts numerically). */
export function sortSamples(samples: Float64Array): Float64Array {
  return samples.sort();
}
