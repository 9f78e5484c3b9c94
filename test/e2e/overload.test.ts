// Overload against the real server process: with SHARD_QUEUE_MAX=1 and one shard, a burst of
// concurrent batches overflows the shard's queue. Refused batches get 503 with Retry-After (never a
// 500) and store nothing; every event of every accepted batch is stored exactly once; the refusal is
// counted; the service keeps answering.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { get, postJson } from './helpers.js';
import { eventsOf, metricSum, refused, scrape } from './hardening-helpers.js';

const BATCHES = 200;
const PER_BATCH = 500;
const DEVICES = 20;

describe('SHARD_QUEUE_MAX=1, SHARDS=1: a burst of concurrent batches', () => {
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startServer({ SHARDS: '1', SHARD_QUEUE_MAX: '1' });
    base = server.url;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('some get 503 + Retry-After, the rest 200, no 500; every accepted event is stored exactly once', async () => {
    const base0 = Date.UTC(2025, 0, 1);
    const batchOf = (b: number) => {
      const device = `ov-${b % DEVICES}`;
      return Array.from({ length: PER_BATCH }, (_, i) => ({
        event_id: `b${b}-${i}`,
        device_id: device,
        timeStamp: base0 + b * PER_BATCH + i,
        metrics: { v: i, w: b },
        tags: ['load'],
      }));
    };
    const bodies = Array.from({ length: BATCHES }, (_, b) => JSON.stringify(batchOf(b)));
    const before = await refused(base, 'overload');

    const answers = await Promise.all(
      bodies.map(async (body, b) => {
        const res = await postJson(base, '/v1/events/batch', body);
        return { b, res };
      }),
    );

    const byStatus = new Map<number, number>();
    for (const { res } of answers) byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
    const summary = JSON.stringify([...byStatus]);
    expect([...byStatus.keys()].every((s) => s === 200 || s === 503), summary).toBe(true);
    expect(byStatus.get(503) ?? 0, `some batches must be refused: ${summary}`).toBeGreaterThan(0);
    expect(byStatus.get(200) ?? 0, `some batches must be accepted: ${summary}`).toBeGreaterThan(0);

    const accepted = new Set<number>();
    for (const { b, res } of answers) {
      if (res.status === 503) {
        expect(Number(res.headers.get('retry-after')), res.text).toBeGreaterThan(0);
        expect(typeof res.body?.detail).toBe('string');
      } else {
        expect(res.body).toHaveLength(PER_BATCH);
        expect(res.body.every((s: { status: string }) => s.status === 'stored')).toBe(true);
        accepted.add(b);
      }
    }

    // the service still answers
    expect((await get(base, '/healthz')).status).toBe(200);
    expect((await get(base, '/readyz')).status).toBe(200);

    // every event of every accepted batch is there, exactly once; nothing of a refused one
    for (let d = 0; d < DEVICES; d++) {
      const events = await eventsOf(base, `ov-${d}`);
      const ids = events.map((e) => e.event_id as string);
      expect(new Set(ids).size, `ov-${d}: duplicates`).toBe(ids.length);
      const expected: string[] = [];
      for (let b = d; b < BATCHES; b += DEVICES) if (accepted.has(b)) for (let i = 0; i < PER_BATCH; i++) expected.push(`b${b}-${i}`);
      expect(ids.sort(), `ov-${d}`).toEqual(expected.sort());
    }

    const text = await scrape(base);
    expect(metricSum(text, 'telemetry_requests_refused_total', { reason: 'overload' })).toBe(before + (byStatus.get(503) ?? 0));
    expect(metricSum(text, 'telemetry_events_stored_total')).toBe(accepted.size * PER_BATCH);

    // a refused batch resent later is accepted
    const retry = answers.find((a) => a.res.status === 503)!;
    const again = await postJson(base, '/v1/events/batch', bodies[retry.b]!);
    expect(again.status, again.text).toBe(200);
    expect(again.body.every((s: { status: string }) => s.status === 'stored')).toBe(true);
  }, 40_000);
});
