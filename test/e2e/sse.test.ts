// Alert rules and the alert stream: list/delete rules, every op, SSE without device_id, the device
// filter, heartbeats, Last-Event-ID resume, and rules surviving a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { detailItems, get, postJson, request, devicesOnBothShards, sleep, SseClient } from './helpers.js';

let server: RunningServer;
let base: string;
const dataDir = mkdtempSync(join(tmpdir(), 'telemetry-e2e-sse-'));
const clients: SseClient[] = [];

beforeAll(async () => {
  server = await startServer({ SSE_HEARTBEAT_MS: '300' }, { dataDir });
  base = server.url;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function open(path: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const c = await SseClient.open(base + path, headers);
  clients.push(c);
  expect(c.status).toBe(200);
  // wait for the stream head (retry hint) so the subscription is live before we trigger anything
  await c.waitUntil(() => c.frames.some((f) => f.retry !== undefined), 2000, 'retry: hint');
  return c;
}

async function addRule(device_id: string, metric: string, op: string, threshold: number): Promise<number> {
  const res = await postJson(base, '/v1/alerts', { device_id, metric, op, threshold });
  expect(res.status, res.text).toBe(200);
  expect(res.body.status).toBe('alert registered');
  return res.body.id;
}

let seq = 0;
async function send(device_id: string, metrics: Record<string, number>, minute = 0): Promise<string> {
  const event_id = `ev${++seq}`;
  const res = await postJson(base, '/v1/events', {
    event_id,
    device_id,
    timeStamp: new Date(Date.UTC(2025, 5, 1, 12, minute, seq % 60)).toISOString(),
    metrics,
    tags: [],
  });
  expect(res.body).toEqual({ status: 'ok' });
  return event_id;
}


describe('alert rules', () => {
  let r1: number;
  let r2: number;

  it('GET /v1/alerts lists the registered rules', async () => {
    r1 = await addRule('rules-dev', 'temp', '>', 50);
    r2 = await addRule('rules-dev2', 'hum', '<=', 0.25);
    expect(r2).not.toBe(r1);
    const res = await get(base, '/v1/alerts');
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body)).toBe(true);
    const a = res.body.find((r: any) => r.id === r1);
    const b = res.body.find((r: any) => r.id === r2);
    expect(a).toMatchObject({ id: r1, device_id: 'rules-dev', metric: 'temp', op: '>', threshold: 50 });
    expect(b).toMatchObject({ id: r2, device_id: 'rules-dev2', metric: 'hum', op: '<=', threshold: 0.25 });
  });

  it('DELETE /v1/alerts/{id} removes a rule (listed no more, fires no more); a second DELETE is 404', async () => {
    const sse = await open('/v1/alerts/stream?device_id=rules-dev');
    const del = await request(base, 'DELETE', `/v1/alerts/${r1}`);
    expect(del.status).toBe(200);
    const list = await get(base, '/v1/alerts');
    expect(list.body.some((r: any) => r.id === r1)).toBe(false);
    expect(list.body.some((r: any) => r.id === r2)).toBe(true);
    await send('rules-dev', { temp: 99 });
    await sleep(300);
    expect(sse.dataFrames).toHaveLength(0);
    const again = await request(base, 'DELETE', `/v1/alerts/${r1}`);
    expect(again.status).toBe(404);
  });

  it('DELETE with a non-numeric id is not a 500', async () => {
    const res = await request(base, 'DELETE', '/v1/alerts/abc');
    expect([404, 422]).toContain(res.status);
  });

  it('a rule with a missing field -> 422', async () => {
    const res = await postJson(base, '/v1/alerts', { device_id: 'x', metric: 'temp', op: '>' });
    const item = detailItems(res).find((d) => d.loc.join('.') === 'body.threshold');
    expect(item?.type).toBe('missing');
  });

  it('each op compares as documented (value 10 against threshold 10)', async () => {
    const sse = await open('/v1/alerts/stream?device_id=ops-dev');
    const ids: Record<string, number> = {};
    for (const op of ['>', '<', '>=', '<=', '==', '!=']) ids[op] = await addRule('ops-dev', 'v', op, 10);
    await send('ops-dev', { v: 10 });
    await sse.waitForDataFrames(3, 2000);
    await sleep(200);
    const fired = sse.alerts.map((a) => a.op).sort();
    expect(fired).toEqual(['<=', '==', '>='].sort());
    for (const a of sse.alerts) expect(a.alert_id).toBe(ids[a.op]);
    await send('ops-dev', { v: 11 });
    await sse.waitForDataFrames(6, 2000);
    await sleep(200);
    expect(sse.alerts.slice(3).map((a) => a.op).sort()).toEqual(['!=', '>', '>='].sort());
    // an event without the metric fires nothing
    await send('ops-dev', { other: 100 });
    await sleep(200);
    expect(sse.dataFrames).toHaveLength(6);
  });
});

