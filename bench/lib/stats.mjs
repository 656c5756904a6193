// Small helpers the benchmarks share.

/** The p-th percentile (nearest rank) of a list of numbers. */
export const percentile = (samples, p) => [...samples].sort((a, b) => a - b)[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))];

/** Milliseconds for a table: two decimals under 10, whole numbers above. */
export const ms = (value) => (value < 10 ? value.toFixed(2) : value.toFixed(0));

/** Runs fn and returns [elapsed ms, its value]. */
export async function timed(fn) {
  const start = performance.now();
  const value = await fn();
  return [performance.now() - start, value];
}
