import { describe, expect, it } from 'vitest';
import type { FiredAlert } from '../../../src/engine/alerts.js';
import { compareHitsDesc, DUPLICATE, ShardEngine, STORED, type EngineLimits } from '../../../src/engine/engine.js';
import { minuteOf } from '../../../src/engine/rollups.js';
import { ApiError } from '../../../src/errors.js';
import { idColumn } from '../../../src/codec/id-column.js';
import { DAY, HOUR, MIN, randInt, rng, T0 } from '../helpers.js';

interface Ev {
  event_id: string;
  device_id: string;
  timeStamp: string;
  metrics: Record<string, number>;
  tags: string[];
}
interface Row {
  bucket: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

const limits = (o: Partial<EngineLimits> = {}): EngineLimits => ({
  ringCapacity: 1000,
  rawRetentionMs: 7 * DAY,
  rollupRetentionMs: 400 * DAY,
  ...o,
});

function ing(
  e: ShardEngine,
  dev: string,
  id: string,
  ts: number,
  metrics: Record<string, number> = {},
  tags: string[] = [],
  alerts?: FiredAlert[],
) {
  const names = Object.keys(metrics);
  const values = names.map((n) => metrics[n]!);
  const ids = idColumn([id]);
  // Names as indexes into one list of strings, as an event batch holds them.
  const strings = [...names, ...tags];
  const tagRefs = tags.map((_, k) => names.length + k);
  return e.ingest(dev, ids.chars, 0, ids.chars.length, ts, strings, [...names.keys()], values, 0, names.length, tagRefs, 0, tags.length, alerts);
}

const recent = (e: ShardEngine, dev: string, from = -Infinity, to = Infinity, limit = 100_000): Ev[] =>
  JSON.parse(e.recentJson(dev, from, to, limit)) as Ev[];
const recentIds = (e: ShardEngine, dev: string, from?: number, to?: number, limit?: number) =>
  recent(e, dev, from, to, limit).map((x) => x.event_id);

function agg(e: ShardEngine, metric: string, dev: string | undefined, from: number, to: number, interval: number, maxBuckets = 1_000_000): Row[] {
  const b = e.aggregate(metric, dev, from, to, interval, maxBuckets);
  return b.start.map((bucket, i) => ({ bucket, count: b.count[i]!, sum: b.sum[i]!, min: b.min[i]!, max: b.max[i]! }));
}

const search = (e: ShardEngine, tags: string[], from = -Infinity, to = Infinity, limit = 100_000) => {
  const h = e.search(tags, from, to, limit);
  return h.deviceIds.map((d, i) => `${d}/${h.eventIds[i]!}`);
};

/** Brute-force aggregate over plain samples, as the contract defines it. */
function bruteAgg(samples: { ts: number; v: number }[], from: number, to: number, interval: number): Row[] {
  const m = new Map<number, Row>();
  for (const { ts, v } of samples) {
    if (ts < from || ts > to) continue;
    const bucket = Math.floor(ts / interval) * interval;
    const r = m.get(bucket);
    if (r === undefined) m.set(bucket, { bucket, count: 1, sum: v, min: v, max: v });
    else {
      r.count++;
      r.sum += v;
      r.min = Math.min(r.min, v);
      r.max = Math.max(r.max, v);
    }
  }
  return [...m.values()].sort((a, b) => a.bucket - b.bucket);
}

/** The engine's internal indexes agree with its raw rings. */
function expectConsistent(e: ShardEngine): void {
  for (const d of e.devices.values()) {
    const held = recent(e, d.id).reverse(); // oldest first
    const ring = d.ring;
    for (let i = 1; i < ring.length; i++) {
      const a = ring.slot(i - 1);
      const b = ring.slot(i);
      const ordered = ring.ts[a]! < ring.ts[b]! || (ring.ts[a] === ring.ts[b] && ring.idOf(a) < ring.idOf(b));
      expect(ordered, `ring of ${d.id} sorted at ${i}`).toBe(true);
    }
    for (const x of held) expect(ring.hasId(x.event_id), `dedup key ${x.event_id} of ${d.id}`).toBe(true);
    expect(ring.indexedIds, `dedup keys of ${d.id}`).toBe(held.length);
    // Postings are per tag set: keyed here by the set's tags, so two ids naming the same tags merge.
    // They cover the oldest postedRows rows, and lag the ring by less than POSTING_LAG rows (256).
    expect(ring.length - d.postedRows, `rows not in the postings of ${d.id}`).toBeLessThan(256);
    const want = new Map<string, number[]>();
    for (const ev of held.slice(0, d.postedRows)) {
      if (ev.tags.length === 0) continue;
      const key = JSON.stringify([...new Set(ev.tags)]);
      want.set(key, [...(want.get(key) ?? []), Date.parse(ev.timeStamp)]);
    }
    const got = new Map<string, number[]>();
    for (const [id, p] of d.postings) {
      const key = JSON.stringify(e.tagsOf(id));
      got.set(key, [...(got.get(key) ?? []), ...p.keys.subarray(p.start, p.end)]);
    }
    const sorted = (m: Map<string, number[]>) => new Map([...m].map(([k, times]) => [k, times.sort((x, y) => x - y)]));
    expect(sorted(got), `postings of ${d.id}`).toEqual(sorted(want));
  }
}

describe('ShardEngine.ingest: idempotency', () => {
  it('stores a new (device_id, event_id) and answers STORED', () => {
    const e = new ShardEngine(limits());
    expect(ing(e, 'd1', 'e1', T0, { cpu: 1 })).toBe(STORED);
    expect(recentIds(e, 'd1')).toEqual(['e1']);
  });

  it('a repeat of a stored key is DUPLICATE and changes nothing, whatever its other fields say', () => {
    const e = new ShardEngine(limits());
    ing(e, 'd1', 'e1', T0, { cpu: 1 }, ['a']);
    const before = {
      recent: e.recentJson('d1', -Infinity, Infinity, 100),
      agg: agg(e, 'cpu', undefined, -Infinity, Infinity, MIN),
      search: search(e, ['a']),
    };
    const statsBefore = e.stats();
    expect(ing(e, 'd1', 'e1', T0, { cpu: 1 }, ['a'])).toBe(DUPLICATE);
    expect(ing(e, 'd1', 'e1', T0 + HOUR, { cpu: 99, mem: 5 }, ['b'])).toBe(DUPLICATE);
    expect({
      recent: e.recentJson('d1', -Infinity, Infinity, 100),
      agg: agg(e, 'cpu', undefined, -Infinity, Infinity, MIN),
      search: search(e, ['a']),
    }).toEqual(before);
    expect(agg(e, 'mem', undefined, -Infinity, Infinity, MIN)).toEqual([]);
    expect(search(e, ['b'])).toEqual([]);
    const stats = e.stats();
    expect(stats.eventsStored).toBe(1);
    expect(stats.eventsDuplicate).toBe(2);
    expect({ ...stats, eventsDuplicate: 0 }).toEqual({ ...statsBefore, eventsDuplicate: 0 });
  });

  it('a repeat does not move the retention horizon (its newer time is ignored)', () => {
    const e = new ShardEngine(limits({ rawRetentionMs: HOUR }));
    ing(e, 'd1', 'e0', T0);
    ing(e, 'd1', 'e1', T0 + MIN);
    expect(ing(e, 'd1', 'e1', T0 + 10 * HOUR)).toBe(DUPLICATE);
    expect(recentIds(e, 'd1')).toEqual(['e1', 'e0']);
  });

  it('the same event_id on another device is a different event', () => {
    const e = new ShardEngine(limits());
    expect(ing(e, 'd1', 'e1', T0)).toBe(STORED);
    expect(ing(e, 'd2', 'e1', T0)).toBe(STORED);
    expect(recentIds(e, 'd2')).toEqual(['e1']);
  });

  it('a repeat is recognised as long as its original is held raw, even after newer and late events', () => {
    const e = new ShardEngine(limits({ ringCapacity: 10, rawRetentionMs: HOUR }));
    ing(e, 'd1', 'e1', T0 + 30 * MIN);
    for (let i = 0; i < 8; i++) ing(e, 'd1', `n${i}`, T0 + 31 * MIN + i * 1000);
    ing(e, 'd1', 'late', T0); // older than e1
    expect(ing(e, 'd1', 'e1', T0 + 30 * MIN)).toBe(DUPLICATE);
    expect(ing(e, 'd1', 'late', T0)).toBe(DUPLICATE);
    expectConsistent(e);
  });
});

describe('ShardEngine.ingest: raw retention', () => {
  it('a full ring evicts its oldest event (by time) to make room for a newer one', () => {
    const e = new ShardEngine(limits({ ringCapacity: 3 }));
    for (let i = 0; i < 5; i++) ing(e, 'd1', `e${i}`, T0 + i * 1000);
    expect(recentIds(e, 'd1')).toEqual(['e4', 'e3', 'e2']);
    expect(e.stats().rawEvicted).toBe(2);
    expect(e.stats().rawEvents).toBe(3);
  });

  it('a late event older than everything in a full ring is not held raw, but is stored and counted in rollups', () => {
    const e = new ShardEngine(limits({ ringCapacity: 2 }));
    ing(e, 'd1', 'e1', T0 + 2 * MIN, { cpu: 1 });
    ing(e, 'd1', 'e2', T0 + 3 * MIN, { cpu: 2 });
    expect(ing(e, 'd1', 'old', T0, { cpu: 7 })).toBe(STORED);
    expect(recentIds(e, 'd1')).toEqual(['e2', 'e1']);
    expect(agg(e, 'cpu', 'd1', T0, T0 + 4 * MIN - 1, MIN).map((r) => [r.bucket, r.count, r.sum])).toEqual([
      [T0, 1, 7],
      [T0 + 2 * MIN, 1, 1],
      [T0 + 3 * MIN, 1, 2],
    ]);
    expectConsistent(e);
  });

  it('a late event newer than the oldest in a full ring takes its place', () => {
    const e = new ShardEngine(limits({ ringCapacity: 2 }));
    ing(e, 'd1', 'e1', T0);
    ing(e, 'd1', 'e3', T0 + 3000);
    ing(e, 'd1', 'e2', T0 + 2000);
    expect(recentIds(e, 'd1')).toEqual(['e3', 'e2']);
    expectConsistent(e);
  });

  it('ties in time are broken by event_id: the smaller id is the older', () => {
    const e = new ShardEngine(limits({ ringCapacity: 2 }));
    ing(e, 'd1', 'b', T0);
    ing(e, 'd1', 'c', T0);
    ing(e, 'd1', 'a', T0); // sorts before both: not held
    expect(recentIds(e, 'd1')).toEqual(['c', 'b']);
    ing(e, 'd1', 'd', T0); // evicts b
    expect(recentIds(e, 'd1')).toEqual(['d', 'c']);
  });

  it("drops raw events older than the device's newest time minus the raw retention", () => {
    const e = new ShardEngine(limits({ rawRetentionMs: HOUR }));
    ing(e, 'd1', 'e0', T0);
    ing(e, 'd1', 'e1', T0 + 30 * MIN);
    ing(e, 'd1', 'e2', T0 + HOUR); // horizon T0: e0 is exactly on it and stays
    expect(recentIds(e, 'd1')).toEqual(['e2', 'e1', 'e0']);
    ing(e, 'd1', 'e3', T0 + HOUR + 1); // horizon T0 + 1
    expect(recentIds(e, 'd1')).toEqual(['e3', 'e2', 'e1']);
    expect(e.stats().rawEvicted).toBe(1);
  });

  it('retention is per device, relative to its own newest event, not to the wall clock or other devices', () => {
    const e = new ShardEngine(limits({ rawRetentionMs: HOUR }));
    ing(e, 'old', 'e0', Date.UTC(2001, 0, 1));
    ing(e, 'new', 'e0', T0 + 100 * DAY);
    expect(recentIds(e, 'old')).toEqual(['e0']);
  });

  it('an event arriving already older than the raw horizon is stored in rollups only', () => {
    const e = new ShardEngine(limits({ rawRetentionMs: HOUR }));
    ing(e, 'd1', 'new', T0 + 2 * HOUR, { cpu: 1 });
    expect(ing(e, 'd1', 'old', T0, { cpu: 5 })).toBe(STORED);
    expect(recentIds(e, 'd1')).toEqual(['new']);
    expect(agg(e, 'cpu', 'd1', T0, T0 + MIN - 1, MIN)).toEqual([{ bucket: T0, count: 1, sum: 5, min: 5, max: 5 }]);
  });
});

describe('ShardEngine: tag postings', () => {
  it('eviction by capacity removes the evicted event from its tags, and drops emptied tag lists', () => {
    const e = new ShardEngine(limits({ ringCapacity: 2 }));
    ing(e, 'd1', 'e1', T0, {}, ['x', 'shared']);
    ing(e, 'd1', 'e2', T0 + 1, {}, ['y', 'shared']);
    ing(e, 'd1', 'e3', T0 + 2, {}, ['z', 'shared']);
    expect(search(e, ['x'])).toEqual([]);
    expect(search(e, ['shared'])).toEqual(['d1/e3', 'd1/e2']);
    const s = e.stats();
    expect(s.postingsLists).toBe(2); // {y, shared}, {z, shared}: {x, shared} went with e1
    expect(s.postingsEntries).toBe(2);
    expectConsistent(e);
  });

  it('eviction by age removes the evicted events from their tags', () => {
    const e = new ShardEngine(limits({ rawRetentionMs: HOUR }));
    ing(e, 'd1', 'e1', T0, {}, ['x']);
    ing(e, 'd1', 'e2', T0 + 1000, {}, ['x', 'y']);
    ing(e, 'd1', 'e3', T0 + 2 * HOUR, {}, ['x']);
    expect(search(e, ['x'])).toEqual(['d1/e3']);
    expect(search(e, ['y'])).toEqual([]);
    expectConsistent(e);
  });

  it('a late event is indexed under its tags at its own time', () => {
    const e = new ShardEngine(limits());
    ing(e, 'd1', 'e2', T0 + 2000, {}, ['x']);
    ing(e, 'd1', 'e1', T0 + 1000, {}, ['x']);
    ing(e, 'd1', 'e3', T0 + 3000, {}, ['x']);
    expect(search(e, ['x'])).toEqual(['d1/e3', 'd1/e2', 'd1/e1']);
    expectConsistent(e);
  });

  it('a tag repeated inside one event is indexed once', () => {
    const e = new ShardEngine(limits({ ringCapacity: 1 }));
    ing(e, 'd1', 'e1', T0, {}, ['x', 'x']);
    expect(search(e, ['x'])).toEqual(['d1/e1']);
    ing(e, 'd1', 'e2', T0 + 1, {}, ['y']);
    expect(search(e, ['x'])).toEqual([]);
    expectConsistent(e);
  });

  it('lag the ring by fewer than 256 rows, take late rows among those they cover at once, and catch up for a search', () => {
    const r = rng(77);
    const cap = 700;
    const e = new ShardEngine(limits({ ringCapacity: cap, rawRetentionMs: 365 * DAY }));
    const tags = ['a', 'b', 'c'];
    type E = { id: string; ts: number; tags: string[] };
    const accepted: E[] = [];
    let clock = T0;
    let late = 0;
    let lagged = false;
    for (let n = 0; n < 3000; n++) {
      clock += randInt(r, 1, 5000);
      // Late events land among rows the postings cover already (up to ~50 rows back).
      const back = r() < 0.2 ? randInt(r, 1, 250_000) : 0;
      if (back > 0) late++;
      const ev = { id: `e${n}`, ts: clock - back, tags: tags.filter(() => r() < 0.5) };
      ing(e, 'd1', ev.id, ev.ts, { v: 1 }, ev.tags);
      accepted.push(ev);
      const d = e.devices.get('d1')!;
      if (d.ring.length - d.postedRows > 100) lagged = true;
      if (n % 97 === 0) expectConsistent(e);
      if (n % 450 === 0 || n === 2999) {
        const held = [...accepted].sort((x, y) => (x.ts !== y.ts ? y.ts - x.ts : x.id < y.id ? 1 : -1)).slice(0, cap);
        for (const tag of tags) expect(search(e, [tag]), `${tag} after ${n}`).toEqual(held.filter((x) => x.tags.includes(tag)).map((x) => `d1/${x.id}`));
        expect(e.devices.get('d1')!.postedRows).toBe(e.devices.get('d1')!.ring.length);
      }
    }
    expect(late).toBeGreaterThan(300);
    expect(lagged).toBe(true);
    expect(e.stats().rawEvicted).toBeGreaterThan(2000);
  });

  it('keep matching the raw rings under random late, repeated and evicted events (reference model)', () => {
    const r = rng(2025);
    const cap = 12;
    const retention = 20 * MIN;
    const e = new ShardEngine(limits({ ringCapacity: cap, rawRetentionMs: retention }));
    const tags = ['a', 'b', 'c', 'd'];
    type E = { dev: string; id: string; ts: number; tags: string[] };
    const accepted = new Map<string, E>();
    const sent: E[] = [];
    let clock = T0;
    for (let n = 0; n < 1500; n++) {
      let ev: E;
      if (sent.length > 0 && r() < 0.15) ev = sent[randInt(r, 0, sent.length - 1)]!; // exact repeat
      else {
        clock += randInt(r, 0, 20_000);
        const ts = clock - (r() < 0.3 ? randInt(r, 0, 30 * MIN) : 0);
        const t = tags.filter(() => r() < 0.4);
        ev = { dev: `d${randInt(r, 0, 2)}`, id: `e${n}`, ts, tags: t };
        sent.push(ev);
      }
      ing(e, ev.dev, ev.id, ev.ts, { v: 1 }, ev.tags);
      accepted.set(`${ev.dev}/${ev.id}`, ev);
      if (n % 100 === 0) expectConsistent(e);
    }
    expectConsistent(e);
    for (const dev of ['d0', 'd1', 'd2']) {
      const mine = [...accepted.values()].filter((x) => x.dev === dev);
      const maxTs = Math.max(...mine.map((x) => x.ts));
      const held = mine
        .filter((x) => x.ts >= maxTs - retention)
        .sort((x, y) => (x.ts !== y.ts ? y.ts - x.ts : x.id < y.id ? 1 : -1))
        .slice(0, cap);
      expect(recentIds(e, dev), dev).toEqual(held.map((x) => x.id));
      for (const tag of tags) {
        expect(search(e, [tag]).filter((h) => h.startsWith(`${dev}/`)), `${dev} ${tag}`).toEqual(
          held.filter((x) => x.tags.includes(tag)).map((x) => `${dev}/${x.id}`),
        );
      }
    }
  });
});

describe('ShardEngine.search', () => {
  const build = () => {
    const e = new ShardEngine(limits());
    ing(e, 'a', 'e1', T0, {}, ['x']);
    ing(e, 'a', 'e2', T0 + 1, {}, ['x', 'y']);
    ing(e, 'a', 'e3', T0 + 2, {}, ['y']);
    ing(e, 'b', 'f1', T0 + 1, {}, ['x']);
    ing(e, 'b', 'f2', T0 + 1, {}, ['x', 'z']);
    ing(e, 'c', 'g1', T0 + 5, {}, ['z']);
    return e;
  };

  it('answers newest first across devices; equal times by device_id, then event_id, descending', () => {
    expect(search(build(), ['x'])).toEqual(['b/f2', 'b/f1', 'a/e2', 'a/e1']);
  });

  it('repeated tags mean all of them', () => {
    const e = build();
    expect(search(e, ['x', 'y'])).toEqual(['a/e2']);
    expect(search(e, ['y', 'x'])).toEqual(['a/e2']);
    expect(search(e, ['x', 'z'])).toEqual(['b/f2']);
    expect(search(e, ['x', 'y', 'z'])).toEqual([]);
  });

  it('a tag nobody carries finds nothing; no tags, or a limit of 0, find nothing', () => {
    const e = build();
    expect(search(e, ['nope'])).toEqual([]);
    expect(search(e, [])).toEqual([]);
    expect(search(e, ['x'], -Infinity, Infinity, 0)).toEqual([]);
  });

  it('from and to are inclusive', () => {
    const e = build();
    expect(search(e, ['x'], T0 + 1, T0 + 1)).toEqual(['b/f2', 'b/f1', 'a/e2']);
    expect(search(e, ['x'], T0, T0)).toEqual(['a/e1']);
    expect(search(e, ['x'], T0 + 2, T0 + 10)).toEqual([]);
  });

  it('stops at limit, keeping the newest', () => {
    expect(search(build(), ['x'], -Infinity, Infinity, 3)).toEqual(['b/f2', 'b/f1', 'a/e2']);
  });

  it('answers times, ids and each hit as the API JSON', () => {
    const h = build().search(['z'], -Infinity, Infinity, 10);
    expect(h.ts).toEqual([T0 + 5, T0 + 1]);
    expect(h.deviceIds).toEqual(['c', 'b']);
    expect(h.eventIds).toEqual(['g1', 'f2']);
    expect(h.json.map((j) => JSON.parse(j) as Ev)).toEqual([
      { event_id: 'g1', device_id: 'c', timeStamp: new Date(T0 + 5).toISOString(), metrics: {}, tags: ['z'] },
      { event_id: 'f2', device_id: 'b', timeStamp: new Date(T0 + 1).toISOString(), metrics: {}, tags: ['x', 'z'] },
    ]);
  });

  it('matches a brute-force filter over many devices with shared times', () => {
    const r = rng(99);
    const e = new ShardEngine(limits());
    const all: { dev: string; id: string; ts: number; tags: string[] }[] = [];
    for (let n = 0; n < 800; n++) {
      const ev = { dev: `d${randInt(r, 0, 9)}`, id: `e${randInt(r, 0, 1e6)}`, ts: T0 + randInt(r, 0, 50) * 1000, tags: ['p', 'q', 'r'].filter(() => r() < 0.5) };
      if (ing(e, ev.dev, ev.id, ev.ts, {}, ev.tags) === STORED) all.push(ev);
    }
    for (const q of [['p'], ['p', 'q'], ['q', 'r'], ['p', 'q', 'r']]) {
      const from = T0 + 10_000;
      const to = T0 + 40_000;
      const want = all
        .filter((x) => x.ts >= from && x.ts <= to && q.every((t) => x.tags.includes(t)))
        .sort((a, b) => compareHitsDesc(a.ts, a.dev, a.id, b.ts, b.dev, b.id))
        .slice(0, 50)
        .map((x) => `${x.dev}/${x.id}`);
      expect(search(e, q, from, to, 50), q.join('+')).toEqual(want);
    }
  });
});

describe('compareHitsDesc', () => {
  it('orders by time, then device_id, then event_id, all descending', () => {
    expect(compareHitsDesc(2, 'a', 'a', 1, 'z', 'z')).toBeLessThan(0);
    expect(compareHitsDesc(1, 'b', 'a', 1, 'a', 'z')).toBeLessThan(0);
    expect(compareHitsDesc(1, 'a', 'b', 1, 'a', 'a')).toBeLessThan(0);
    expect(compareHitsDesc(1, 'a', 'a', 1, 'a', 'a')).toBe(0);
    expect(compareHitsDesc(1, 'a', 'a', 1, 'a', 'b')).toBeGreaterThan(0);
  });
});

describe('ShardEngine.recentJson', () => {
  it("answers one device's events newest first, as the API's event objects", () => {
    const e = new ShardEngine(limits());
    ing(e, 'd1', 'e2', T0 + 2000, { cpu: 2.5 }, ['b']);
    ing(e, 'd1', 'e1', T0 + 1000, { cpu: -1, mem: 1e21 }, ['a', 'c']);
    ing(e, 'd1', 'e3', T0 + 3000, { mem: 0 });
    expect(recent(e, 'd1')).toEqual([
      { event_id: 'e3', device_id: 'd1', timeStamp: '2025-01-15T10:00:03.000Z', metrics: { mem: 0 }, tags: [] },
      { event_id: 'e2', device_id: 'd1', timeStamp: '2025-01-15T10:00:02.000Z', metrics: { cpu: 2.5 }, tags: ['b'] },
      { event_id: 'e1', device_id: 'd1', timeStamp: '2025-01-15T10:00:01.000Z', metrics: { cpu: -1, mem: 1e21 }, tags: ['a', 'c'] },
    ]);
  });

  it('from and to are inclusive; limit keeps the newest', () => {
    const e = new ShardEngine(limits());
    for (let i = 0; i < 5; i++) ing(e, 'd1', `e${i}`, T0 + i * 1000);
    expect(recentIds(e, 'd1', T0 + 1000, T0 + 3000)).toEqual(['e3', 'e2', 'e1']);
    expect(recentIds(e, 'd1', -Infinity, Infinity, 2)).toEqual(['e4', 'e3']);
    expect(recentIds(e, 'd1', T0 + 10_000, Infinity)).toEqual([]);
  });

  it('an unknown device answers []', () => {
    expect(new ShardEngine(limits()).recentJson('nope', -Infinity, Infinity, 10)).toBe('[]');
  });

  it('writes ids, tags and metric names that need escaping as valid JSON', () => {
    const e = new ShardEngine(limits());
    ing(e, 'dev "1" \\ é 🚀', 'ev\u2028"x"', T0, { 'a"b': 1, __proto__x: 2 }, ['t"ag', 'ü']);
    const [ev] = recent(e, 'dev "1" \\ é 🚀');
    expect(ev).toEqual({
      event_id: 'ev\u2028"x"',
      device_id: 'dev "1" \\ é 🚀',
      timeStamp: new Date(T0).toISOString(),
      metrics: { 'a"b': 1, __proto__x: 2 },
      tags: ['t"ag', 'ü'],
    });
  });

  it('treats metric names like __proto__ and constructor as plain names', () => {
    const e = new ShardEngine(limits());
    const names = ['__proto__', 'constructor'];
    e.ingest('d1', idColumn(['e1']).chars, 0, 2, T0, names, [0, 1], [1, 2], 0, 2, [], 0, 0, undefined);
    const text = e.recentJson('d1', -Infinity, Infinity, 10);
    expect(text).toContain('"__proto__":1');
    expect(agg(e, '__proto__', 'd1', -Infinity, Infinity, MIN)).toEqual([{ bucket: T0, count: 1, sum: 1, min: 1, max: 1 }]);
    expect(agg(e, 'toString', 'd1', -Infinity, Infinity, MIN)).toEqual([]);
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it('reads only its slice [idFrom, idTo) of shared id characters, [mFrom, mTo) of metric arrays and [tFrom, tTo) of tags', () => {
    const e = new ShardEngine(limits());
    const ids = idColumn(['e0', 'e1', 'e22']);
    const strings = ['p', 'x', 'cpu', 't', 'mem', 'y', 'q'];
    const names = Uint32Array.of(1, 2, 4, 5);
    const tags = Uint32Array.of(0, 3, 6);
    e.ingest('d1', ids.chars, 2, 4, T0, strings, names, new Float64Array([9, 1, 2, 9]), 1, 3, tags, 1, 2, undefined);
    expect(recent(e, 'd1')[0]).toMatchObject({ event_id: 'e1', metrics: { cpu: 1, mem: 2 }, tags: ['t'] });
    expect(ing(e, 'd1', 'e1', T0)).toBe(DUPLICATE);
    expect(ing(e, 'd1', 'e0', T0)).not.toBe(DUPLICATE);
  });
});

describe('ShardEngine.aggregate', () => {
  it('counts only the samples of the metric asked for, from raw and from rollups alike', () => {
    const e = new ShardEngine(limits());
    ing(e, 'd1', 'e1', T0 + 1000, { cpu: 1 });
    ing(e, 'd1', 'e2', T0 + 2000, { mem: 50 });
    ing(e, 'd1', 'e3', T0 + 3000, { cpu: 3, mem: 70 });
    const want = [{ bucket: T0, count: 2, sum: 4, min: 1, max: 3 }];
    expect(agg(e, 'cpu', 'd1', T0, T0 + MIN - 1, MIN)).toEqual(want); // whole minute: rollups
    expect(agg(e, 'cpu', 'd1', T0 + 1, T0 + MIN - 1, MIN)).toEqual(want); // edge: raw
    expect(agg(e, 'cpu', 'd1', T0, T0 + MIN - 1, 60_000 / 6)).toEqual([
      { bucket: T0, count: 2, sum: 4, min: 1, max: 3 },
    ]);
    expect(agg(e, 'disk', 'd1', -Infinity, Infinity, MIN)).toEqual([]);
  });

  it('answers non-empty buckets only, ascending, aligned to the Unix epoch', () => {
    const e = new ShardEngine(limits());
    const base = Date.UTC(2025, 0, 15, 0, 0);
    ing(e, 'd1', 'a', base + 13 * HOUR + 7 * MIN, { v: 1 });
    ing(e, 'd1', 'b', base + 2 * HOUR + 59 * MIN, { v: 2 });
    ing(e, 'd1', 'c', base + DAY + 1, { v: 4 });
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, HOUR).map((r) => [new Date(r.bucket).toISOString(), r.count])).toEqual([
      ['2025-01-15T02:00:00.000Z', 1],
      ['2025-01-15T13:00:00.000Z', 1],
      ['2025-01-16T00:00:00.000Z', 1],
    ]);
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, DAY).map((r) => [new Date(r.bucket).toISOString(), r.count, r.sum])).toEqual([
      ['2025-01-15T00:00:00.000Z', 2, 3],
      ['2025-01-16T00:00:00.000Z', 1, 4],
    ]);
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, 10_000).map((r) => r.bucket)).toEqual([
      base + 2 * HOUR + 59 * MIN,
      base + 13 * HOUR + 7 * MIN,
      base + DAY,
    ]);
  });

  it('takes the minutes that the range edges cut through from raw events, inclusive at both ends', () => {
    const e = new ShardEngine(limits());
    ing(e, 'd1', 'a', T0 + 10_000, { v: 1 });
    ing(e, 'd1', 'b', T0 + 40_000, { v: 2 });
    ing(e, 'd1', 'c', T0 + 60_000, { v: 3 });
    ing(e, 'd1', 'd', T0 + 140_000, { v: 4 });
    ing(e, 'd1', 'f', T0 + 150_000, { v: 5 });
    ing(e, 'd1', 'g', T0 + 160_000, { v: 6 });
    expect(agg(e, 'v', 'd1', T0 + 40_000, T0 + 150_000, MIN)).toEqual([
      { bucket: T0, count: 1, sum: 2, min: 2, max: 2 },
      { bucket: T0 + MIN, count: 1, sum: 3, min: 3, max: 3 },
      { bucket: T0 + 2 * MIN, count: 2, sum: 9, min: 4, max: 5 },
    ]);
    expect(agg(e, 'v', 'd1', T0 + 40_000, T0 + 150_000, 5 * MIN)).toEqual([{ bucket: T0, count: 4, sum: 14, min: 2, max: 5 }]);
  });

  it('stays exact from minute rollups after the raw events of the range aged out', () => {
    const e = new ShardEngine(limits({ rawRetentionMs: HOUR, rollupRetentionMs: 30 * DAY }));
    const samples: { ts: number; v: number }[] = [];
    for (let i = 0; i < 9; i++) {
      const s = { ts: T0 + i * 20_000, v: i * 10 - 20 };
      samples.push(s);
      ing(e, 'd1', `e${i}`, s.ts, { cpu: s.v });
    }
    ing(e, 'd1', 'later', T0 + 5 * HOUR, { cpu: 100 });
    expect(recentIds(e, 'd1')).toEqual(['later']);
    expect(agg(e, 'cpu', 'd1', T0, T0 + 3 * MIN - 1, MIN)).toEqual(bruteAgg(samples, T0, T0 + 3 * MIN - 1, MIN));
    expect(agg(e, 'cpu', 'd1', T0, T0 + 3 * MIN - 1, MIN)).toEqual([
      { bucket: T0, count: 3, sum: -30, min: -20, max: 0 },
      { bucket: T0 + MIN, count: 3, sum: 60, min: 10, max: 30 },
      { bucket: T0 + 2 * MIN, count: 3, sum: 150, min: 40, max: 60 },
    ]);
    expect(agg(e, 'cpu', 'd1', -Infinity, Infinity, HOUR)).toEqual([
      { bucket: T0, count: 9, sum: 180, min: -20, max: 60 },
      { bucket: T0 + 5 * HOUR, count: 1, sum: 100, min: 100, max: 100 },
    ]);
    expect(agg(e, 'cpu', undefined, T0 - DAY, T0 + DAY, DAY).map((r) => r.count)).toEqual([10]);
  });

  it("drops rollup minutes older than the device's newest time minus the rollup retention", () => {
    const e = new ShardEngine(limits({ rawRetentionMs: MIN, rollupRetentionMs: 10 * MIN }));
    ing(e, 'd1', 'a', T0, { v: 1 });
    ing(e, 'd1', 'b', T0 + 5 * MIN, { v: 2 });
    ing(e, 'd1', 'c', T0 + 20 * MIN + 30_000, { v: 3 }); // horizon: minuteOf(T0 + 10m30s) = T0 + 10m
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, MIN).map((r) => r.bucket)).toEqual([T0 + 20 * MIN]);
    expect(e.stats().rollupMinutesEvicted).toBe(2);
    ing(e, 'd1', 'late', T0 + 9 * MIN, { v: 9 }); // before the horizon: not kept
    ing(e, 'd1', 'edge', T0 + 10 * MIN, { v: 4 }); // on the horizon: kept
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, MIN).map((r) => [r.bucket, r.sum])).toEqual([
      [T0 + 10 * MIN, 4],
      [T0 + 20 * MIN, 3],
    ]);
    expect(minuteOf(T0 + 20 * MIN + 30_000 - 10 * MIN)).toBe(T0 + 10 * MIN);
  });

  it('one device, or every device of the shard', () => {
    const e = new ShardEngine(limits());
    ing(e, 'd1', 'a', T0, { v: 1 });
    ing(e, 'd2', 'a', T0 + 1, { v: 10 });
    ing(e, 'd3', 'a', T0 + 2, { w: 100 });
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, MIN)).toEqual([{ bucket: T0, count: 1, sum: 1, min: 1, max: 1 }]);
    expect(agg(e, 'v', undefined, -Infinity, Infinity, MIN)).toEqual([{ bucket: T0, count: 2, sum: 11, min: 1, max: 10 }]);
    expect(agg(e, 'v', 'nope', -Infinity, Infinity, MIN)).toEqual([]);
  });

  it('works before the Unix epoch (buckets floor, not truncate)', () => {
    const e = new ShardEngine(limits());
    ing(e, 'd1', 'a', -30_000, { v: 1 });
    ing(e, 'd1', 'b', -90_000, { v: 2 });
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, MIN).map((r) => [r.bucket, r.sum])).toEqual([
      [-120_000, 2],
      [-60_000, 1],
    ]);
    expect(agg(e, 'v', 'd1', -100_000, -1, 10_000).map((r) => [r.bucket, r.sum])).toEqual([
      [-90_000, 2],
      [-30_000, 1],
    ]);
  });

  it('throws TOO_MANY_BUCKETS past maxBuckets non-empty buckets', () => {
    const e = new ShardEngine(limits());
    for (let i = 0; i < 3; i++) ing(e, 'd1', `e${i}`, T0 + i * MIN, { v: i });
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, MIN, 3)).toHaveLength(3);
    expect(() => agg(e, 'v', 'd1', -Infinity, Infinity, MIN, 2)).toThrow(ApiError);
    expect(() => agg(e, 'v', 'd1', -Infinity, Infinity, MIN, 2)).toThrow(expect.objectContaining({ code: 'TOO_MANY_BUCKETS' }));
    expect(agg(e, 'v', 'd1', -Infinity, Infinity, HOUR, 1)).toHaveLength(1);
  });

  it('matches a brute-force aggregate for random ranges and intervals while nothing has aged out', () => {
    const r = rng(5);
    const e = new ShardEngine(limits());
    const byDev = new Map<string, { ts: number; v: number }[]>();
    for (let n = 0; n < 1500; n++) {
      const dev = `d${randInt(r, 0, 3)}`;
      const ts = T0 + randInt(r, 0, 6 * HOUR);
      const s = { ts, v: randInt(r, -1000, 1000) };
      const m: Record<string, number> = r() < 0.8 ? { v: s.v } : { other: 1 };
      ing(e, dev, `e${n}`, ts, m);
      if ('v' in m) {
        const list = byDev.get(dev) ?? [];
        list.push(s);
        byDev.set(dev, list);
      }
    }
    const allSamples = [...byDev.values()].flat();
    for (let q = 0; q < 60; q++) {
      const interval = [10_000, MIN, 5 * MIN, 90_000, HOUR, DAY][q % 6]!;
      const a = T0 + randInt(r, -HOUR, 7 * HOUR);
      const b = a + randInt(r, 0, 3 * HOUR);
      const dev = q % 2 === 0 ? 'd1' : undefined;
      const samples = dev === undefined ? allSamples : byDev.get(dev)!;
      expect(agg(e, 'v', dev, a, b, interval), `q${q} [${a}, ${b}] / ${interval}`).toEqual(bruteAgg(samples, a, b, interval));
    }
  });
});

