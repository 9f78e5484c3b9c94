// Cases of the JSON batch scan the property tests reach rarely: what it must leave to JSON.parse.
import { describe, expect, it } from 'vitest';
import { scanEventBatch } from '../../../src/api/fast-batch.js';
import { idStrings } from '../../../src/codec/id-column.js';
import { named } from '../../support/named-batch.js';
import type { ApiLimits } from '../../../src/api/schemas.js';

const limits: ApiLimits = { maxIdLength: 8, maxMetricsPerEvent: 3, maxMetricNameLength: 12, maxTagsPerEvent: 2, maxTagLength: 5, maxQueryLimit: 100 };
const scanned = (s: string) => scanEventBatch(Buffer.from(s), limits)?.packed;
const scan = (s: string) => {
  const b = scanned(s);
  return b === undefined ? undefined : { ...named(b), ids: b.ids };
};
const one = (fields: string) => `[{"event_id":"e1","device_id":"d1","timeStamp":"2025-01-15T10:00:00Z",${fields}}]`;

describe('scanEventBatch', () => {
  it('reads plain events into columns, repeated names sharing one string', () => {
    const b = scan(
      '[{"event_id":"e1","device_id":"d1","timeStamp":"2025-01-15T10:00:00Z","metrics":{"t":1.5,"c":-2},"tags":["a","b"]},\n' +
        ' { "tags" : [ ] , "metrics" : { "t" : 3e2 } , "timeStamp" : 1736935200000.9 , "device_id" : "d1" , "event_id" : "e2" } ]',
    )!;
    expect(idStrings(b.ids)).toEqual(['e1', 'e2']);
    // The ids' bytes as the body held them, one byte a character.
    expect(b.ids.chars).toBeInstanceOf(Uint8Array);
    expect([...b.ids.ends]).toEqual([2, 4]);
    expect(b.deviceIds).toEqual(['d1', 'd1']);
    expect([...b.ts]).toEqual([Date.UTC(2025, 0, 15, 10), 1736935200000]);
    expect(b.metricNames).toEqual(['t', 'c', 't']);
    expect([...b.metricValues]).toEqual([1.5, -2, 300]);
    expect([...b.metricEnds]).toEqual([2, 3]);
    expect(b.tags).toEqual(['a', 'b']);
    expect([...b.tagEnds]).toEqual([2, 2]);
    expect(idStrings(scan('[]')!.ids)).toEqual([]);
    expect(idStrings(scan(' [ ] ')!.ids)).toEqual([]);
  });

  it('leaves to JSON.parse what it does not read the same way, or what is not a valid event', () => {
    for (const body of [
      one('"metrics":{"b":1,"1":2}'), // Object.keys lists index-like keys first
      one('"metrics":{"a":1,"a":2}'), // the last value wins, at the first one's place
      one('"metrics":{"constructor":1}'),
      one('"metrics":{"__proto__":1}'),
      one('"metrics":{"a\\u0062":1}'), // escapes
      one('"metrics":{"é":1}'), // non-ASCII
      one('"metrics":{"a":1e400}'), // not finite
      one('"metrics":{"a":01}'),
      one('"metrics":{"a":1.}'),
      one('"metrics":{"a":-}'),
      one('"metrics":{"a":"1"}'),
      one('"metrics":{"a":1,"b":2,"c":3,"d":4}'), // too many
      one('"metrics":{"abcdefghijklm":1}'), // too long
      one('"metrics":{},"tags":["x","y","z"]'), // too many
      one('"metrics":{},"tags":[""]'),
      one('"metrics":{},"tags":null'),
      one('"metrics":{},"extra":1'),
      one('"metrics":{},"event_id":"again"'),
      '[{"event_id":"e1","device_id":"d1","timeStamp":"2025-02-30T00:00:00Z","metrics":{}}]',
      '[{"event_id":"","device_id":"d1","timeStamp":0,"metrics":{}}]',
      '[{"event_id":"e\u007f","device_id":"d1","timeStamp":0,"metrics":{}}]',
      '[{"event_id":"e1","device_id":"d1","timeStamp":0}]',
      '[{"event_id":"e1","device_id":"d1","timeStamp":0,"metrics":{}},]',
      '[{"event_id":"e1","device_id":"d1","timeStamp":0,"metrics":{}}] x',
      '\ufeff[]',
      '{}',
      '',
    ]) {
      expect(scan(body), body).toBeUndefined();
    }
  });
});
