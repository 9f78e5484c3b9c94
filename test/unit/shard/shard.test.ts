import { describe, expect, it } from 'vitest';
import { DUPLICATE, STORED } from '../../../src/engine/engine.js';
import { BatchBuilder, type Reply, type Task } from '../../../src/shard/protocol.js';
import { Shard } from '../../../src/shard/shard.js';

const T0 = Date.UTC(2025, 0, 15, 10);
const MIN = 60_000;

const shard = () => {
  const s = new Shard({ index: 0, limits: { ringCapacity: 100, rawRetentionMs: 86_400_000, rollupRetentionMs: 30 * 86_400_000 } });
  s.open();
  return s;
};

/** A memory-only shard answers synchronously: nothing waits for a log. */
function handle(s: Shard, task: Task): Reply<unknown> {
  const r = s.handle(task);
  if (r instanceof Promise) throw new Error('a memory-only shard answered asynchronously');
  return r;
}

function value<T>(r: Reply<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
}

function ingest(s: Shard, events: [string, string, number, Record<string, number>, string[]][]) {
  const b = new BatchBuilder();
  events.forEach(([d, e, ts, m, t], i) => b.add(i, d, e, ts, m, t));
  return value(handle(s, { op: 'ingest', batch: b.finish() }) as Reply<{ statuses: Uint8Array; alerts: unknown[] }>);
}

