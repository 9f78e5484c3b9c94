// The slab's blocks: never two taken blocks overlapping, each aligned to its size and big enough,
// never refused while no block is out, and the whole slab free again once every block is back.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchSlab } from '../../../src/shard/batch-slab.js';

const blockSize = (bytes: number) => Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(bytes, 1))));

describe('BatchSlab', () => {
  it('hands out aligned blocks that never overlap, against a model of what is taken', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ take: fc.integer({ min: 1, max: 40_000 }) }), fc.record({ give: fc.nat() })), { maxLength: 200 }),
        (ops) => {
          const slab = new BatchSlab(64 * 1024);
          const taken: { at: number; bytes: number }[] = [];
          for (const op of ops) {
            if ('take' in op) {
              const at = slab.take(op.take);
              if (at < 0) {
                // Refused (no room carved or free for its size): never while no block is out.
                expect(taken.length).toBeGreaterThan(0);
                continue;
              }
              const size = blockSize(op.take);
              expect(at % size).toBe(0);
              expect(at + size).toBeLessThanOrEqual(64 * 1024);
              for (const t of taken) expect(at + size <= t.at || t.at + blockSize(t.bytes) <= at).toBe(true);
              taken.push({ at, bytes: op.take });
            } else if (taken.length > 0) {
              const [t] = taken.splice(op.give % taken.length, 1);
              slab.give(t!.at, t!.bytes);
            }
            expect(slab.taken).toBe(taken.length);
          }
          for (const t of taken.splice(0)) slab.give(t.at, t.bytes);
          // All back: the slab starts over, so one block of the whole slab fits.
          expect(slab.take(64 * 1024)).toBe(0);
        },
      ),
    );
  });

  it('reuses a given-back block of the same size', () => {
    const slab = new BatchSlab(1 << 20);
    const a = slab.take(5000);
    const b = slab.take(5000);
    slab.give(a, 5000);
    expect(slab.take(8000)).toBe(a);
    expect(b).not.toBe(a);
  });

  it('refuses to take back a block it did not hand out', () => {
    const slab = new BatchSlab(1 << 20);
    expect(() => slab.give(0, 100)).toThrow(RangeError);
    const a = slab.take(3000);
    expect(() => slab.give(a + 1024, 3000)).toThrow(RangeError);
    expect(() => slab.give(a + 4096, 3000)).toThrow(RangeError);
  });

  it('refuses a block given back twice, while other blocks are out too', () => {
    const slab = new BatchSlab(1 << 20);
    const a = slab.take(3000);
    const b = slab.take(3000);
    slab.give(a, 3000);
    // Accepted, this would count b's block as back and start the slab over under it.
    expect(() => slab.give(a, 3000)).toThrow(RangeError);
    expect(slab.taken).toBe(1);
    expect(slab.take(3000)).toBe(a);
    expect(slab.take(3000)).not.toBe(b);
  });
});
