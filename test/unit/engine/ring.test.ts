import { describe, expect, it } from 'vitest';
import { DeviceRing } from '../../../src/engine/ring.js';
import { randInt, rng } from '../helpers.js';

interface Row {
  ts: number;
  id: string;
  tagSet: number;
  v?: number;
}

/** Logical rows, oldest first. */
function rows(r: DeviceRing, metric?: string): Row[] {
  const out: Row[] = [];
  for (let i = 0; i < r.length; i++) {
    const s = r.slot(i);
    const row: Row = { ts: r.ts[s]!, id: r.idOf(s), tagSet: r.tagSets[s]! };
    if (metric !== undefined) {
      const v = r.columnOf(metric)?.[s];
      if (v !== undefined && !Number.isNaN(v)) row.v = v;
    }
    out.push(row);
  }
  return out;
}

const put = (r: DeviceRing, ts: number, id: string, v?: number, tagSet = 0): number => {
  const s = r.insert(ts, id, tagSet);
  if (v !== undefined) r.column('m')[s] = v;
  return s;
};

const byKey = (a: Row, b: Row) => (a.ts !== b.ts ? a.ts - b.ts : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

describe('DeviceRing', () => {
  it('allocates at most 16 rows up front, never more than the capacity', () => {
    expect(new DeviceRing(100).allocated).toBe(16);
    expect(new DeviceRing(5).allocated).toBe(5);
  });

  it('reserve sizes the allocation in one step (never past capacity) and keeps a wrapped ring whole; fit gives back an overestimate', () => {
    const r = new DeviceRing(40);
    for (let i = 0; i < 16; i++) put(r, i, `e${i}`, i);
    for (let i = 0; i < 5; i++) r.dropOldest();
    for (let i = 16; i < 21; i++) put(r, i, `e${i}`, i); // wrapped: the newest rows sit before the oldest
    const before = rows(r, 'm');
    r.reserve(30);
    expect(r.allocated).toBe(30);
    expect(rows(r, 'm')).toEqual(before);
    r.reserve(20); // never shrinks
    expect(r.allocated).toBe(30);
    r.reserve(1000);
    expect(r.allocated).toBe(40);
    for (let i = 21; i < 40; i++) put(r, i, `e${i}`, i); // fills it without growing
    expect(r.allocated).toBe(40);
    expect(r.hasId('e5')).toBe(true);
    expect(r.hasId('e4')).toBe(false);
    const big = new DeviceRing(1000);
    big.reserve(900);
    for (let i = 0; i < 20; i++) put(big, i, `f${i}`, i);
    const kept = rows(big, 'm');
    big.fit();
    expect(big.allocated).toBe(32);
    expect(rows(big, 'm')).toEqual(kept);
    expect(big.hasId('f19')).toBe(true);
    big.fit(); // already fits
    expect(big.allocated).toBe(32);
  });

  it('reserve sizes the id arena for the rows to come, so their ids go in without compacting it', () => {
    const r = new DeviceRing(1000);
    for (let i = 0; i < 10; i++) put(r, i, `e${i}`, i);
    const ids = (ring: DeviceRing) => Array.from({ length: ring.length }, (_, i) => ring.idOf(ring.slot(i)));
    const before = ids(r);
    r.reserve(500, 12);
    const reserved = r.bytes;
    for (let i = 10; i < 500; i++) put(r, i, `id-${String(i).padStart(8, '0')}`, i); // 12 characters each
    expect(r.bytes).toBe(reserved); // neither the rows nor the arena grew
    expect(ids(r).slice(0, 10)).toEqual(before);
    expect(r.idOf(r.slot(499))).toBe('id-00000499');
    // Longer ids than reserved for: the arena grows as it would have.
    r.reserve(600, 1);
    for (let i = 500; i < 600; i++) put(r, i, `a-much-longer-id-${i}`, i);
    expect(r.bytes).toBeGreaterThan(reserved);
    expect(r.hasId('a-much-longer-id-599')).toBe(true);
    expect(r.hasId('id-00000123')).toBe(true);
  });

  it('keeps rows in (time, event_id) order whatever order they arrive in', () => {
    const r = new DeviceRing(10);
    put(r, 30, 'c');
    put(r, 10, 'a');
    put(r, 20, 'b');
    put(r, 20, 'a');
    put(r, 40, 'd');
    put(r, 10, 'b');
    expect(rows(r).map((x) => `${x.ts}${x.id}`)).toEqual(['10a', '10b', '20a', '20b', '30c', '40d']);
  });

  it('moves metric values and tag sets with their rows when a late event shifts them', () => {
    const r = new DeviceRing(10);
    put(r, 10, 'a', 1, 1);
    put(r, 30, 'c', 3, 3);
    put(r, 20, 'b', 2, 2);
    expect(rows(r, 'm')).toEqual([
      { ts: 10, id: 'a', tagSet: 1, v: 1 },
      { ts: 20, id: 'b', tagSet: 2, v: 2 },
      { ts: 30, id: 'c', tagSet: 3, v: 3 },
    ]);
  });

  it('column() creates a metric column that reads NaN for rows that lack the metric', () => {
    const r = new DeviceRing(4);
    put(r, 1, 'a');
    const s = put(r, 2, 'b');
    r.column('x')[s] = 5;
    put(r, 3, 'c');
    const col = r.columnOf('x')!;
    expect(rows(r).map((_, i) => col[r.slot(i)])).toEqual([NaN, 5, NaN]);
  });

  it('a new row reads NaN in every existing metric column, even in a reused slot', () => {
    const r = new DeviceRing(2);
    put(r, 1, 'a', 7);
    put(r, 2, 'b', 8);
    r.dropOldest();
    put(r, 3, 'c'); // reuses slot of 'a', which held 7
    expect(rows(r, 'm')).toEqual([
      { ts: 2, id: 'b', tagSet: 0, v: 8 },
      { ts: 3, id: 'c', tagSet: 0 },
    ]);
  });

  it('grows by doubling up to exactly its capacity', () => {
    const r = new DeviceRing(40);
    for (let i = 0; i < 17; i++) put(r, i, `e${i}`, i);
    expect(r.allocated).toBe(32);
    for (let i = 17; i < 40; i++) put(r, i, `e${i}`, i);
    expect(r.allocated).toBe(40);
    expect(rows(r, 'm').map((x) => x.v)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('refuses an insert when full: the caller must evict first', () => {
    const r = new DeviceRing(2);
    put(r, 1, 'a');
    put(r, 2, 'b');
    expect(() => put(r, 3, 'c')).toThrow(/full/);
  });

  it('dropOldest forgets the oldest row and wraps around the allocation', () => {
    const r = new DeviceRing(3);
    put(r, 1, 'a', 1);
    put(r, 2, 'b', 2);
    put(r, 3, 'c', 3);
    r.dropOldest();
    put(r, 4, 'd', 4);
    r.dropOldest();
    put(r, 0, 'z', 0); // late: sorts before c(3) and d(4)
    expect(rows(r, 'm').map((x) => [x.ts, x.id, x.v])).toEqual([
      [0, 'z', 0],
      [3, 'c', 3],
      [4, 'd', 4],
    ]);
    r.dropOldest();
    r.dropOldest();
    r.dropOldest();
    expect(r.length).toBe(0);
  });

  it('lowerBound, upperBound and lowerBoundKey answer logical indices', () => {
    const r = new DeviceRing(8);
    for (const [ts, id] of [
      [10, 'a'],
      [20, 'a'],
      [20, 'b'],
      [20, 'c'],
      [30, 'a'],
    ] as const)
      put(r, ts, id);
    expect(r.lowerBound(20)).toBe(1);
    expect(r.upperBound(20)).toBe(4);
    expect(r.lowerBound(5)).toBe(0);
    expect(r.upperBound(99)).toBe(5);
    expect(r.lowerBoundKey(20, 'b')).toBe(2);
    expect(r.lowerBoundKey(20, 'bb')).toBe(3);
  });

  it('isBeforeOldest compares (time, event_id) with the oldest row', () => {
    const r = new DeviceRing(4);
    expect(r.isBeforeOldest(0, 'a')).toBe(false);
    put(r, 10, 'm');
    expect(r.isBeforeOldest(9, 'z')).toBe(true);
    expect(r.isBeforeOldest(10, 'a')).toBe(true);
    expect(r.isBeforeOldest(10, 'm')).toBe(false);
    expect(r.isBeforeOldest(10, 'n')).toBe(false);
    expect(r.isBeforeOldest(11, 'a')).toBe(false);
  });

  it('bytes counts the time, tag-set, id and per-metric columns of the allocation, the id index and the id arena', () => {
    const r = new DeviceRing(4);
    const index = 16 * 4; // the id index: at least 16 places of 4 bytes
    const perRow = 8 + 4 + 4 + 2 + 4 + 16; // time, tag set, id start, id length, id index back-pointer, 16 arena bytes
    expect(r.bytes).toBe(4 * perRow + index);
    put(r, 1, 'a', 1);
    expect(r.bytes).toBe(4 * perRow + index + 4 * 8);
  });

  it('keeps ids of any length and any characters through arena compactions and widening', () => {
    const r = rng(13);
    const cap = 64;
    const ring = new DeviceRing(cap);
    const held: string[] = [];
    const chars = ['a', 'Z', '0', '-', '\u00e9', '\u00ff', '\u4e2d', '\ud83d\ude00', '~'];
    for (let step = 0; step < 4000; step++) {
      if (ring.length === cap || (ring.length > 0 && r() < 0.45)) {
        expect(ring.idOf(ring.slot(0))).toBe(held.shift());
        ring.dropOldest();
      }
      // Mostly one-byte characters, sometimes a wide one (the arena widens once), lengths 0..300.
      const len = r() < 0.05 ? randInt(r, 100, 300) : randInt(r, 0, 12);
      let id = `${step}:`;
      for (let k = 0; k < len; k++) id += chars[r() < 0.01 ? randInt(r, 4, 8) : randInt(r, 0, 3)];
      put(ring, step, id); // in time order: the ring's rows are held in arrival order
      held.push(id);
      if (step % 97 === 0) {
        expect(rows(ring).map((x) => x.id)).toEqual(held);
        for (const id of held) expect(ring.hasId(id)).toBe(true);
      }
    }
    // The arena stays within a small multiple of the live characters.
    const live = held.reduce((n, id) => n + id.length, 0);
    expect(ring.bytes - ring.allocated * (8 + 4 + 4 + 2 + 4)).toBeLessThan(4 * 2 * (live + 300) + 64 * 4 * 4);
  });

  it('orders ids as JS compares strings (UTF-16 code units), wide characters included', () => {
    const ring = new DeviceRing(16);
    const ids = ['b', 'a', '\uffff', '\ud83d\ude00', 'ab', '', 'a\u00e9', 'a~'];
    for (const id of ids) put(ring, 5, id);
    expect(rows(ring).map((x) => x.id)).toEqual([...ids].sort());
    for (const id of ids) expect(ring.isBeforeOldest(5, id)).toBe(false);
    expect(ring.isBeforeOldest(4, 'zzz')).toBe(true);
  });

  it('matches a sorted reference under random late inserts and evictions of the oldest', () => {
    const r = rng(7);
    const cap = 37;
    const ring = new DeviceRing(cap);
    let ref: Row[] = [];
    for (let step = 0; step < 4000; step++) {
      if (ref.length === cap || (ref.length > 0 && r() < 0.3)) {
        ring.dropOldest();
        ref.shift();
      }
      const ts = randInt(r, 0, 500);
      const id = `e${step}`;
      const tagSet = randInt(r, 0, 9);
      const v = r() < 0.5 ? step : undefined;
      put(ring, ts, id, v, tagSet);
      const row: Row = { ts, id, tagSet };
      if (v !== undefined) row.v = v;
      ref.push(row);
      ref.sort(byKey);
    }
    expect(ring.allocated).toBe(cap);
    expect(rows(ring, 'm')).toEqual(ref);
  });

  it('indexes exactly the event ids it holds, through late inserts, growth and evictions', () => {
    const r = rng(11);
    const cap = 300;
    const ring = new DeviceRing(cap);
    const held = new Set<string>();
    const gone: string[] = [];
    for (let step = 0; step < 6000; step++) {
      if (held.size === cap || (held.size > 0 && r() < 0.4)) {
        const oldest = ring.idOf(ring.slot(0));
        ring.dropOldest();
        held.delete(oldest);
        gone.push(oldest);
      }
      // Many late events (shifting rows) and ids that collide in short hash prefixes.
      const id = `id-${step % 7}-${step}`;
      put(ring, randInt(r, 0, 200), id);
      held.add(id);
      if (step % 500 === 0 || step === 5999) {
        expect(ring.indexedIds).toBe(held.size);
        for (const x of held) expect(ring.hasId(x)).toBe(true);
        for (const x of gone.slice(-200)) expect(ring.hasId(x)).toBe(false);
      }
    }
  });

  it('with the id index suspended (replay), keeps rows the same and indexes exactly them on resume', () => {
    const r = rng(12);
    const cap = 200;
    const live = new DeviceRing(cap);
    const replayed = new DeviceRing(cap);
    replayed.suspendIdIndex();
    for (let step = 0; step < 3000; step++) {
      for (const ring of [live, replayed]) if (ring.length === cap || (ring.length > 0 && step % 3 === 0)) ring.dropOldest();
      const ts = randInt(r, 0, 300);
      put(live, ts, `id-${step}`, step);
      put(replayed, ts, `id-${step}`, step);
    }
    expect(() => replayed.hasId('id-1')).toThrow(/suspended/);
    expect(replayed.resumeIdIndex()).toBe(0);
    expect(rows(replayed, 'm')).toEqual(rows(live, 'm'));
    expect(replayed.indexedIds).toBe(live.length);
    for (const { id } of rows(live)) expect(replayed.hasId(id)).toBe(true);
    expect(replayed.hasId('id-0')).toBe(false);
  });

  it('resumeIdIndex counts rows that repeat an older row\'s id (a log that broke its promise)', () => {
    const ring = new DeviceRing(10);
    ring.suspendIdIndex();
    put(ring, 1, 'a');
    put(ring, 2, 'b');
    put(ring, 3, 'a');
    expect(ring.resumeIdIndex()).toBe(1);
    expect(ring.hasId('a')).toBe(true);
    expect(ring.indexedIds).toBe(2);
  });

  it('exportRows and fromRows round-trip rows, ids (wide characters too) and columns, wrapped or not', () => {
    for (const wide of [false, true]) {
      const ring = new DeviceRing(40);
      for (let i = 0; i < 100; i++) {
        if (ring.length === 40) ring.dropOldest();
        // late events now and then, so the arena is not in row order
        put(ring, i % 9 === 0 ? i - 5 : i, wide && i % 7 === 0 ? `\u4e2d-${i}` : `e${i}`, i % 3 === 0 ? undefined : i * 1.5, i % 4);
      }
      const out = ring.exportRows();
      const ids = rows(ring).map((x) => x.id);
      expect(out.ids.lengths.length).toBe(ring.length);
      expect(out.ids.chars.BYTES_PER_ELEMENT).toBe(wide ? 2 : 1);
      // the formats of earlier snapshots too: ids joined by newlines, and a list
      for (const form of [out.ids, ids.join('\n'), ids]) {
        const back = DeviceRing.fromRows(40, out.ts, form, out.tagSets, out.columns);
        expect(rows(back, 'm')).toEqual(rows(ring, 'm'));
        for (const id of ids) expect(back.hasId(id)).toBe(true);
        // and it goes on taking rows after the restore
        if (back.length === 40) back.dropOldest();
        put(back, 1000, 'after', 1);
        expect(back.hasId('after')).toBe(true);
      }
    }
    const empty = DeviceRing.fromRows(8, new Float64Array(0), { chars: new Uint8Array(0), lengths: new Uint16Array(0) }, new Uint32Array(0), []);
    expect(empty.length).toBe(0);
    const blank = DeviceRing.fromRows(8, Float64Array.of(1), '', new Uint32Array(1), []);
    expect(blank.idOf(blank.slot(0))).toBe('');
    expect(() => DeviceRing.fromRows(8, Float64Array.of(1, 2), 'a\nb\nc', new Uint32Array(2), [])).toThrow(/2 rows but 3 ids/);
    expect(() => DeviceRing.fromRows(8, Float64Array.of(1), { chars: new Uint8Array(3), lengths: Uint16Array.of(2) }, new Uint32Array(1), [])).toThrow(/add up to 2/);
  });

  it('rebuilds the id index for rows it is created with', () => {
    const ring = DeviceRing.fromRows(10, Float64Array.of(1, 2, 3), ['a', 'b', 'c'], new Uint32Array(3), []);
    expect(['a', 'b', 'c', 'd'].map((x) => ring.hasId(x))).toEqual([true, true, true, false]);
    expect(ring.indexedIds).toBe(3);
  });

  it('hands its arrays over as they are, and a ring of the same capacity takes them over', () => {
    const ring = new DeviceRing(8);
    for (let i = 0; i < 12; i++) {
      if (ring.length === ring.capacity) ring.dropOldest();
      const s = ring.insert(i, `e${i}`, i % 3);
      ring.column('cpu')[s] = i * 2;
    }
    ring.dropOldest();
    ring.insert(5.5, 'late', 2); // wraps and shifts
    const parts = ring.handOver();
    expect(parts.ts).toBe(ring.ts); // not a copy
    const taken = DeviceRing.fromParts(8, parts);
    const rows = (r: DeviceRing) => Array.from({ length: r.length }, (_, i) => [r.ts[r.slot(i)], r.idOf(r.slot(i)), r.tagSets[r.slot(i)], r.columnOf('cpu')![r.slot(i)]]);
    expect(rows(taken)).toEqual(rows(ring));
    expect(['e11', 'late', 'e3'].map((id) => taken.hasId(id))).toEqual([true, true, false]);
    const renumbered = rows(taken).map((r) => [0, 7, 9][r[2] as number]);
    taken.renumberTagSets(Uint32Array.of(0, 7, 9));
    expect(rows(taken).map((r) => r[2])).toEqual(renumbered);
    // It keeps working as a ring of its own.
    taken.dropOldest();
    taken.insert(20, 'e20', 0);
    expect(taken.hasId('e20')).toBe(true);
  });

  it('refuses parts that do not make a ring', () => {
    const ring = new DeviceRing(8);
    ring.insert(1, 'a', 0);
    const parts = ring.handOver();
    expect(() => DeviceRing.fromParts(4, { ...parts, ts: new Float64Array(16) })).toThrow(/inconsistent parts/);
    expect(() => DeviceRing.fromParts(8, { ...parts, length: 99 })).toThrow(/inconsistent parts/);
    expect(() => DeviceRing.fromParts(8, { ...parts, idIndex: new Int32Array(24) })).toThrow(/inconsistent parts/);
  });

  it('hands a suspended id index over as suspended (not its stale arrays), for the taker to build', () => {
    const replaying = new DeviceRing(8);
    replaying.suspendIdIndex();
    for (let i = 0; i < 6; i++) replaying.insert(i, `e${i}`, 0);
    const parts = replaying.handOver();
    expect(parts.indexed).toBe(false);
    expect(parts.idIndex.length + parts.idAt.length).toBe(0);
    const taken = DeviceRing.fromParts(8, parts);
    expect(taken.indexed).toBe(false);
    expect(() => taken.hasId('e1')).toThrow(/suspended/);
    expect(taken.resumeIdIndex()).toBe(0);
    expect(taken.indexed).toBe(true);
    expect(['e0', 'e5', 'e6'].map((id) => taken.hasId(id))).toEqual([true, true, false]);
  });

  it('is built from rows with its id index suspended when asked, and builds it on resume', () => {
    const ring = DeviceRing.fromRows(10, Float64Array.of(1, 2, 3), ['a', 'b', 'a'], new Uint32Array(3), [], false);
    expect(ring.indexed).toBe(false);
    expect(ring.resumeIdIndex()).toBe(1); // 'a' twice
    expect(ring.hasId('b')).toBe(true);
  });
});
