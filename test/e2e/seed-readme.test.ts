// Every curl of the original README (seed/README-seed.md), in order, with the same paths, bodies and
// headers, against the real server process. The contract: they keep working, with the same shapes.
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { get, postJson, SseClient, type Res } from './helpers.js';

let server: RunningServer;
let base: string;
let sse: SseClient | undefined;

beforeAll(async () => {
  server = await startServer();
  base = server.url;
});

afterAll(async () => {
  sse?.close();
  await server?.stop();
});

// The README's bodies, byte for byte (as `curl -d` sends them).
const SINGLE = `{
  "event_id": "e001",
  "device_id": "deviceA",
  "timeStamp": "2025-01-15T10:00:00",
  "metrics": { "temp": 34.2, "cpu": 0.44 },
  "tags": ["room:101","sensor:v2"]
}`;

const BATCH = `[
  {
    "event_id": "e002",
    "device_id": "deviceA",
    "timeStamp": "2025-01-15T10:02:00",
    "metrics": { "temp": 30 },
    "tags": ["room:101"]
  },
  {
    "event_id": "e003",
    "device_id": "deviceA",
    "timeStamp": "2025-01-15T10:03:00",
    "metrics": { "temp": 35 },
    "tags": ["room:102"]
  }
]`;

const ALERT = `{
  "device_id":"deviceA",
  "metric":"temp",
  "op":">",
  "threshold":32
}`;

const TRIGGER = `{
  "event_id":"t002",
  "device_id":"deviceA",
  "timeStamp":"2025-01-15T11:01:00",
  "metrics":{"temp":40},
  "tags":[]
}`;

const E001 = { event_id: 'e001', device_id: 'deviceA', timeStamp: '2025-01-15T10:00:00.000Z', metrics: { temp: 34.2, cpu: 0.44 }, tags: ['room:101', 'sensor:v2'] };
const E002 = { event_id: 'e002', device_id: 'deviceA', timeStamp: '2025-01-15T10:02:00.000Z', metrics: { temp: 30 }, tags: ['room:101'] };
const E003 = { event_id: 'e003', device_id: 'deviceA', timeStamp: '2025-01-15T10:03:00.000Z', metrics: { temp: 35 }, tags: ['room:102'] };

function expectJson(res: Res): void {
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
}

