import { describe, expect, it } from 'vitest';
import { SortedColumns } from '../../../src/engine/sorted-columns.js';
import { randInt, rng } from '../helpers.js';

const keysOf = (c: SortedColumns): number[] => Array.from(c.keys.subarray(c.start, c.end));
const colOf = (c: SortedColumns, i: number): number[] => Array.from(c.cols[i]!.subarray(c.start, c.end));

describe('SortedColumns', () => {
  it('starts empty with one allocation per column', () => {
    const c = new SortedColumns(3);
    expect(c.length).toBe(0);
    expect(c.cols).toHaveLength(3);
    expect(c.bytes).toBe(3 * 8 * 8);
  });

  it('insert appends keys that arrive in order', () => {
    const c = new SortedColumns(1);
    for (const k of [1, 2, 3, 5, 8]) c.insert(k);
    expect(keysOf(c)).toEqual([1, 2, 3, 5, 8]);
    expect(c.length).toBe(5);
  });

  it('insert places a late key by binary search and keeps the other columns aligned with their keys', () => {
    const c = new SortedColumns(2);
    for (const k of [10, 30, 20, 5, 40, 25]) {
      const at = c.insert(k);
      c.cols[1]![at] = k * 100;
    }
    expect(keysOf(c)).toEqual([5, 10, 20, 25, 30, 40]);
    expect(colOf(c, 1)).toEqual([500, 1000, 2000, 2500, 3000, 4000]);
  });

  it('insert puts a key after the keys equal to it', () => {
    const c = new SortedColumns(2);
    const put = (k: number, v: number) => {
      c.cols[1]![c.insert(k)] = v;
    };
    put(1, 1);
    put(3, 2);
    put(1, 3); // late, equal to the first
    put(3, 4);
    expect(keysOf(c)).toEqual([1, 1, 3, 3]);
    expect(colOf(c, 1)).toEqual([1, 3, 2, 4]);
  });

  it('lowerBound and upperBound return absolute rows of the first key >= k and > k', () => {
    const c = new SortedColumns(1);
    for (const k of [0, 1, 2, 2, 2, 3, 9]) c.insert(k);
    c.dropFront(1); // live rows are now absolute [1, 7)
    expect(c.start).toBe(1);
    expect(c.lowerBound(2)).toBe(2);
    expect(c.upperBound(2)).toBe(5);
    expect(c.lowerBound(-100)).toBe(1);
    expect(c.upperBound(100)).toBe(7);
    expect(c.lowerBound(4)).toBe(6);
    expect(c.upperBound(1)).toBe(2);
  });

  it('dropFront removes the oldest rows and resets to empty when all are gone', () => {
    const c = new SortedColumns(1);
    for (const k of [1, 2, 3, 4]) c.insert(k);
    c.dropFront(2);
    expect(keysOf(c)).toEqual([3, 4]);
    c.dropFront(2);
    expect(c.length).toBe(0);
    expect(c.start).toBe(0);
    expect(c.end).toBe(0);
    c.insert(7);
    expect(keysOf(c)).toEqual([7]);
  });

  it('grows by doubling when full and keeps every row', () => {
    const c = new SortedColumns(2, 4);
    for (let k = 0; k < 9; k++) {
      const at = c.insert(k); // before reading cols: growing replaces the column arrays
      c.cols[1]![at] = -k;
    }
    expect(c.keys.length).toBe(16);
    expect(keysOf(c)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(colOf(c, 1)).toEqual([-0, -1, -2, -3, -4, -5, -6, -7, -8]);
  });

  it('grows when full whatever the initial allocation, even one of fewer than 4 rows', () => {
    for (const initialRows of [1, 2, 3]) {
      const c = new SortedColumns(1, initialRows);
      for (let k = 0; k < 10; k++) c.insert(k);
      expect({ initialRows, keys: keysOf(c) }).toEqual({ initialRows, keys: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    }
  });

  it('slides rows back to the front instead of growing when a quarter of the allocation is free there', () => {
    const c = new SortedColumns(1, 8);
    for (let k = 0; k < 8; k++) c.insert(k);
    c.dropFront(4);
    c.insert(8);
    expect(c.keys.length).toBe(8);
    expect(c.start).toBe(0);
    expect(keysOf(c)).toEqual([4, 5, 6, 7, 8]);
  });

  it('keeps memory within twice the live rows (plus slack) under a sliding window', () => {
    const c = new SortedColumns(1);
    for (let k = 0; k < 10_000; k++) {
      c.insert(k);
      if (c.length > 100) c.dropFront(1);
    }
    expect(c.length).toBe(100);
    expect(c.keys.length).toBeLessThanOrEqual(256);
    expect(keysOf(c)[0]).toBe(9_900);
  });

  it('matches a sorted reference under random inserts and front drops', () => {
    const r = rng(42);
    const c = new SortedColumns(2);
    let ref: [number, number][] = [];
    for (let step = 0; step < 3000; step++) {
      if (r() < 0.2 && ref.length > 0) {
        const n = randInt(r, 1, Math.min(5, ref.length));
        c.dropFront(n);
        ref = ref.slice(n);
      } else {
        const k = randInt(r, 0, 200);
        const at = c.insert(k);
        c.cols[1]![at] = step;
        // stable: after the equal keys
        let i = ref.length;
        while (i > 0 && ref[i - 1]![0] > k) i--;
        ref.splice(i, 0, [k, step]);
      }
      expect(c.length).toBe(ref.length);
    }
    expect(keysOf(c)).toEqual(ref.map((x) => x[0]));
    expect(colOf(c, 1)).toEqual(ref.map((x) => x[1]));
  });
});
