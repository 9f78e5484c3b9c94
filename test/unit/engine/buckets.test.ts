import { describe, expect, it } from 'vitest';
import { BucketAccumulator, tooManyBuckets } from '../../../src/engine/buckets.js';
import { ApiError } from '../../../src/errors.js';

describe('BucketAccumulator', () => {
  it('folds parts with the same start: counts and sums add, min and max widen', () => {
    const acc = new BucketAccumulator(10);
    acc.add(60, 2, 10, 3, 7);
    acc.add(60, 1, -4, -4, -4);
    acc.add(60, 3, 30, 5, 12);
    expect(acc.size).toBe(1);
    expect(acc.sorted()).toEqual({ start: [60], count: [6], sum: [36], min: [-4], max: [12] });
  });

  it('sorted() answers buckets in ascending order of start whatever order they were added in', () => {
    const acc = new BucketAccumulator(10);
    acc.add(300, 1, 3, 3, 3);
    acc.add(-60, 1, 1, 1, 1);
    acc.add(120, 1, 2, 2, 2);
    expect(acc.sorted()).toEqual({ start: [-60, 120, 300], count: [1, 1, 1], sum: [1, 2, 3], min: [1, 2, 3], max: [1, 2, 3] });
  });

  it('addAll merges another columnar answer (as the front merges shards)', () => {
    const acc = new BucketAccumulator(10);
    acc.add(0, 1, 5, 5, 5);
    acc.addAll({ start: [0, 60], count: [2, 1], sum: [4, 9], min: [1, 9], max: [3, 9] });
    expect(acc.sorted()).toEqual({ start: [0, 60], count: [3, 1], sum: [9, 9], min: [1, 9], max: [5, 9] });
  });

  it('refuses one bucket more than its cap with a 422 TOO_MANY_BUCKETS that says to widen the interval', () => {
    const acc = new BucketAccumulator(2);
    acc.add(0, 1, 1, 1, 1);
    acc.add(60, 1, 1, 1, 1);
    acc.add(0, 1, 1, 1, 1); // merging into an existing bucket is fine at the cap
    let err: unknown;
    try {
      acc.add(120, 1, 1, 1, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.code).toBe('TOO_MANY_BUCKETS');
    expect(e.status).toBe(422);
    expect(e.issues).toEqual([expect.objectContaining({ loc: ['query', 'interval'], type: 'too_many_buckets' })]);
    expect(e.message).toMatch(/wider interval/);
    expect(JSON.parse(e.body())).toEqual({ detail: e.issues });
  });

  it('tooManyBuckets names the cap', () => {
    expect(tooManyBuckets(7).message).toContain('7');
  });

  it('an empty accumulator answers empty columns', () => {
    expect(new BucketAccumulator(1).sorted()).toEqual({ start: [], count: [], sum: [], min: [], max: [] });
  });
});
