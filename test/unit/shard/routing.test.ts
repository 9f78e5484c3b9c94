import { describe, expect, it } from 'vitest';
import { hashDeviceId, shardOf } from '../../../src/shard/routing.js';

describe('hashDeviceId', () => {
  it('is 32-bit FNV-1a: stable known values (a data-format promise)', () => {
    expect(hashDeviceId('')).toBe(0x811c9dc5);
    expect(hashDeviceId('a')).toBe(0xe40c292c);
    expect(hashDeviceId('foobar')).toBe(0xbf9cf968);
  });

  it('is an unsigned 32-bit integer', () => {
    for (const id of ['sensor-1', 'x'.repeat(1000), 'é🚀', '\uffff']) {
      const h = hashDeviceId(id);
      expect(Number.isInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
      expect(h).toBeLessThan(2 ** 32);
    }
  });

  it('hashes UTF-16 code units, so different strings of the same length differ', () => {
    expect(hashDeviceId('é')).not.toBe(hashDeviceId('e'));
    expect(hashDeviceId('ab')).not.toBe(hashDeviceId('ba'));
  });
});

describe('shardOf', () => {
  it('is the hash modulo the shard count', () => {
    expect(shardOf('foobar', 1)).toBe(0);
    expect(shardOf('foobar', 7)).toBe(0xbf9cf968 % 7);
    expect(shardOf('a', 4)).toBe(0xe40c292c % 4);
  });

  it('spreads typical device ids evenly over the shards', () => {
    for (const shards of [2, 3, 8, 16]) {
      const counts = new Array<number>(shards).fill(0);
      const n = 16_000;
      for (let i = 0; i < n; i++) counts[shardOf(`device-${i}`, shards)]!++;
      const expected = n / shards;
      for (const c of counts) expect(Math.abs(c - expected) / expected, `${shards} shards: ${counts.join(',')}`).toBeLessThan(0.15);
    }
  });

  it('is always a valid shard index', () => {
    for (let i = 0; i < 1000; i++) {
      const s = shardOf(`d${i}`, 5);
      expect(s >= 0 && s < 5 && Number.isInteger(s)).toBe(true);
    }
  });
});
