// DeviceGrouper: the order in which a batch's events are applied, device by device. Checked
// against a plain model over sequences of batches through one grouper (it keeps its scratch and
// its device numbers from batch to batch).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeviceGrouper } from '../../../src/shard/apply.js';
import type { EventBatch } from '../../../src/shard/protocol.js';

/** Only the columns grouping reads: the string list and each event's device (an index into it). */
const batchOf = (strings: string[], devices: number[]): EventBatch => ({ strings, devices: Uint32Array.from(devices) }) as unknown as EventBatch;

/** What group() must give: each kept device's events in batch order, devices by first event; undefined when that is the batch order with all kept. */
function model(strings: string[], devices: number[], keep: (d: string) => boolean): number[] | undefined {
  const names = devices.map((r) => strings[r]!);
  const firsts = [...new Set(names)];
  const all = firsts.every(keep);
  if (all && (firsts.length === 1 || firsts.length === names.length)) return undefined;
  return firsts.filter(keep).flatMap((d) => names.flatMap((name, i) => (name === d ? [i] : [])));
}

const NAMES = ['a', 'b', 'c', 'dd', 'e', 'f', 'g', 'h', 'i', 'j'];
// A string list (names may repeat: one device under two indexes), and events naming its entries.
const batchArb = fc
  .array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 12 })
  .chain((strings) => fc.record({ strings: fc.constant(strings), devices: fc.array(fc.nat({ max: strings.length - 1 }), { minLength: 1, maxLength: 60 }) }));

describe('DeviceGrouper', () => {
  it('orders each batch as the model does, batch after batch, with and without a filter', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ batch: batchArb, kept: fc.option(fc.subarray(NAMES)) }), { minLength: 1, maxLength: 8 }), (batches) => {
        const grouper = new DeviceGrouper();
        for (const { batch, kept } of batches) {
          const keep = kept === null ? undefined : (d: string) => kept.includes(d);
          const got = grouper.group(batchOf(batch.strings, batch.devices), keep);
          const want = model(batch.strings, batch.devices, keep ?? (() => true));
          expect(got === undefined ? undefined : [...got]).toEqual(want);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('asks the filter once per device and batch, in the order of first events', () => {
    const grouper = new DeviceGrouper();
    const asked: string[] = [];
    const order = grouper.group(batchOf(['x', 'y', 'x'], [1, 0, 2, 1, 0]), (d) => (asked.push(d), d === 'x'));
    expect(asked).toEqual(['y', 'x']);
    expect([...order!]).toEqual([1, 2, 4]);
  });

  it('starts its stamps over when they run out, forgetting no device', () => {
    const grouper = new DeviceGrouper();
    expect([...grouper.group(batchOf(['p', 'q'], [0, 1, 0]))!]).toEqual([0, 2, 1]);
    (grouper as unknown as { stamp: number }).stamp = 0xffffffff;
    expect([...grouper.group(batchOf(['q', 'p'], [0, 1, 0, 1]))!]).toEqual([0, 2, 1, 3]);
    expect([...grouper.group(batchOf(['p', 'r'], [1, 0, 1]))!]).toEqual([0, 2, 1]);
  });
});
