// Small helpers the benchmarks share.

/** The p-th percentile by nearest rank: the smallest sample with at least p% of the samples at or below it. */
export function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The middle sample, or the mean of the two middle ones; NaN for no samples. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Milliseconds for a table: two decimals under 10, whole numbers above. */
export const ms = (value) => (value < 10 ? value.toFixed(2) : value.toFixed(0));

/** Runs fn and returns [elapsed ms, its value]. */
export async function timed(fn) {
  const start = performance.now();
  const value = await fn();
  return [performance.now() - start, value];
}