describe('seed README curls, in order', () => {
  it('1. ingest a single event -> {"status":"ok"}', async () => {
    const res = await postJson(base, '/v1/events', SINGLE);
    expect(res.status).toBe(200);
    expectJson(res);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('1b. the same event again -> 200 {"status":"duplicate"} (the original answered 500)', async () => {
    const res = await postJson(base, '/v1/events', SINGLE);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'duplicate' });
  });

  it('2. batch ingest -> one {"event_id","status":"stored"} per event, in request order', async () => {
    const res = await postJson(base, '/v1/events/batch', BATCH);
    expect(res.status).toBe(200);
    expectJson(res);
    expect(res.body).toEqual([
      { event_id: 'e002', status: 'stored' },
      { event_id: 'e003', status: 'stored' },
    ]);
  });

  it('2b. the same batch again -> every event "duplicate"', async () => {
    const res = await postJson(base, '/v1/events/batch', BATCH);
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { event_id: 'e002', status: 'duplicate' },
      { event_id: 'e003', status: 'duplicate' },
    ]);
  });

  it('3. recent events: newest first, {event_id, device_id, timeStamp (ISO, Z), metrics, tags}', async () => {
    const res = await get(base, '/v1/devices/deviceA/events?from_time=2025-01-01T00:00:00&to_time=2025-12-31T00:00:00&limit=5');
    expect(res.status).toBe(200);
    expectJson(res);
    expect(res.body).toEqual([E003, E002, E001]);
    for (const e of res.body) {
      expect(Object.keys(e).sort()).toEqual(['device_id', 'event_id', 'metrics', 'tags', 'timeStamp']);
      expect(e.timeStamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
  });

  it('3b. limit is honoured (limit=2 -> the two newest)', async () => {
    const res = await get(base, '/v1/devices/deviceA/events?from_time=2025-01-01T00:00:00&to_time=2025-12-31T00:00:00&limit=2');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([E003, E002]);
  });

  it('4. aggregate temp at 1m over a year: ascending buckets with correct count/sum/avg/min/max', async () => {
    const res = await get(base, '/v1/metrics/aggregate?metric=temp&device_id=deviceA&from_time=2025-01-01T00:00:00&to_time=2025-12-31T00:00:00&interval=1m');
    expect(res.status).toBe(200);
    expectJson(res);
    expect(res.body).toHaveLength(3);
    const expected = [
      { bucket: '2025-01-15T10:00:00.000Z', v: 34.2 },
      { bucket: '2025-01-15T10:02:00.000Z', v: 30 },
      { bucket: '2025-01-15T10:03:00.000Z', v: 35 },
    ];
    res.body.forEach((b: any, i: number) => {
      expect(Object.keys(b).sort()).toEqual(['avg', 'bucket', 'count', 'max', 'min', 'sum']);
      const x = expected[i]!;
      expect(b.bucket).toBe(x.bucket);
      expect(b.count).toBe(1);
      expect(b.sum).toBeCloseTo(x.v, 10);
      expect(b.avg).toBeCloseTo(x.v, 10);
      expect(b.min).toBeCloseTo(x.v, 10);
      expect(b.max).toBeCloseTo(x.v, 10);
    });
  });

  it('4b. aggregate at 1h merges the three events into one bucket', async () => {
    const res = await get(base, '/v1/metrics/aggregate?metric=temp&device_id=deviceA&from_time=2025-01-01T00:00:00&to_time=2025-12-31T00:00:00&interval=1h');
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(1);
    const b = res.body[0];
    expect(b.bucket).toBe('2025-01-15T10:00:00.000Z');
    expect(b.count).toBe(3);
    expect(b.sum).toBeCloseTo(99.2, 10);
    expect(b.avg).toBeCloseTo(99.2 / 3, 10);
    expect(b.min).toBe(30);
    expect(b.max).toBe(35);
  });

  it('5. search by tag room:101 -> the events carrying it, newest first', async () => {
    const res = await get(base, '/v1/search?tag=room:101&from_time=2025-01-01T00:00:00&to_time=2025-12-31T00:00:00&limit=100');
    expect(res.status).toBe(200);
    expectJson(res);
    expect(res.body).toEqual([E002, E001]);
  });

  it('6. SSE stream on deviceA opens as an event stream', async () => {
    sse = await SseClient.open(`${base}/v1/alerts/stream?device_id=deviceA`);
    expect(sse.status).toBe(200);
    expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
    // the retry: hint comes first
    await sse.waitUntil(() => sse!.frames.some((f) => f.retry !== undefined), 2000, 'retry: hint');
    expect(Number(sse.frames.find((f) => f.retry !== undefined)!.retry)).toBeGreaterThan(0);
  });

  let ruleId: number;

  it('7. register the alert -> {"status":"alert registered","id":...}', async () => {
    const res = await postJson(base, '/v1/alerts', ALERT);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['id', 'status']);
    expect(res.body.status).toBe('alert registered');
    expect(Number.isInteger(res.body.id)).toBe(true);
    ruleId = res.body.id;
  });

  it('8. trigger: the SSE client receives the alert within 1 s of the POST answer (id: + data:, no event:)', async () => {
    const res = await postJson(base, '/v1/events', TRIGGER);
    const answeredAt = performance.now();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    await sse!.waitForDataFrames(1, 1000);
    const frame = sse!.dataFrames[0]!;
    expect(frame.at - answeredAt).toBeLessThan(1000);
    expect(frame.event).toBeUndefined();
    expect(frame.fields.map(([n]) => n)).toEqual(['id', 'data']);
    expect(frame.id).toMatch(/^\S+$/);
    const data = JSON.parse(frame.data!);
    expect(data).toEqual({
      device_id: 'deviceA',
      metrics: { temp: 40 },
      time: '2025-01-15T11:01:00.000Z',
      event_id: 't002',
      alert_id: ruleId,
      metric: 'temp',
      op: '>',
      threshold: 32,
      value: 40,
    });
    // Registering the rule did not fire it retroactively for e001 (temp 34.2 > 32) or e003 (35),
    // and t002 fired exactly once.
    await new Promise((r) => setTimeout(r, 200));
    expect(sse!.dataFrames).toHaveLength(1);
  });

  it('8b. the trigger again is a duplicate and fires nothing', async () => {
    const res = await postJson(base, '/v1/events', TRIGGER);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'duplicate' });
    await new Promise((r) => setTimeout(r, 300));
    expect(sse!.dataFrames).toHaveLength(1);
  });

  it('the docs URL of the README answers (GET /docs)', async () => {
    const res = await fetch(`${base}/docs`);
    expect(res.status).toBe(200);
    await res.text();
  });
});