describe('alert stream', () => {
  it('without device_id: receives the alerts of every device (both shards); with device_id only that device', async () => {
    const [a, b] = devicesOnBothShards('all');
    await addRule(a, 'temp', '>', 1);
    await addRule(b, 'temp', '>', 1);
    const all = await open('/v1/alerts/stream');
    const onlyA = await open(`/v1/alerts/stream?device_id=${a}`);
    const ea = await send(a, { temp: 5 });
    const eb = await send(b, { temp: 6 });
    await all.waitUntil(() => all.alerts.some((x) => x.event_id === ea) && all.alerts.some((x) => x.event_id === eb), 2000, 'both alerts');
    const got = all.alerts.filter((x) => x.event_id === ea || x.event_id === eb);
    expect(got.map((x) => [x.device_id, x.value])).toEqual([
      [a, 5],
      [b, 6],
    ]);
    await onlyA.waitUntil(() => onlyA.alerts.some((x) => x.event_id === ea), 2000, 'alert of a');
    await sleep(200);
    expect(onlyA.alerts.every((x) => x.device_id === a)).toBe(true);
    expect(onlyA.alerts.some((x) => x.event_id === eb)).toBe(false);
    // ids increase
    const ids = all.dataFrames.map((f) => BigInt(f.id!));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
  });

  it('a batch fires one alert per matching stored event, in order', async () => {
    await addRule('batch-alert', 'temp', '>=', 30);
    const sse = await open('/v1/alerts/stream?device_id=batch-alert');
    const mk = (id: string, temp: number) => ({ event_id: id, device_id: 'batch-alert', timeStamp: Date.UTC(2025, 5, 2) + temp, metrics: { temp }, tags: [] });
    const res = await postJson(base, '/v1/events/batch', [mk('ba1', 31), mk('ba2', 10), mk('ba3', 45), mk('ba1', 99)]);
    expect(res.body.map((s: any) => s.status)).toEqual(['stored', 'stored', 'stored', 'duplicate']);
    await sse.waitForDataFrames(2, 2000);
    await sleep(200);
    expect(sse.alerts.map((a) => [a.event_id, a.value])).toEqual([
      ['ba1', 31],
      ['ba3', 45],
    ]);
  });

  it('sends comment heartbeats (SSE_HEARTBEAT_MS=300) and no event: fields', async () => {
    const sse = await open('/v1/alerts/stream?device_id=quiet');
    await sse.waitUntil(() => sse.frames.some((f) => f.comments.length > 0), 2000, 'a heartbeat comment');
    expect(sse.frames.some((f) => f.event !== undefined)).toBe(false);
    expect(sse.headers['cache-control']).toMatch(/no-cache/);
  });

  it('Last-Event-ID resumes: exactly the missed alerts, in order', async () => {
    await addRule('resume-dev', 'p', '>', 0);
    const first = await open('/v1/alerts/stream?device_id=resume-dev');
    const e1 = await send('resume-dev', { p: 1 });
    await first.waitForDataFrames(1, 2000);
    const f1 = first.dataFrames[0]!;
    expect(JSON.parse(f1.data!).event_id).toBe(e1);
    const lastId = f1.id!;
    expect(lastId).toBeTruthy();
    first.close();
    await sleep(100);

    const e2 = await send('resume-dev', { p: 2 });
    const e3 = await send('resume-dev', { p: 3 });
    const second = await open('/v1/alerts/stream?device_id=resume-dev', { 'Last-Event-ID': lastId });
    await second.waitForDataFrames(2, 2000);
    await sleep(300);
    expect(second.alerts.map((a) => [a.event_id, a.value])).toEqual([
      [e2, 2],
      [e3, 3],
    ]);
    const ids = second.dataFrames.map((f) => BigInt(f.id!));
    expect(ids[0]! > BigInt(lastId)).toBe(true);
    expect(ids[1]! > ids[0]!).toBe(true);

    // and it goes on live after the replay
    const e4 = await send('resume-dev', { p: 4 });
    await second.waitForDataFrames(3, 2000);
    expect(second.alerts[2].event_id).toBe(e4);

    // resuming from the second id replays only what follows it
    const third = await open('/v1/alerts/stream?device_id=resume-dev', { 'Last-Event-ID': second.dataFrames[1]!.id! });
    await third.waitForDataFrames(1, 2000);
    await sleep(200);
    expect(third.alerts.map((a) => a.event_id)).toEqual([e4]);
  });

  it('Last-Event-ID on a stream without device_id replays every device', async () => {
    const [a, b] = devicesOnBothShards('replay-all');
    await addRule(a, 'q', '>', 0);
    await addRule(b, 'q', '>', 0);
    const first = await open('/v1/alerts/stream');
    const ea = await send(a, { q: 1 });
    await first.waitUntil(() => first.alerts.some((x) => x.event_id === ea), 2000, 'first alert');
    const lastId = first.dataFrames.find((f) => JSON.parse(f.data!).event_id === ea)!.id!;
    first.close();
    await sleep(100);
    const eb = await send(b, { q: 2 });
    const ea2 = await send(a, { q: 3 });
    const second = await open('/v1/alerts/stream', { 'Last-Event-ID': lastId });
    await second.waitForDataFrames(2, 2000);
    await sleep(200);
    expect(second.alerts.map((x) => x.event_id)).toEqual([eb, ea2]);
  });
});
