/**
 * Summaries of repeated timings.
 *
 * @module
 */

/** Median and spread of a list of measurements. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many measurements. */
  n: number;
}

/** The median, min and max of `values` (at least one). */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) {
    throw new RangeError("spread() needs at least one value");
  }
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

/** Images per second from step times: `batch / seconds`, per step. */
export function throughput(batch: number, seconds: readonly number[]): Spread {
  return spread(seconds.map((t) => batch / t));
}
