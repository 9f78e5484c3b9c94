import { describe, expect, it } from 'vitest';
import { idColumn, idStrings } from '../../../src/codec/id-column.js';
import { pack } from '../../../src/codec/msgpack.js';
import { BatchBuilder, countDevices, packBatch, packColumns, unpackBatch, type DeviceCount } from '../../../src/shard/protocol.js';
import { TaskSchema } from '../../../src/shard/tasks.js';
import { named } from '../../support/named-batch.js';
import { olderVersion } from '../../support/older-batches.js';

describe('BatchBuilder -> finish -> unpackBatch', () => {
  it('round-trips events columnar: ids, times, metric and tag runs', () => {
    const b = new BatchBuilder();
    b.add(0, 'd1', 'e1', 1_736_935_200_123, { cpu: 1.5, mem: -2 }, ['a', 'b']);
    b.add(3, 'd2', 'e2', -5, {}, []);
    b.add(7, 'd1', 'e3', 0, { disk: 0.1 }, ['c']);
    expect(b.length).toBe(3);
    expect(b.positions).toEqual([0, 3, 7]);
    const buf = b.finish();
    expect(buf).toBeInstanceOf(ArrayBuffer);
    const batch = unpackBatch(buf);
    expect(batch.strings).toEqual(['d1', 'cpu', 'mem', 'a', 'b', 'd2', 'disk', 'c']);
    expect([...batch.devices]).toEqual([0, 5, 0]);
    expect(named(batch).deviceIds).toEqual(['d1', 'd2', 'd1']);
    expect(idStrings(batch.ids)).toEqual(['e1', 'e2', 'e3']);
    expect(batch.ids.chars).toBeInstanceOf(Uint8Array);
    expect([...batch.ids.ends]).toEqual([2, 4, 6]);
    expect(batch.ts).toBeInstanceOf(Float64Array);
    expect(Array.from(batch.ts)).toEqual([1_736_935_200_123, -5, 0]);
    expect(batch.metricEnds).toBeInstanceOf(Uint32Array);
    expect(Array.from(batch.metricEnds)).toEqual([2, 2, 3]);
    expect(named(batch).metricNames).toEqual(['cpu', 'mem', 'disk']);
    expect(batch.metricValues).toBeInstanceOf(Float64Array);
    expect(Array.from(batch.metricValues)).toEqual([1.5, -2, 0.1]);
    expect(batch.tagEnds).toBeInstanceOf(Uint32Array);
    expect(Array.from(batch.tagEnds)).toEqual([2, 2, 3]);
    expect(named(batch).tags).toEqual(['a', 'b', 'c']);
  });

  it('unpacks what build() describes', () => {
    const b = new BatchBuilder();
    b.add(0, 'd', 'e', 42, { x: 1 }, ['t']);
    expect(unpackBatch(b.finish())).toEqual(b.build());
  });

  it('keeps floats bit-exact, including extremes', () => {
    const values = [0.1, -0, 1e308, -1e-308, Number.MIN_VALUE, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2];
    const b = new BatchBuilder();
    const metrics: Record<string, number> = {};
    values.forEach((v, i) => (metrics[`m${i}`] = v));
    b.add(0, 'd', 'e', 8.64e15, metrics, []);
    const batch = unpackBatch(b.finish());
    expect(Array.from(batch.metricValues)).toEqual(values);
    expect(Object.is(batch.metricValues[1], -0)).toBe(true);
    expect(batch.ts[0]).toBe(8.64e15);
  });

  it('keeps unicode ids, names and tags, and metric names like __proto__', () => {
    const b = new BatchBuilder();
    const metrics = JSON.parse('{"__proto__": 1, "constructor": 2, "température": 3}') as Record<string, number>;
    b.add(0, 'dév 🚀', 'é"\\', 1, metrics, ['ü', '']);
    const batch = unpackBatch(b.finish());
    expect(named(batch).deviceIds).toEqual(['dév 🚀']);
    expect(idStrings(batch.ids)).toEqual(['é"\\']);
    expect(batch.ids.chars).toBeInstanceOf(Uint8Array); // é is below 256: still a byte
    // One code unit above 255 makes the batch's ids two bytes each, the others' included.
    const wide = new BatchBuilder();
    wide.add(0, 'd', 'a', 1, {}, []);
    wide.add(1, 'd', 'id 🚀', 2, {}, []);
    wide.add(2, 'd', '', 3, {}, []);
    const w = unpackBatch(wide.finish());
    expect(w.ids.chars).toBeInstanceOf(Uint16Array);
    expect(idStrings(w.ids)).toEqual(['a', 'id 🚀', '']);
    expect(named(batch).metricNames).toEqual(['__proto__', 'constructor', 'température']);
    expect(named(batch).tags).toEqual(['ü', '']);
  });

  it('an empty batch round-trips to empty columns', () => {
    const batch = unpackBatch(new BatchBuilder().finish());
    expect(batch.devices.length).toBe(0);
    expect(batch.strings).toEqual([]);
    expect(batch.ts.length).toBe(0);
    expect(batch.metricEnds.length).toBe(0);
  });

  it('finish() gives a buffer of its own (transferable without detaching anything else)', () => {
    const b = new BatchBuilder();
    b.add(0, 'd', 'e', 1, { x: 1 }, []);
    const one = b.finish();
    const two = b.finish();
    expect(one).not.toBe(two);
    structuredClone(one, { transfer: [one] });
    expect(one.byteLength).toBe(0);
    expect(idStrings(unpackBatch(two).ids)).toEqual(['e']);
  });

  it('sends each distinct device, metric and tag once, however many events name it', () => {
    const few = new BatchBuilder();
    const many = new BatchBuilder();
    few.add(0, 'device-with-a-long-name', 'e0', 1, { 'metric-with-a-long-name': 1 }, ['tag-with-a-long-name']);
    for (let i = 0; i < 100; i++) many.add(i, 'device-with-a-long-name', `e${i}`, i, { 'metric-with-a-long-name': i }, ['tag-with-a-long-name']);
    // 99 more events cost their ids, times, values and indexes (~41 bytes each), not the 69 bytes of names again
    expect(many.finish().byteLength - few.finish().byteLength).toBeLessThan(99 * 45);
  });

  it('reads the batches of logs written before names were indexed (the in-memory form, ids as strings)', () => {
    const b = new BatchBuilder();
    b.add(0, 'd1', 'e1', 5, { x: 1, y: 2 }, ['t']);
    b.add(1, 'd2', 'e2', 6, {}, []);
    const { eventIds, ...inMemory } = named(b.build());
    // Its names get a string list of their own order: the same batch, read by name.
    expect(named(unpackBatch(pack({ ...inMemory, eventIds })))).toEqual(named(b.build()));
    expect(eventIds).toEqual(['e1', 'e2']);
  });

  it('reads the batches of logs written with each column a msgpack typed array (ids as strings)', () => {
    const b = new BatchBuilder();
    b.add(0, 'd1', 'e1', 5, { x: 1, y: 2 }, ['t']);
    b.add(1, 'd2', 'e2', 6, {}, []);
    const { ids, ...columns } = packColumns(b, idColumn(b.eventIds));
    expect(unpackBatch(pack({ ...columns, eventIds: idStrings(ids) }))).toEqual(b.build());
  });

  it('reads the numeric columns in place from a batch in a buffer of its own, and from any offset of a larger one', () => {
    const b = new BatchBuilder();
    for (let i = 0; i < 300; i++) b.add(i, `d${i % 7}`, `e${i}`, 1e12 + i, { x: i / 3, y: -i }, i % 2 ? ['t'] : []);
    const want = b.build();
    const own = b.finish();
    const inPlace = unpackBatch(own);
    expect(inPlace).toEqual(want);
    expect(inPlace.ts.buffer).toBe(own);
    expect(inPlace.metricValues.buffer).toBe(own);
    const bytes = new Uint8Array(own);
    for (let offset = 1; offset <= 16; offset++) {
      const larger = new Uint8Array(bytes.length + 16);
      larger.set(bytes, offset);
      const batch = unpackBatch(larger.subarray(offset, offset + bytes.length));
      expect(batch).toEqual(want);
      // In place exactly when the columns fall on a multiple of 8.
      if (offset % 8 === 0) expect(batch.ts.buffer).toBe(larger.buffer);
      else expect(batch.ts.buffer).not.toBe(larger.buffer);
    }
  });

  it('a transient unpack reads unaligned columns through a reused buffer; other batches keep columns of their own', () => {
    const bytesOf = (k: number) => {
      const b = new BatchBuilder();
      // The second batch is larger than the first: the reused buffer has to grow.
      for (let i = 0; i < 50 * k; i++) b.add(i, 'd', `e${k}-${i}`, k * 1000 + i, { x: k + i }, []);
      const own = new Uint8Array(b.finishBytes());
      const shifted = new Uint8Array(own.length + 1).subarray(1);
      shifted.set(own);
      return { shifted, want: b.build() };
    };
    const one = bytesOf(1);
    const two = bytesOf(2);
    const kept = unpackBatch(one.shifted);
    const first = unpackBatch(one.shifted, true);
    expect(first).toEqual(one.want);
    const second = unpackBatch(two.shifted, true);
    expect(second).toEqual(two.want);
    expect(kept).toEqual(one.want);
    const third = unpackBatch(one.shifted, true);
    expect(third).toEqual(one.want);
    expect(third.ts.buffer).toBe(second.ts.buffer); // grown once, then reused
  });

  it('refuses a batch whose counts do not fit its bytes', () => {
    const b = new BatchBuilder();
    b.add(0, 'd', 'e', 1, { x: 1 }, ['t']);
    const bytes = Buffer.from(b.finishBytes());
    const more = Buffer.from(bytes);
    more.writeUInt32LE(1000, 4); // a thousand events, in the bytes of one
    expect(() => unpackBatch(more)).toThrow(RangeError);
    const two = Buffer.from(bytes);
    two.writeUInt32LE(2, 4); // two events' columns, one event id: the columns run into the ids
    expect(() => unpackBatch(two)).toThrow();
    expect(idStrings(unpackBatch(bytes).ids)).toEqual(['e']);
  });

  it('refuses a batch of another version, with reserved bytes set, or whose runs or names do not fit its lists', () => {
    const b = new BatchBuilder();
    b.add(0, 'd', 'e0', 1, { x: 1, y: 2 }, ['t']);
    b.add(1, 'd', 'e1', 2, { x: 3 }, ['t', 'u']);
    const good = Buffer.from(b.finishBytes());
    expect(unpackBatch(good)).toEqual(b.build());
    const changed = (edit: (c: Buffer) => void) => {
      const c = Buffer.from(good);
      edit(c);
      return c;
    };
    expect(() => unpackBatch(changed((c) => (c[1] = 4)))).toThrow(/version/);
    expect(() => unpackBatch(changed((c) => (c[3] = 1)))).toThrow(/reserved/);
    expect(() => unpackBatch(changed((c) => (c[2] = 3)))).toThrow(/bytes per code unit/);
    // One id character more, in the bytes of the ones it has: the string list no longer ends at the end.
    expect(() => unpackBatch(changed((c) => c.writeUInt32LE(5, 20)))).toThrow(RangeError);
    // The first id ending past the second's end.
    const idEndsAt = 24 + 8 * (2 + 3) + 4 * (3 * 2 + 3 + 3);
    expect(() => unpackBatch(changed((c) => c.writeUInt32LE(5, idEndsAt)))).toThrow(/out of order/);
    // The last id ending short of the characters.
    expect(() => unpackBatch(changed((c) => c.writeUInt32LE(3, idEndsAt + 4)))).toThrow(/do not end/);
    // One metric entry fewer and three tag entries more: the same column bytes, but the runs no
    // longer end where their columns do.
    expect(() => unpackBatch(changed((c) => (c.writeUInt32LE(2, 8), c.writeUInt32LE(6, 12))))).toThrow(RangeError);
    // The first event's device index past the string list.
    const devicesAt = 24 + 8 * (2 + 3);
    expect(() => unpackBatch(changed((c) => c.writeUInt32LE(99, devicesAt)))).toThrow(/string list/);
  });

  it('reads version-1 and version-2 batches (ids as a msgpack list of strings)', () => {
    const b = new BatchBuilder();
    b.add(0, 'd1', 'e1', 5, { x: 1, y: 2 }, ['t']);
    b.add(1, 'd2', 'e2', 6, {}, []);
    b.add(2, 'd1', 'é 🚀', 7, { x: 3 }, []);
    const want = b.build();
    expect(want.ids.chars).toBeInstanceOf(Uint16Array);
    const v3 = b.finishBytes();
    expect(unpackBatch(olderVersion(v3, 1))).toEqual(want);
    const v2 = olderVersion(v3, 2);
    expect(v2[1]).toBe(2);
    expect(unpackBatch(v2)).toEqual(want);
    const counts = new Map<string, DeviceCount>();
    countDevices(v2, counts);
    // Version 2 holds no count of the ids' code units.
    expect([...counts]).toEqual([
      ['d1', { events: 2, idChars: 0 }],
      ['d2', { events: 1, idChars: 0 }],
    ]);
    // Version 2's ids: as many as the events, all strings.
    const names = Buffer.from(pack(want.strings));
    const head = v2.subarray(0, v2.length - names.length - pack(idStrings(want.ids)).length);
    expect(() => unpackBatch(Buffer.concat([head, names, Buffer.from(pack(['e1']))]))).toThrow(/as many ids/);
    expect(() => unpackBatch(Buffer.concat([head, names, Buffer.from(pack(['e1', 2, 'e3']))]))).toThrow(/not a string/);
  });

  it('countDevices adds up the events of each device and their ids\' code units, in order of first appearance, and skips what it cannot read', () => {
    const b = new BatchBuilder();
    ['a', 'b', 'a', 'c', 'a', 'b'].forEach((d, i) => b.add(i, d, i === 4 ? 'e-long-4' : `e${i}`, i, { x: i }, ['t']));
    const counts = new Map<string, DeviceCount>([['c', { events: 10, idChars: 25 }]]);
    countDevices(b.finishBytes(), counts);
    const want = [
      ['c', { events: 11, idChars: 27 }],
      ['a', { events: 3, idChars: 2 + 2 + 8 }],
      ['b', { events: 2, idChars: 4 }],
    ];
    expect([...counts]).toEqual(want);
    countDevices(pack({ strings: ['a'] }), counts); // an older format: not counted
    countDevices(new Uint8Array([0xc1, 2, 0, 0]), counts); // cut short
    expect([...counts]).toEqual(want);
  });

  it('packBatch of the events a filter keeps unpacks to a batch of exactly those events', () => {
    const all = new BatchBuilder();
    const kept = new BatchBuilder();
    const keep = (i: number) => i % 4 !== 1;
    for (let i = 0; i < 10; i++) {
      const metrics: Record<string, number> = i % 2 ? { a: i } : { b: i, c: -i };
      const args = [`d${i % 3}`, `e${i}`, i, metrics, i % 3 ? ['x', `y${i}`] : []] as const;
      all.add(i, ...args);
      if (keep(i)) kept.add(i, ...args);
    }
    const cut = unpackBatch(packBatch(all.build(), keep));
    expect(cut.ids.ends).toHaveLength(7);
    expect(cut).toEqual(kept.build());
    expect(unpackBatch(packBatch(all.build()))).toEqual(all.build());
  });

  it('round-trips a large batch', () => {
    const b = new BatchBuilder();
    for (let i = 0; i < 5000; i++) b.add(i, `d${i % 17}`, `e${i}`, i * 1000, { a: i, b: -i }, i % 2 ? ['x'] : []);
    const batch = unpackBatch(b.finish());
    expect(batch.ids.ends.length).toBe(5000);
    expect(idStrings(batch.ids)[4999]).toBe('e4999');
    expect(batch.metricEnds[4999]).toBe(10_000);
    expect(batch.tagEnds[4999]).toBe(2500);
    expect(batch.metricValues[9999]).toBe(-4999);
  });
});

