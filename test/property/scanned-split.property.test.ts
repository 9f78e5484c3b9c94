// ScannedBatch.split against the obvious model: each part, unpacked as its shard unpacks it, is
// exactly the batch's events of that shard's devices, in batch order, at the positions it names.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idColumn, idStrings } from '../../src/codec/id-column.js';
import { BatchBuilder, finishPacked, packColumns, ScannedBatch, unpackBatch } from '../../src/shard/protocol.js';
import { shardOf } from '../../src/shard/routing.js';

const name = fc.string({ minLength: 1, maxLength: 6 });
const event = fc.record({
  device: fc.constantFrom('a', 'b', 'c', 'dev-1', 'dev-2', 'ü', '__proto__'),
  // Ids of one byte a code unit, and of two (a batch holding one is all two-byte).
  id: fc.oneof(name, fc.string({ unit: 'binary', minLength: 1, maxLength: 4 })),
  ts: fc.integer({ min: 0, max: 2 ** 40 }),
  metrics: fc.dictionary(name, fc.double({ noNaN: true }), { maxKeys: 4 }),
  tags: fc.array(name, { maxLength: 3 }),
});

describe('ScannedBatch.split', () => {
  it('gives each shard exactly its events, in order, with their places in the batch', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), fc.integer({ min: 1, max: 5 }), (events, shards) => {
        const b = new BatchBuilder();
        events.forEach((e, i) => b.add(i, e.device, e.id, e.ts, e.metrics, e.tags));
        const scanned = new ScannedBatch(packColumns(b, idColumn(b.eventIds)));
        const whole = scanned.packed;
        const parts = scanned.split(shards, (d) => shardOf(d, shards));
        expect(parts).toHaveLength(shards);
        const seen: number[] = [];
        parts.forEach((part, s) => {
          const mine = events.map((e, i) => [e, i] as const).filter(([e]) => shardOf(e.device, shards) === s);
          if (mine.length === 0) return expect(part).toBeUndefined();
          expect([...part!.positions]).toEqual(mine.map(([, i]) => i));
          const got = unpackBatch(finishPacked(part!.packed));
          const want = new BatchBuilder();
          for (const i of part!.positions) want.addFrom(whole, i);
          // A part keeps the batch's bytes per id code unit, which a batch of only its ids might not need.
          const { ids: gotIds, ...gotRest } = got;
          const { ids: wantIds, ...wantRest } = want.build();
          expect(gotRest).toEqual(wantRest);
          expect(idStrings(gotIds)).toEqual(idStrings(wantIds));
          expect(gotIds.chars.BYTES_PER_ELEMENT).toBe(scanned.ids.chars.BYTES_PER_ELEMENT);
          seen.push(...part!.positions);
        });
        expect(seen.sort((x, y) => x - y)).toEqual(events.map((_, i) => i));
      }),
    );
  });
});
