import { describe, expect, it } from 'vitest';
import { MINUTE_MS, MinuteRollup, minuteOf } from '../../../src/engine/rollups.js';
import { MIN, T0 } from '../helpers.js';

type Part = [start: number, count: number, sum: number, min: number, max: number];

const collect = (r: MinuteRollup, from: number, to: number, interval: number): Part[] => {
  const out: Part[] = [];
  r.collect(from, to, interval, (b, c, s, lo, hi) => out.push([b, c, s, lo, hi]));
  return out;
};

describe('minuteOf', () => {
  it('truncates a time to the start of its UTC minute', () => {
    expect(MINUTE_MS).toBe(60_000);
    expect(minuteOf(T0)).toBe(T0);
    expect(minuteOf(T0 + 59_999)).toBe(T0);
    expect(minuteOf(T0 + 60_000)).toBe(T0 + MIN);
  });

  it('floors times before the epoch (not towards zero)', () => {
    expect(minuteOf(-1)).toBe(-60_000);
    expect(minuteOf(-60_000)).toBe(-60_000);
    expect(minuteOf(-60_001)).toBe(-120_000);
  });
});

describe('MinuteRollup', () => {
  it('folds the samples of one minute into count, sum, min and max', () => {
    const r = new MinuteRollup();
    r.add(T0 + 1_000, 5);
    r.add(T0 + 30_000, -2);
    r.add(T0 + 59_999, 10);
    expect(r.minutes).toBe(1);
    expect(collect(r, T0, T0 + MIN, MIN)).toEqual([[T0, 3, 13, -2, 10]]);
  });

  it('keeps one row per minute, in minute order, even when samples arrive late', () => {
    const r = new MinuteRollup();
    r.add(T0 + 2 * MIN, 3);
    r.add(T0, 1);
    r.add(T0 + 2 * MIN + 5, 4);
    r.add(T0 + MIN, 2);
    r.add(T0 + 5, 10);
    expect(r.minutes).toBe(3);
    expect(collect(r, T0, T0 + 3 * MIN, MIN)).toEqual([
      [T0, 2, 11, 1, 10],
      [T0 + MIN, 1, 2, 2, 2],
      [T0 + 2 * MIN, 2, 7, 3, 4],
    ]);
  });

  it('collect only feeds minutes starting in [from, to)', () => {
    const r = new MinuteRollup();
    for (let i = 0; i < 5; i++) r.add(T0 + i * MIN, i);
    expect(collect(r, T0 + MIN, T0 + 3 * MIN, MIN).map((p) => p[0])).toEqual([T0 + MIN, T0 + 2 * MIN]);
    expect(collect(r, T0 + MIN + 1, T0 + 3 * MIN, MIN).map((p) => p[0])).toEqual([T0 + 2 * MIN]);
    expect(collect(r, T0 + 10 * MIN, T0 + 20 * MIN, MIN)).toEqual([]);
  });

  it('collect folds minutes into epoch-aligned buckets of a wider interval', () => {
    const r = new MinuteRollup();
    const base = Date.UTC(2025, 0, 15, 10, 0); // a multiple of 5 minutes
    for (let i = 0; i < 12; i++) r.add(base + i * MIN + 1, i);
    const parts = collect(r, base - 60 * MIN, base + 60 * MIN, 5 * MIN);
    expect(parts).toEqual([
      [base, 5, 0 + 1 + 2 + 3 + 4, 0, 4],
      [base + 5 * MIN, 5, 5 + 6 + 7 + 8 + 9, 5, 9],
      [base + 10 * MIN, 2, 10 + 11, 10, 11],
    ]);
  });

  it('collect starts a bucket at its epoch-aligned start even when the range begins inside it', () => {
    const r = new MinuteRollup();
    const base = Date.UTC(2025, 0, 15, 10, 0);
    r.add(base + 3 * MIN, 1);
    r.add(base + 7 * MIN, 2);
    expect(collect(r, base + 2 * MIN, base + 60 * MIN, 5 * MIN)).toEqual([
      [base, 1, 1, 1, 1],
      [base + 5 * MIN, 1, 2, 2, 2],
    ]);
  });

  it('dropBefore removes the minutes starting before the horizon and says how many went', () => {
    const r = new MinuteRollup();
    for (let i = 0; i < 5; i++) r.add(T0 + i * MIN + 30_000, i);
    expect(r.dropBefore(T0 + 2 * MIN)).toBe(2);
    expect(r.minutes).toBe(3);
    expect(r.dropBefore(T0 + 2 * MIN)).toBe(0);
    expect(collect(r, -Infinity, Infinity, MIN).map((p) => p[0])).toEqual([T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]);
    expect(r.dropBefore(Infinity)).toBe(3);
    expect(r.minutes).toBe(0);
  });

  it('agrees with a plain fold whatever mix of newest-minute, late and new-minute samples, read at any time', () => {
    const r = new MinuteRollup();
    const want = new Map<number, { count: number; sum: number; min: number; max: number }>();
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 3000; i++) {
      // Mostly the newest minutes, sometimes a late one, sometimes a jump ahead.
      const minute = Math.floor(i / 40) + (next() < 0.1 ? -Math.floor(next() * 5) : 0);
      const ts = T0 + minute * MIN + Math.floor(next() * MIN);
      const v = Math.round(next() * 1000) / 8 - 50;
      r.add(ts, v);
      const key = minuteOf(ts);
      const w = want.get(key) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity };
      want.set(key, { count: w.count + 1, sum: w.sum + v, min: Math.min(w.min, v), max: Math.max(w.max, v) });
      if (i % 250 === 0 || i === 2999) {
        const got = collect(r, -Infinity, Infinity, MINUTE_MS);
        const expected = [...want].sort((a, b) => a[0] - b[0]).map(([b, x]): Part => [b, x.count, x.sum, x.min, x.max]);
        expect(got).toEqual(expected);
        const cols = r.exportColumns();
        expect([...cols[1]!]).toEqual(expected.map((x) => x[1]));
      }
    }
  });

  it('reports the bytes of its allocation', () => {
    const r = new MinuteRollup();
    expect(r.bytes).toBe(5 * 8 * 8);
  });
});