describe('ShardEngine: alerts', () => {
  it('fires each satisfied rule of the device once per stored event, with the event and the rule', () => {
    const e = new ShardEngine(limits());
    e.rules.add({ id: 1, device_id: 'd1', metric: 'cpu', op: '>', threshold: 90 });
    e.rules.add({ id: 2, device_id: 'd1', metric: 'cpu', op: '<', threshold: 5, callback_url: 'http://x/y' });
    e.rules.add({ id: 3, device_id: 'd2', metric: 'cpu', op: '>', threshold: 0 });
    const alerts: FiredAlert[] = [];
    ing(e, 'd1', 'e1', T0, { cpu: 95, mem: 1 }, [], alerts);
    expect(alerts).toEqual([
      { device_id: 'd1', event_id: 'e1', time: T0, metrics: [['cpu', 95], ['mem', 1]], alert_id: 1, metric: 'cpu', op: '>', threshold: 90, value: 95 },
    ]);
    ing(e, 'd1', 'e2', T0 + 1, { cpu: 1 }, [], alerts);
    expect(alerts[1]).toMatchObject({ alert_id: 2, event_id: 'e2', value: 1, callback_url: 'http://x/y' });
    expect(alerts).toHaveLength(2);
  });

  it('does not fire for a duplicate, for an event without the metric, or for an unsatisfied rule', () => {
    const e = new ShardEngine(limits());
    e.rules.add({ id: 1, device_id: 'd1', metric: 'cpu', op: '>=', threshold: 50 });
    const alerts: FiredAlert[] = [];
    ing(e, 'd1', 'e1', T0, { cpu: 50 }, [], alerts);
    ing(e, 'd1', 'e1', T0, { cpu: 50 }, [], alerts);
    ing(e, 'd1', 'e2', T0, { mem: 99 }, [], alerts);
    ing(e, 'd1', 'e3', T0, { cpu: 49.9 }, [], alerts);
    expect(alerts.map((a) => a.event_id)).toEqual(['e1']);
  });

  it('fires for a stored event even when it is too old to be held raw', () => {
    const e = new ShardEngine(limits({ rawRetentionMs: MIN }));
    e.rules.add({ id: 1, device_id: 'd1', metric: 'cpu', op: '!=', threshold: 0 });
    const alerts: FiredAlert[] = [];
    ing(e, 'd1', 'new', T0 + HOUR, { cpu: 1 }, [], alerts);
    ing(e, 'd1', 'old', T0, { cpu: 2 }, [], alerts);
    expect(alerts.map((a) => a.event_id)).toEqual(['new', 'old']);
  });

  it('skips evaluation when the caller passes no alert list', () => {
    const e = new ShardEngine(limits());
    e.rules.add({ id: 1, device_id: 'd1', metric: 'cpu', op: '>', threshold: 0 });
    expect(ing(e, 'd1', 'e1', T0, { cpu: 1 })).toBe(STORED);
  });
});