describe('TaskSchema', () => {
  it('accepts every task shape', () => {
    const tasks = [
      { op: 'ingest', batch: new BatchBuilder().finish() },
      { op: 'recent', deviceId: 'd', fromMs: 0, toMs: 1, limit: 10 },
      { op: 'aggregate', metric: 'cpu', fromMs: 0, toMs: 1, intervalMs: 60_000, maxBuckets: 10 },
      { op: 'aggregate', metric: 'cpu', deviceId: 'd', fromMs: 0, toMs: 1, intervalMs: 60_000, maxBuckets: 10 },
      { op: 'search', tags: ['a'], fromMs: 0, toMs: 1, limit: 1 },
      { op: 'addRule', rule: { id: 1, device_id: 'd', metric: 'm', op: '>=', threshold: 2 } },
      { op: 'removeRule', id: 1 },
      { op: 'listRules' },
      { op: 'stats' },
    ];
    for (const t of tasks) expect(TaskSchema.safeParse(t).success, t.op).toBe(true);
  });

  it('accepts the unbounded ranges (fromMs -Infinity, toMs Infinity) that the routes send when from_time/to_time are absent', () => {
    for (const t of [
      { op: 'recent', deviceId: 'd', fromMs: -Infinity, toMs: Infinity, limit: 10 },
      { op: 'aggregate', metric: 'cpu', fromMs: -Infinity, toMs: Infinity, intervalMs: 60_000, maxBuckets: 10 },
      { op: 'search', tags: ['a'], fromMs: -Infinity, toMs: Infinity, limit: 1 },
    ]) {
      expect(TaskSchema.safeParse(t).success, t.op).toBe(true);
    }
  });

  it('refuses unknown ops and malformed tasks', () => {
    expect(TaskSchema.safeParse({ op: 'drop' }).success).toBe(false);
    expect(TaskSchema.safeParse({ op: 'aggregate', metric: 'cpu', fromMs: 0, toMs: 1, intervalMs: 0, maxBuckets: 1 }).success).toBe(false);
    expect(TaskSchema.safeParse({ op: 'addRule', rule: { id: 1, device_id: 'd', metric: 'm', op: '=>', threshold: 2 } }).success).toBe(false);
  });
});
