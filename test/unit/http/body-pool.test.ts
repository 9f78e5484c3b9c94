import { describe, expect, it } from 'vitest';
import { BodyPool } from '../../../src/http/body-pool.js';

describe('BodyPool', () => {
  it('gives buffers of a power of two at least as large as asked, and the same one again once given back', () => {
    const pool = new BodyPool(1 << 24);
    const a = pool.take(20_000)!;
    expect(a.length).toBe(32 * 1024);
    const b = pool.take(20_000)!;
    expect(b).not.toBe(a);
    pool.give(a);
    expect(pool.kept).toBe(32 * 1024);
    expect(pool.take(17_000)).toBe(a);
    expect(pool.kept).toBe(0);
    expect(pool.take(40_000)!.length).toBe(64 * 1024);
  });

  it('does not pool small bodies (single events) nor very large ones', () => {
    const pool = new BodyPool(1 << 24);
    expect(pool.take(170)).toBeUndefined();
    expect(pool.take(64 << 20)).toBeUndefined();
  });

  it('keeps at most maxKeptBytes of free buffers', () => {
    const pool = new BodyPool(100 * 1024);
    const bufs = [pool.take(40_000)!, pool.take(40_000)!];
    for (const b of bufs) pool.give(b);
    expect(pool.kept).toBe(64 * 1024); // the second would have made 128 KiB
  });

  it('refuses a buffer it did not hand out, even one of its sizes', () => {
    const pool = new BodyPool(1 << 24);
    expect(() => pool.give(Buffer.alloc(50_000))).toThrow(RangeError);
    expect(() => pool.give(Buffer.alloc(64 * 1024))).toThrow(RangeError);
  });

  it('refuses a buffer given back twice, whether or not it has room to keep it', () => {
    const roomy = new BodyPool(1 << 24);
    const a = roomy.take(20_000)!;
    roomy.give(a);
    expect(() => roomy.give(a)).toThrow(RangeError);
    // Taken again, it is out once more, and given back once more.
    expect(roomy.take(20_000)).toBe(a);
    roomy.give(a);
    const full = new BodyPool(0);
    const b = full.take(20_000)!;
    full.give(b);
    expect(full.kept).toBe(0);
    expect(() => full.give(b)).toThrow(RangeError);
  });
});
