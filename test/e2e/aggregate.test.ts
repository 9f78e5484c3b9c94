// GET /v1/metrics/aggregate against a model computed here: all devices merged across both shards,
// one device, count of samples of the metric only, epoch-aligned buckets at several intervals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { detailItems, get, postJson, shardOf } from './helpers.js';

const MAX_BUCKETS = 60;

let server: RunningServer;
let base: string;

interface Sample {
  device: string;
  ts: number;
  load?: number;
}
const samples: Sample[] = [];
const DEVICES = Array.from({ length: 24 }, (_, i) => `agg-dev-${i}`);
const BASE = Date.UTC(2025, 2, 10, 8, 0, 0);
const STEP = 41_000;

beforeAll(async () => {
  server = await startServer({ MAX_BUCKETS: String(MAX_BUCKETS) });
  base = server.url;
  const batch: unknown[] = [];
  DEVICES.forEach((device, i) => {
    for (let j = 0; j < 5; j++) {
      // spread over 5 hours and (for j = 4) a second day; dyadic values keep sums exact
      const ts = BASE + j * 3_600_000 + (j === 4 ? 86_400_000 : 0) + i * STEP + j * 250;
      // every third sample has no `load` at all, only `other`
      const hasLoad = (i + j) % 3 !== 0;
      const load = hasLoad ? ((i * 7 + j * 3) % 17) - 4.5 : undefined;
      const metrics: Record<string, number> = { other: 1000 + i };
      if (load !== undefined) metrics.load = load;
      samples.push({ device, ts, ...(load !== undefined ? { load } : {}) });
      batch.push({ event_id: `a${i}-${j}`, device_id: device, timeStamp: ts, metrics, tags: [] });
    }
  });
  const res = await postJson(base, '/v1/events/batch', batch);
  expect(res.status).toBe(200);
  expect(res.body.every((s: any) => s.status === 'stored')).toBe(true);
});

afterAll(async () => {
  await server?.stop();
});

function model(intervalMs: number, opts: { device?: string; from?: number; to?: number } = {}) {
  const m = new Map<number, { count: number; sum: number; min: number; max: number }>();
  for (const s of samples) {
    if (s.load === undefined) continue;
    if (opts.device !== undefined && s.device !== opts.device) continue;
    if (opts.from !== undefined && s.ts < opts.from) continue;
    if (opts.to !== undefined && s.ts > opts.to) continue;
    const b = Math.floor(s.ts / intervalMs) * intervalMs;
    const cur = m.get(b);
    if (cur === undefined) m.set(b, { count: 1, sum: s.load, min: s.load, max: s.load });
    else {
      cur.count++;
      cur.sum += s.load;
      cur.min = Math.min(cur.min, s.load);
      cur.max = Math.max(cur.max, s.load);
    }
  }
  return [...m.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([b, v]) => ({ bucket: new Date(b).toISOString(), ...v, avg: v.sum / v.count }));
}

function expectBuckets(got: any[], want: ReturnType<typeof model>): void {
  expect(got.map((b) => b.bucket)).toEqual(want.map((b) => b.bucket));
  got.forEach((b, i) => {
    const w = want[i]!;
    expect(Object.keys(b).sort()).toEqual(['avg', 'bucket', 'count', 'max', 'min', 'sum']);
    expect(b.count, b.bucket).toBe(w.count);
    expect(b.sum, b.bucket).toBeCloseTo(w.sum, 9);
    expect(b.avg, b.bucket).toBeCloseTo(w.avg, 9);
    expect(b.min, b.bucket).toBe(w.min);
    expect(b.max, b.bucket).toBe(w.max);
  });
}

