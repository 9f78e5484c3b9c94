// The query cache never serves an answer older than an acknowledged write: every query below is
// repeated (so a cached answer exists) after each write to the shards it reads, on both shards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { devicesOnBothShards, get, postJson } from './helpers.js';

let server: RunningServer;
const [a, b] = devicesOnBothShards('qc');
const ev = (id: string, device: string, minute: number, temp: number) => ({
  event_id: id,
  device_id: device,
  timeStamp: new Date(Date.UTC(2025, 5, 1, 0, minute)).toISOString(),
  metrics: { temp },
  tags: ['cache', `dev:${device}`],
});

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

const cacheCounts = async () => {
  const text = (await get(server.url, '/metrics')).text;
  const n = (result: string) => Number(new RegExp(`^telemetry_query_cache_requests_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 'NaN');
  return { hit: n('hit'), miss: n('miss') };
};

describe('query cache', () => {
  it('answers repeated queries from the cache and sees every acknowledged write', async () => {
    const queries = [
      `/v1/devices/${a}/events?limit=10`,
      `/v1/devices/${b}/events?limit=10`,
      `/v1/metrics/aggregate?metric=temp&interval=1h&device_id=${a}`,
      '/v1/metrics/aggregate?metric=temp&interval=1h',
      '/v1/search?tag=cache&limit=100',
    ];
    const answers = async () => Promise.all(queries.map(async (q) => JSON.parse((await get(server.url, q)).text) as unknown[]));
    for (let round = 0; round < 6; round++) {
      const device = round % 2 === 0 ? a : b;
      const res = await postJson(server.url, '/v1/events', ev(`e${round}`, device, round, round));
      expect(res.status).toBe(200);
      const first = await answers();
      const second = await answers(); // from the cache
      expect(second).toEqual(first);
      const [recentA, recentB, aggA, aggAll, search] = first as [unknown[], unknown[], { count: number }[], { count: number; sum: number }[], unknown[]];
      expect(recentA.length + recentB.length).toBe(round + 1);
      expect(aggA.reduce((n, x) => n + x.count, 0)).toBe(Math.floor(round / 2) + 1);
      expect(aggAll[0]!.count).toBe(round + 1);
      expect(aggAll[0]!.sum).toBe((round * (round + 1)) / 2);
      expect(search.length).toBe(round + 1);
    }
    const { hit, miss } = await cacheCounts();
    expect(hit).toBeGreaterThanOrEqual(6 * queries.length);
    expect(miss).toBeGreaterThan(0);
  });

  it('is off with QUERY_CACHE_ENTRIES=0', async () => {
    const off = await startServer({ QUERY_CACHE_ENTRIES: '0' });
    try {
      await postJson(off.url, '/v1/events', ev('x', a, 0, 1));
      for (let i = 0; i < 3; i++) expect(JSON.parse((await get(off.url, `/v1/devices/${a}/events`)).text)).toHaveLength(1);
      const text = (await get(off.url, '/metrics')).text;
      expect(text).toMatch(/^telemetry_query_cache_requests_total\{result="hit"\} 0$/m);
    } finally {
      await off.stop();
    }
  });
});
