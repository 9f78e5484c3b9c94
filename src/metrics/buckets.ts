// A latency histogram as plain data (fixed upper bounds, cumulative on export), so a shard thread
// can keep one and send it to the front on scrape: prom-client objects do not cross threads.

/** Seconds: 50 µs to 10 s, roughly ×2.5 apart, the span of an fsync or a shard task. */
export const LATENCY_BOUNDS_S = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface HistogramData {
  bounds: number[];
  /** counts[i]: observations <= bounds[i] and > bounds[i-1]; counts[bounds.length]: above the last. */
  counts: number[];
  sum: number;
  count: number;
}

export const emptyHistogram = (bounds: number[] = LATENCY_BOUNDS_S): HistogramData => ({
  bounds,
  counts: new Array<number>(bounds.length + 1).fill(0),
  sum: 0,
  count: 0,
});

export function observe(h: HistogramData, value: number): void {
  let i = 0;
  while (i < h.bounds.length && value > h.bounds[i]!) i++;
  h.counts[i]!++;
  h.sum += value;
  h.count++;
}

/** Adds b into a (same bounds). */
export function mergeInto(a: HistogramData, b: HistogramData): void {
  for (let i = 0; i < a.counts.length; i++) a.counts[i]! += b.counts[i] ?? 0;
  a.sum += b.sum;
  a.count += b.count;
}