describe('aggregate', () => {
  it('the test data lives on both shards', () => {
    const shards = new Set(DEVICES.map((d) => shardOf(d)));
    expect(shards).toEqual(new Set([0, 1]));
  });

  it('without device_id: all devices of both shards merged (1d buckets)', async () => {
    const res = await get(base, '/v1/metrics/aggregate?metric=load&interval=1d');
    expect(res.status).toBe(200);
    const want = model(86_400_000);
    expect(want).toHaveLength(2);
    expectBuckets(res.body, want);
    // count counts samples of `load` only, not events
    const total = res.body.reduce((n: number, b: any) => n + b.count, 0);
    expect(total).toBe(samples.filter((s) => s.load !== undefined).length);
    expect(total).toBeLessThan(samples.length);
  });

  it('1h buckets, all devices', async () => {
    const res = await get(base, '/v1/metrics/aggregate?metric=load&interval=1h&from_time=2025-01-01T00:00:00&to_time=2025-12-31T00:00:00');
    expect(res.status).toBe(200);
    const want = model(3_600_000);
    expect(want.length).toBe(5);
    expectBuckets(res.body, want);
  });

  it('5m buckets, all devices', async () => {
    const res = await get(base, '/v1/metrics/aggregate?metric=load&interval=5m');
    expect(res.status).toBe(200);
    const want = model(300_000);
    expect(want.length).toBeGreaterThan(5);
    expect(want.length).toBeLessThan(MAX_BUCKETS);
    expectBuckets(res.body, want);
  });

  it('10s buckets over the first hour (from/to inclusive)', async () => {
    const from = BASE;
    const to = BASE + 23 * STEP; // the last device's first sample, exactly
    const res = await get(base, `/v1/metrics/aggregate?metric=load&interval=10s&from_time=${new Date(from).toISOString()}&to_time=${new Date(to).toISOString()}`);
    expect(res.status).toBe(200);
    const want = model(10_000, { from, to });
    expect(want.length).toBeGreaterThan(10);
    expectBuckets(res.body, want);
  });

  it('the default interval is 1m', async () => {
    const res = await get(base, `/v1/metrics/aggregate?metric=load&from_time=${BASE}&to_time=${BASE + 3_600_000 - 1}`);
    expect(res.status).toBe(200);
    expectBuckets(res.body, model(60_000, { from: BASE, to: BASE + 3_600_000 - 1 }));
  });

  it('one device (on each shard): only that device', async () => {
    const d0 = DEVICES.find((d) => shardOf(d) === 0)!;
    const d1 = DEVICES.find((d) => shardOf(d) === 1)!;
    for (const d of [d0, d1]) {
      const res = await get(base, `/v1/metrics/aggregate?metric=load&device_id=${d}&interval=1h`);
      expect(res.status).toBe(200);
      const want = model(3_600_000, { device: d });
      expect(want.length).toBeGreaterThan(0);
      expectBuckets(res.body, want);
    }
  });

  it('another metric of the same events is aggregated separately', async () => {
    const res = await get(base, '/v1/metrics/aggregate?metric=other&interval=1d');
    expect(res.status).toBe(200);
    const total = res.body.reduce((n: number, b: any) => n + b.count, 0);
    expect(total).toBe(samples.length);
    expect(res.body[0].min).toBe(1000);
    expect(res.body[0].max).toBe(1000 + DEVICES.length - 1);
  });

  it('an unknown metric or device -> []', async () => {
    expect((await get(base, '/v1/metrics/aggregate?metric=nope')).body).toEqual([]);
    expect((await get(base, '/v1/metrics/aggregate?metric=load&device_id=nobody')).body).toEqual([]);
  });

  it('a wide range at a fine interval is fine while few buckets are non-empty (a year at 1s)', async () => {
    const res = await get(base, '/v1/metrics/aggregate?metric=load&interval=1s&device_id=agg-dev-1&from_time=2025-01-01T00:00:00&to_time=2025-12-31T00:00:00');
    expect(res.status).toBe(200);
    expectBuckets(res.body, model(1000, { device: 'agg-dev-1' }));
  });

  it('more non-empty buckets than MAX_BUCKETS -> 422 that says to widen the interval', async () => {
    expect(model(1000).length).toBeGreaterThan(MAX_BUCKETS);
    const res = await get(base, '/v1/metrics/aggregate?metric=load&interval=1s');
    expect(res.status).toBe(422);
    const text = JSON.stringify(res.body);
    expect(text).toMatch(/interval/i);
    detailItems(res);
  });
});
