// GET /v1/search: events of any device carrying all the given tags, newest first, across both
// shards, with from/to and limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { get, postJson, shardOf } from './helpers.js';

let server: RunningServer;
let base: string;

interface Ev {
  event_id: string;
  device_id: string;
  timeStamp: string;
  metrics: Record<string, number>;
  tags: string[];
}
const events: Ev[] = [];
const DEVICES = Array.from({ length: 16 }, (_, i) => `srch-${i}`);
const BASE = Date.UTC(2025, 4, 1, 0, 0, 0);

beforeAll(async () => {
  server = await startServer();
  base = server.url;
  let n = 0;
  DEVICES.forEach((device, i) => {
    for (let j = 0; j < 8; j++) {
      const k = n++;
      const tags = [`dev:${i}`, 'fleet'];
      if (k % 2 === 0) tags.push('site:north');
      if (k % 3 === 0) tags.push('kind:temp');
      if (k % 5 === 0) tags.push('alarm');
      // distinct times, interleaved across devices so a merge must really merge
      const ts = BASE + ((k * 7919) % 1000) * 60_000 + k;
      events.push({ event_id: `s${k}`, device_id: device, timeStamp: new Date(ts).toISOString(), metrics: { v: k }, tags });
    }
  });
  // Sent in shuffled order, in two batches.
  const shuffled = [...events].sort((a, b) => ((a.metrics.v! * 31) % 97) - ((b.metrics.v! * 31) % 97));
  for (const part of [shuffled.slice(0, 50), shuffled.slice(50)]) {
    const res = await postJson(base, '/v1/events/batch', part);
    expect(res.status).toBe(200);
  }
});

afterAll(async () => {
  await server?.stop();
});

const newestFirst = (a: Ev, b: Ev) => Date.parse(b.timeStamp) - Date.parse(a.timeStamp);
const expected = (tags: string[], opts: { from?: number; to?: number; limit?: number } = {}) =>
  events
    .filter((e) => tags.every((t) => e.tags.includes(t)))
    .filter((e) => (opts.from === undefined || Date.parse(e.timeStamp) >= opts.from) && (opts.to === undefined || Date.parse(e.timeStamp) <= opts.to))
    .sort(newestFirst)
    .slice(0, opts.limit ?? 100);

const q = (tags: string[], extra = '') => '/v1/search?' + tags.map((t) => `tag=${encodeURIComponent(t)}`).join('&') + extra;

describe('search', () => {
  it('one tag: events of devices on both shards, newest first, full event objects', async () => {
    const want = expected(['site:north']);
    expect(new Set(want.map((e) => shardOf(e.device_id)))).toEqual(new Set([0, 1]));
    const res = await get(base, q(['site:north']));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(want);
  });

  it('repeated tag = intersection (all of them), across shards', async () => {
    const want = expected(['site:north', 'kind:temp']);
    expect(want.length).toBeGreaterThan(3);
    expect(want.length).toBeLessThan(expected(['kind:temp']).length);
    expect(new Set(want.map((e) => shardOf(e.device_id)))).toEqual(new Set([0, 1]));
    const res = await get(base, q(['site:north', 'kind:temp']));
    expect(res.status).toBe(200);
    expect(res.body).toEqual(want);
    // order of the tag parameters does not matter
    const res2 = await get(base, q(['kind:temp', 'site:north']));
    expect(res2.body).toEqual(want);
  });

  it('three tags', async () => {
    const want = expected(['site:north', 'kind:temp', 'alarm']);
    expect(want.length).toBeGreaterThan(0);
    const res = await get(base, q(['site:north', 'kind:temp', 'alarm']));
    expect(res.body).toEqual(want);
  });

  it('a tag nobody has, or an empty intersection -> []', async () => {
    expect((await get(base, q(['nope']))).body).toEqual([]);
    expect((await get(base, q(['dev:1', 'dev:2']))).body).toEqual([]);
    expect((await get(base, q(['site:north', 'nope']))).body).toEqual([]);
  });

  it('limit is respected and keeps the newest', async () => {
    for (const limit of [1, 3, 7]) {
      const res = await get(base, q(['site:north'], `&limit=${limit}`));
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expected(['site:north'], { limit }));
      expect(res.body).toHaveLength(limit);
    }
  });

  it('the default limit is 100 (the 100 newest)', async () => {
    expect(events.length).toBe(128);
    const res = await get(base, q(['fleet']));
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(100);
    expect(res.body).toEqual(expected(['fleet'], { limit: 100 }));
    const all = await get(base, q(['fleet'], '&limit=1000'));
    expect(all.body).toEqual(expected(['fleet'], { limit: 1000 }));
    expect(all.body).toHaveLength(128);
  });

  it('from_time / to_time (inclusive) restrict the hits', async () => {
    const sorted = expected(['site:north']);
    const to = Date.parse(sorted[2]!.timeStamp);
    const from = Date.parse(sorted[sorted.length - 3]!.timeStamp);
    const res = await get(base, q(['site:north'], `&from_time=${new Date(from).toISOString()}&to_time=${new Date(to).toISOString()}`));
    expect(res.status).toBe(200);
    const want = expected(['site:north'], { from, to });
    expect(want[0]).toEqual(sorted[2]);
    expect(want[want.length - 1]).toEqual(sorted[sorted.length - 3]);
    expect(res.body).toEqual(want);
  });
});
