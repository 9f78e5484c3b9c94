// Aggregate buckets: partial (count, sum, min, max) numbers folded per bucket start, from any mix of
// rollup minutes, raw events, devices and shards. avg is derived only at the very end, so merging
// partial answers stays exact for count, min and max (sum is floating-point addition: its last bits
// may depend on the order the parts are added in).
import { ApiError } from '../errors.js';
import { formatIso } from '../time.js';

/** Columnar buckets, ascending by start; what a shard answers and what the front merges. */
export interface Buckets {
  start: number[];
  count: number[];
  sum: number[];
  min: number[];
  max: number[];
}

/** The API's answer: one object per bucket, avg derived here. */
export function bucketsJson(b: Buckets): string {
  let out = '[';
  for (let i = 0; i < b.start.length; i++) {
    if (i > 0) out += ',';
    const count = b.count[i]!;
    const sum = b.sum[i]!;
    out += `{"bucket":"${formatIso(b.start[i]!)}","count":${count},"sum":${sum},"avg":${sum / count},"min":${b.min[i]!},"max":${b.max[i]!}}`;
  }
  return out + ']';
}

export const tooManyBuckets = (maxBuckets: number): ApiError =>
  new ApiError(
    'TOO_MANY_BUCKETS',
    `the answer would have more than ${maxBuckets} non-empty buckets: use a wider interval or a narrower time range`,
    [
      {
        loc: ['query', 'interval'],
        msg: `the answer would have more than ${maxBuckets} non-empty buckets: use a wider interval or a narrower time range`,
        type: 'too_many_buckets',
      },
    ],
  );

export class BucketAccumulator {
  private readonly index = new Map<number, number>();
  private readonly b: Buckets = { start: [], count: [], sum: [], min: [], max: [] };

  constructor(private readonly maxBuckets: number) {}

  get size(): number {
    return this.b.start.length;
  }

  add(start: number, count: number, sum: number, min: number, max: number): void {
    const i = this.index.get(start);
    const b = this.b;
    if (i === undefined) {
      if (b.start.length >= this.maxBuckets) throw tooManyBuckets(this.maxBuckets);
      this.index.set(start, b.start.length);
      b.start.push(start);
      b.count.push(count);
      b.sum.push(sum);
      b.min.push(min);
      b.max.push(max);
      return;
    }
    b.count[i]! += count;
    b.sum[i]! += sum;
    if (min < b.min[i]!) b.min[i] = min;
    if (max > b.max[i]!) b.max[i] = max;
  }

  addAll(other: Buckets): void {
    for (let i = 0; i < other.start.length; i++) {
      this.add(other.start[i]!, other.count[i]!, other.sum[i]!, other.min[i]!, other.max[i]!);
    }
  }

  /** The buckets in ascending order of start. */
  sorted(): Buckets {
    const b = this.b;
    const order = b.start.map((_, i) => i).sort((x, y) => b.start[x]! - b.start[y]!);
    return {
      start: order.map((i) => b.start[i]!),
      count: order.map((i) => b.count[i]!),
      sum: order.map((i) => b.sum[i]!),
      min: order.map((i) => b.min[i]!),
      max: order.map((i) => b.max[i]!),
    };
  }
}
