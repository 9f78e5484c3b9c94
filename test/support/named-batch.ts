// An event batch with its names and ids as strings (the shard sees indexes into the batch's string
// list and columns of code units), for tests to compare with what they expect.
import { idStrings } from '../../src/codec/id-column.js';
import type { BatchOfStrings, EventBatch } from '../../src/shard/protocol.js';

export type NamedBatch = BatchOfStrings;

export function named(b: EventBatch): NamedBatch {
  const names = (refs: Uint32Array) => Array.from(refs, (r) => b.strings[r]!);
  return {
    deviceIds: names(b.devices),
    eventIds: idStrings(b.ids),
    ts: b.ts,
    metricEnds: b.metricEnds,
    metricNames: names(b.metricNames),
    metricValues: b.metricValues,
    tagEnds: b.tagEnds,
    tags: names(b.tags),
  };
}
