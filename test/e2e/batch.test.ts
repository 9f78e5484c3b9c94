// POST /v1/events/batch: per-event statuses in request order, duplicates inside one batch,
// all-or-nothing validation, ?partial=true, NDJSON and msgpack bodies, the events-per-batch limit.
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { detailItems, get, postJson, postRaw, devicesOnBothShards } from './helpers.js';

const MAX_BATCH_EVENTS = 8;

let server: RunningServer;
let base: string;

beforeAll(async () => {
  server = await startServer({ MAX_BATCH_EVENTS: String(MAX_BATCH_EVENTS) });
  base = server.url;
});

afterAll(async () => {
  await server?.stop();
});

const ev = (event_id: string, device_id: string, minute: number, t = 1, tags: string[] = []) => ({
  event_id,
  device_id,
  timeStamp: new Date(Date.UTC(2025, 1, 1, 12, minute)).toISOString(),
  metrics: { t },
  tags,
});

const eventsOf = async (device: string): Promise<any[]> => {
  const res = await get(base, `/v1/devices/${encodeURIComponent(device)}/events`);
  expect(res.status).toBe(200);
  return res.body;
};


describe('batch ingest', () => {
  it('statuses come back in request order across both shards', async () => {
    const [a, b] = devicesOnBothShards('order');
    const batch = [ev('o1', a, 1), ev('o2', b, 2), ev('o3', a, 3), ev('o4', b, 4)];
    const res = await postJson(base, '/v1/events/batch', batch);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(batch.map((e) => ({ event_id: e.event_id, status: 'stored' })));
    expect((await eventsOf(a)).map((e) => e.event_id)).toEqual(['o3', 'o1']);
    expect((await eventsOf(b)).map((e) => e.event_id)).toEqual(['o4', 'o2']);
  });

  it('a plain batch across both shards places each status where its event was, duplicates in the middle included', async () => {
    const [a, b] = devicesOnBothShards('placed');
    const first = await postJson(base, '/v1/events/batch', [ev('p2', b, 2)]);
    expect(first.body).toEqual([{ event_id: 'p2', status: 'stored' }]);
    // a's events and b's interleaved; p2 already stored, p1 repeated inside the batch.
    const batch = [ev('p1', a, 1), ev('p2', b, 2), ev('p3', b, 3), ev('p1', a, 1), ev('p4', a, 4), ev('p5', b, 5)];
    const res = await postJson(base, '/v1/events/batch', batch);
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { event_id: 'p1', status: 'stored' },
      { event_id: 'p2', status: 'duplicate' },
      { event_id: 'p3', status: 'stored' },
      { event_id: 'p1', status: 'duplicate' },
      { event_id: 'p4', status: 'stored' },
      { event_id: 'p5', status: 'stored' },
    ]);
    expect((await eventsOf(a)).map((e) => e.event_id)).toEqual(['p4', 'p1']);
    expect((await eventsOf(b)).map((e) => e.event_id)).toEqual(['p5', 'p3', 'p2']);
  });

  it('answers every event id exactly, whatever characters it holds (quotes, backslashes, unicode; invalid ones too)', async () => {
    const ids = ['q"uote', 'back\\slash', 'both\\"x', 'é ☃ 😀', 'plain-id', '\u2028line'];
    const batch = ids.map((id, i) => ev(id, 'escape-dev', i));
    const res = await postJson(base, '/v1/events/batch?partial=true', [...batch, ev('ctl\u0001', 'escape-dev', 9), { ...ev('lone\ud800', 'escape-dev', 10) }]);
    expect(res.status).toBe(200);
    expect(res.body.map((x: { event_id: string }) => x.event_id)).toEqual([...ids, 'ctl\u0001', 'lone\ud800']);
    expect(res.body.map((x: { status: string }) => x.status)).toEqual([...ids.map(() => 'stored'), 'invalid', 'invalid']);
    expect((await eventsOf('escape-dev')).map((e) => e.event_id).sort()).toEqual([...ids].sort());
  });

  it('a repeat inside one batch is "duplicate" and the first copy wins', async () => {
    const res = await postJson(base, '/v1/events/batch', [ev('d1', 'dup-dev', 1, 10), ev('d1', 'dup-dev', 1, 99), ev('d2', 'dup-dev', 2, 20)]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { event_id: 'd1', status: 'stored' },
      { event_id: 'd1', status: 'duplicate' },
      { event_id: 'd2', status: 'stored' },
    ]);
    const got = await eventsOf('dup-dev');
    expect(got).toHaveLength(2);
    expect(got.find((e) => e.event_id === 'd1').metrics).toEqual({ t: 10 });
  });

  it('a repeat of a stored key is a duplicate whatever its other fields say, and changes nothing', async () => {
    const res = await postJson(base, '/v1/events/batch', [ev('d1', 'dup-dev', 30, 55, ['new'])]);
    expect(res.body).toEqual([{ event_id: 'd1', status: 'duplicate' }]);
    const single = await postJson(base, '/v1/events', ev('d2', 'dup-dev', 40, 77));
    expect(single.body).toEqual({ status: 'duplicate' });
    const got = await eventsOf('dup-dev');
    expect(got).toHaveLength(2);
    expect(got.find((e) => e.event_id === 'd1')).toEqual(ev('d1', 'dup-dev', 1, 10));
    const agg = await get(base, '/v1/metrics/aggregate?metric=t&device_id=dup-dev&interval=1d');
    expect(agg.body).toHaveLength(1);
    expect(agg.body[0].count).toBe(2);
    expect(agg.body[0].sum).toBe(30);
    const search = await get(base, '/v1/search?tag=new');
    expect(search.body).toEqual([]);
  });

  it('the idempotency key is (device_id, event_id): the same event_id on another device is stored', async () => {
    const res = await postJson(base, '/v1/events/batch', [ev('same', 'key-a', 1), ev('same', 'key-b', 1)]);
    expect(res.body).toEqual([
      { event_id: 'same', status: 'stored' },
      { event_id: 'same', status: 'stored' },
    ]);
    expect(await eventsOf('key-a')).toHaveLength(1);
    expect(await eventsOf('key-b')).toHaveLength(1);
  });

  it('one invalid event makes the whole batch a 422 and stores nothing (on either shard)', async () => {
    const [a, b] = devicesOnBothShards('allornothing');
    const bad = { ...ev('n2', b, 2), metrics: { t: 'hot' } };
    const res = await postJson(base, '/v1/events/batch', [ev('n1', a, 1), bad, ev('n3', b, 3)]);
    const items = detailItems(res);
    expect(items.map((d) => d.loc)).toContainEqual(['body', 1, 'metrics', 't']);
    expect(await eventsOf(a)).toEqual([]);
    expect(await eventsOf(b)).toEqual([]);
    // Really nothing: the valid events are new when sent again.
    const again = await postJson(base, '/v1/events/batch', [ev('n1', a, 1), ev('n3', b, 3)]);
    expect(again.body).toEqual([
      { event_id: 'n1', status: 'stored' },
      { event_id: 'n3', status: 'stored' },
    ]);
  });

  it('?partial=true stores the valid events and answers {"event_id","status":"invalid","error"} for the bad one', async () => {
    const [a, b] = devicesOnBothShards('partial');
    const bad = { ...ev('p2', b, 2), metrics: { t: 'hot' } };
    const res = await postJson(base, '/v1/events/batch?partial=true', [ev('p1', a, 1), bad, ev('p3', b, 3), ev('p1', a, 1)]);
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(4);
    expect(res.body[0]).toEqual({ event_id: 'p1', status: 'stored' });
    expect(Object.keys(res.body[1]).sort()).toEqual(['error', 'event_id', 'status']);
    expect(res.body[1].event_id).toBe('p2');
    expect(res.body[1].status).toBe('invalid');
    expect(typeof res.body[1].error).toBe('string');
    expect(res.body[1].error).toMatch(/metrics/);
    expect(res.body[2]).toEqual({ event_id: 'p3', status: 'stored' });
    expect(res.body[3]).toEqual({ event_id: 'p1', status: 'duplicate' });
    expect((await eventsOf(a)).map((e) => e.event_id)).toEqual(['p1']);
    expect((await eventsOf(b)).map((e) => e.event_id)).toEqual(['p3']);
  });

  it('?partial=false (explicit) is all-or-nothing', async () => {
    const res = await postJson(base, '/v1/events/batch?partial=false', [ev('pf1', 'pf-dev', 1), { ...ev('pf2', 'pf-dev', 2), timeStamp: 'nope' }]);
    expect(res.status).toBe(422);
    expect(await eventsOf('pf-dev')).toEqual([]);
  });

  it('an application/x-ndjson body is one event per line', async () => {
    const lines = [ev('nd1', 'nd-dev', 1, 1), ev('nd2', 'nd-dev', 2, 2), ev('nd1', 'nd-dev', 1, 1)].map((e) => JSON.stringify(e));
    const res = await postRaw(base, '/v1/events/batch', lines.join('\n') + '\n', 'application/x-ndjson');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { event_id: 'nd1', status: 'stored' },
      { event_id: 'nd2', status: 'stored' },
      { event_id: 'nd1', status: 'duplicate' },
    ]);
    expect((await eventsOf('nd-dev')).map((e) => e.event_id)).toEqual(['nd2', 'nd1']);
  });

  it('NDJSON with a broken line -> 422, nothing stored', async () => {
    const body = JSON.stringify(ev('ndb1', 'ndb-dev', 1)) + '\n{"event_id": \n';
    const res = await postRaw(base, '/v1/events/batch', body, 'application/x-ndjson');
    expect(detailItems(res)[0]!.loc[0]).toBe('body');
    expect(await eventsOf('ndb-dev')).toEqual([]);
  });

  it('an application/msgpack body (msgpackr) is decoded like JSON', async () => {
    const packr = new Packr({ useRecords: false });
    const batch = [ev('mp1', 'mp-dev', 1, 1.5, ['mp']), ev('mp2', 'mp-dev', 2, 2.5, ['mp'])];
    const res = await postRaw(base, '/v1/events/batch', packr.pack(batch), 'application/msgpack');
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { event_id: 'mp1', status: 'stored' },
      { event_id: 'mp2', status: 'stored' },
    ]);
    expect(await eventsOf('mp-dev')).toEqual([batch[1], batch[0]]);
    // a single event in msgpack too
    const one = await postRaw(base, '/v1/events', packr.pack(ev('mp3', 'mp-dev', 3, 3)), 'application/msgpack');
    expect(one.body).toEqual({ status: 'ok' });
  });

  it('a msgpack body with records (msgpackr default options) is also understood, or refused with a 422', async () => {
    const res = await postRaw(base, '/v1/events/batch', new Packr().pack([ev('mr1', 'mprec-dev', 1)]), 'application/msgpack');
    expect([200, 422]).toContain(res.status);
    if (res.status === 200) expect(res.body).toEqual([{ event_id: 'mr1', status: 'stored' }]);
  });

  it('garbage msgpack -> 422', async () => {
    const res = await postRaw(base, '/v1/events/batch', new Uint8Array([0xc1, 0xff, 0x00]), 'application/msgpack');
    expect(res.status).toBe(422);
    detailItems(res);
  });

  it('a body that is not an array -> 422', async () => {
    const res = await postJson(base, '/v1/events/batch', ev('obj', 'obj-dev', 1));
    expect(res.status).toBe(422);
    expect(await eventsOf('obj-dev')).toEqual([]);
  });

  it('an empty batch -> 200 []', async () => {
    const res = await postJson(base, '/v1/events/batch', []);
    expect(res.status).toBe(200);
    expect(res.body).toEqual([]);
  });

  it('exactly MAX_BATCH_EVENTS events are accepted; one more -> 422 and nothing stored', async () => {
    const full = Array.from({ length: MAX_BATCH_EVENTS }, (_, i) => ev(`f${i}`, 'full-dev', i));
    const ok = await postJson(base, '/v1/events/batch', full);
    expect(ok.status).toBe(200);
    expect(ok.body).toHaveLength(MAX_BATCH_EVENTS);
    const over = Array.from({ length: MAX_BATCH_EVENTS + 1 }, (_, i) => ev(`g${i}`, 'over-dev', i));
    const res = await postJson(base, '/v1/events/batch', over);
    expect(res.status).toBe(422);
    expect(detailItems(res)[0]!.loc[0]).toBe('body');
    expect(await eventsOf('over-dev')).toEqual([]);
    // also with ?partial=true and as NDJSON
    expect((await postJson(base, '/v1/events/batch?partial=true', over)).status).toBe(422);
    expect((await postRaw(base, '/v1/events/batch', over.map((e) => JSON.stringify(e)).join('\n'), 'application/x-ndjson')).status).toBe(422);
    expect(await eventsOf('over-dev')).toEqual([]);
  });

  it('large bodies, one after another and at once, each store exactly their own events (body buffers and batch blocks are reused)', async () => {
    // Tags of ~250 characters make bodies of tens of KB: pooled body buffers, and batches written
    // into the shards' shared blocks. Each body's tags say which body and event they are, so
    // bytes left over from an earlier, longer body would show.
    const body = (name: string, events: number, tagsEach: number) =>
      Array.from({ length: events }, (_, i) => ({
        ...ev(`${name}-${i}`, `${name}-dev-${i % 2}`, i),
        tags: Array.from({ length: tagsEach }, (_, k) => `${name}:${i}:${k}:`.padEnd(250, String.fromCharCode(97 + ((i + k) % 26)))),
      }));
    const check = async (batch: ReturnType<typeof body>) => {
      const res = await postJson(base, '/v1/events/batch', batch);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(batch.map((e) => ({ event_id: e.event_id, status: 'stored' })));
    };
    const stored = async (batch: ReturnType<typeof body>) => {
      const got = [...(await eventsOf(batch[0]!.device_id)), ...(await eventsOf(batch[1]!.device_id))];
      const byId = new Map(got.map((e) => [e.event_id, e]));
      expect(got).toHaveLength(batch.length);
      for (const e of batch) expect([...byId.get(e.event_id).tags].sort()).toEqual([...e.tags].sort());
    };
    const long = body('long', MAX_BATCH_EVENTS, 20); // ~40 KB
    const short = body('short', MAX_BATCH_EVENTS, 16); // ~33 KB: the same size class
    await check(long);
    await check(short);
    await stored(long);
    await stored(short);
    const many = Array.from({ length: 6 }, (_, k) => body(`many${k}`, MAX_BATCH_EVENTS - (k % 3), 8 + 3 * k));
    await Promise.all(many.map(check));
    for (const b of many) await stored(b);
  });
});