describe('Shard.handle', () => {
  it('ingest applies a packed batch in order and answers one status per event', () => {
    const s = shard();
    const r = ingest(s, [
      ['d1', 'e1', T0, { cpu: 1 }, ['a']],
      ['d1', 'e2', T0 + 1000, { cpu: 2, mem: 3 }, []],
      ['d1', 'e1', T0 + 5, { cpu: 9 }, []], // repeat inside the batch
      ['d2', 'e1', T0, {}, ['a', 'b']],
    ]);
    expect(Array.from(r.statuses)).toEqual([STORED, STORED, DUPLICATE, STORED]);
    expect(r.alerts).toEqual([]);
    expect(JSON.parse(value(handle(s, { op: 'recent', deviceId: 'd1', fromMs: -Infinity, toMs: Infinity, limit: 10 })) as string)).toEqual([
      { event_id: 'e2', device_id: 'd1', timeStamp: '2025-01-15T10:00:01.000Z', metrics: { cpu: 2, mem: 3 }, tags: [] },
      { event_id: 'e1', device_id: 'd1', timeStamp: '2025-01-15T10:00:00.000Z', metrics: { cpu: 1 }, tags: ['a'] },
    ]);
    expect(JSON.parse(value(handle(s, { op: 'recent', deviceId: 'd2', fromMs: -Infinity, toMs: Infinity, limit: 10 })) as string)[0]).toMatchObject({
      metrics: {},
      tags: ['a', 'b'],
    });
  });

  it('ingest returns the alerts its events fired', () => {
    const s = shard();
    value(handle(s, { op: 'addRule', rule: { id: 7, device_id: 'd1', metric: 'cpu', op: '>', threshold: 1 } }));
    const r = ingest(s, [
      ['d1', 'e1', T0, { cpu: 1 }, []],
      ['d1', 'e2', T0, { cpu: 2 }, []],
      ['d1', 'e2', T0, { cpu: 2 }, []],
    ]);
    expect(r.alerts).toEqual([
      { device_id: 'd1', event_id: 'e2', time: T0, metrics: [['cpu', 2]], alert_id: 7, metric: 'cpu', op: '>', threshold: 1, value: 2 },
    ]);
  });

  it('recent answers [] as JSON text for an unknown device', () => {
    expect(handle(shard(), { op: 'recent', deviceId: 'nope', fromMs: 0, toMs: 1, limit: 1 })).toEqual({ ok: true, value: '[]' });
  });

  it('aggregate answers columnar buckets', () => {
    const s = shard();
    ingest(s, [
      ['d1', 'e1', T0, { cpu: 1 }, []],
      ['d1', 'e2', T0 + MIN, { cpu: 3 }, []],
      ['d2', 'e3', T0 + MIN + 1, { cpu: 5 }, []],
    ]);
    expect(value(handle(s, { op: 'aggregate', metric: 'cpu', fromMs: -Infinity, toMs: Infinity, intervalMs: MIN, maxBuckets: 10 }))).toEqual({
      start: [T0, T0 + MIN],
      count: [1, 2],
      sum: [1, 8],
      min: [1, 3],
      max: [1, 5],
    });
    expect(value(handle(s, { op: 'aggregate', metric: 'cpu', deviceId: 'd1', fromMs: -Infinity, toMs: Infinity, intervalMs: 5 * MIN, maxBuckets: 10 }))).toEqual({
      start: [T0],
      count: [2],
      sum: [4],
      min: [1],
      max: [3],
    });
  });

  it('search answers hits newest first', () => {
    const s = shard();
    ingest(s, [
      ['d1', 'e1', T0, {}, ['a']],
      ['d2', 'e2', T0 + 1, {}, ['a', 'b']],
    ]);
    const hits = value(handle(s, { op: 'search', tags: ['a'], fromMs: -Infinity, toMs: Infinity, limit: 10 })) as { eventIds: string[]; deviceIds: string[]; ts: number[] };
    expect(hits.eventIds).toEqual(['e2', 'e1']);
    expect(hits.deviceIds).toEqual(['d2', 'd1']);
    expect(hits.ts).toEqual([T0 + 1, T0]);
  });

  it('addRule, listRules and removeRule manage the alert rules', () => {
    const s = shard();
    const rule = { id: 2, device_id: 'd1', metric: 'cpu', op: '>=' as const, threshold: 5, callback_url: 'https://x.example/h' };
    expect(handle(s, { op: 'addRule', rule })).toEqual({ ok: true, value: true });
    expect(handle(s, { op: 'addRule', rule: { ...rule, id: 1, callback_url: undefined } })).toEqual({ ok: true, value: true });
    expect((value(handle(s, { op: 'listRules' })) as { id: number }[]).map((r) => r.id)).toEqual([1, 2]);
    expect(handle(s, { op: 'removeRule', id: 2 })).toEqual({ ok: true, value: true });
    expect(handle(s, { op: 'removeRule', id: 2 })).toEqual({ ok: true, value: false });
    expect((value(handle(s, { op: 'listRules' })) as { id: number }[]).map((r) => r.id)).toEqual([1]);
  });

  it('refuses writes until open() has recovered it', () => {
    const s = new Shard({ index: 0, limits: { ringCapacity: 10, rawRetentionMs: 60_000, rollupRetentionMs: 60_000 } });
    const b = new BatchBuilder();
    b.add(0, 'd', 'e', 1, {}, []);
    const r = handle(s, { op: 'ingest', batch: b.finish() });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('NOT_READY');
  });

  it('stats reports the engine counters', () => {
    const s = shard();
    ingest(s, [
      ['d1', 'e1', T0, { cpu: 1 }, []],
      ['d1', 'e1', T0, { cpu: 1 }, []],
    ]);
    expect(value(handle(s, { op: 'stats' }))).toMatchObject({ engine: { devices: 1, rawEvents: 1, eventsStored: 1, eventsDuplicate: 1 }, store: null, failed: null });
  });

  it('an API error comes back as {ok: false, error: {code}} instead of being thrown', () => {
    const s = shard();
    ingest(s, [
      ['d1', 'e1', T0, { cpu: 1 }, []],
      ['d1', 'e2', T0 + MIN, { cpu: 1 }, []],
    ]);
    const task: Task = { op: 'aggregate', metric: 'cpu', fromMs: -Infinity, toMs: Infinity, intervalMs: MIN, maxBuckets: 1 };
    const r = handle(s, task);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('TOO_MANY_BUCKETS');
    expect(r.error.issues).toEqual([expect.objectContaining({ loc: ['query', 'interval'], type: 'too_many_buckets' })]);
    expect(structuredClone(r)).toEqual(r); // plain data: survives the thread boundary
  });

  it('a programming error (not an API error) is thrown, not disguised as a reply', () => {
    const s = shard();
    const b = new BatchBuilder();
    // A ring that cannot make room: capacity 0 is not a valid configuration, and must fail loudly.
    const broken = new Shard({ index: 1, limits: { ringCapacity: 0, rawRetentionMs: 1, rollupRetentionMs: 60_000 } });
    broken.open();
    b.add(0, 'd', 'e', 1, {}, []);
    expect(() => handle(broken, { op: 'ingest', batch: b.finish() })).toThrow();
    expect(handle(s, { op: 'stats' }).ok).toBe(true);
  });
});
