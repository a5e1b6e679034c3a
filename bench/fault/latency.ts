// Latency figures of the fault scenarios (and the soak's tables): the
// nearest-rank quantile and a p50 / p99 / max summary in milliseconds.

/** The `p` quantile (0…1) of `values` (nearest rank); NaN when empty. */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** Latency figures in milliseconds, rounded to 0.1 ms. */
export interface Latency {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** p50, p99 and max of `samples` (milliseconds). */
export function latency(samples: number[]): Latency {
  const round = (ms: number) => Number.isFinite(ms) ? Math.round(ms * 10) / 10 : NaN;
  return {
    count: samples.length,
    p50: round(quantile(samples, 0.5)),
    p99: round(quantile(samples, 0.99)),
    max: round(samples.reduce((a, b) => Math.max(a, b), -Infinity)),
  };
}