describe('ShardEngine.stats', () => {
  it('counts devices, rows, series, postings, rules and events', () => {
    const e = new ShardEngine(limits({ ringCapacity: 2 }));
    e.rules.add({ id: 1, device_id: 'd1', metric: 'cpu', op: '>', threshold: 0 });
    ing(e, 'd1', 'e1', T0, { cpu: 1, mem: 2 }, ['a']);
    ing(e, 'd1', 'e2', T0 + MIN, { cpu: 1 }, ['a', 'b']);
    ing(e, 'd1', 'e3', T0 + 2 * MIN, { cpu: 1 }, ['a', 'b']);
    ing(e, 'd1', 'e3', T0 + 2 * MIN, { cpu: 1 }, ['a', 'b']);
    ing(e, 'd2', 'e1', T0, {}, []);
    // Postings are built when a search needs them (or once a device has 256 rows without them).
    expect(e.stats()).toMatchObject({ postingsLists: 0, postingsEntries: 0 });
    e.search(['a'], -Infinity, Infinity, 10);
    const s = e.stats();
    expect(s).toMatchObject({
      devices: 2,
      rawEvents: 3,
      rollupSeries: 2,
      rollupMinutes: 4,
      postingsLists: 1, // d1's {a, b}: e2 and e3 (e1 and its {a} were evicted)
      postingsEntries: 2,
      alertRules: 1,
      tagSets: 3,
      eventsStored: 4,
      eventsDuplicate: 1,
      rawEvicted: 1,
      rollupMinutesEvicted: 0,
      idIndexesPending: 0,
    });
    expect(s.rawBytes).toBeGreaterThan(0);
    expect(s.rollupBytes).toBeGreaterThan(0);
  });
});
