// Errors of the contract (SPEC.md): FastAPI-shaped 422s, 413, 404, 405, and the time rules
// (offset-less timestamps are UTC, epoch milliseconds accepted), against the real server.
import http from 'node:http';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { detailItems, get, postJson, postRaw, request, type Res } from './helpers.js';

let server: RunningServer;
let base: string;

// A machine time zone far from UTC: an offset-less timestamp read as local time would be 5.5 h off.
const MAX_BODY = 4096;
const MAX_BATCH_BODY = 16384;

beforeAll(async () => {
  server = await startServer({ TZ: 'Asia/Kolkata', MAX_BODY_BYTES: String(MAX_BODY), MAX_BATCH_BODY_BYTES: String(MAX_BATCH_BODY) });
  base = server.url;
});

afterAll(async () => {
  await server?.stop();
});

const ev = (over: Record<string, unknown> = {}) => ({
  event_id: 'x1',
  device_id: 'err-dev',
  timeStamp: '2025-01-15T10:00:00Z',
  metrics: { t: 1 },
  tags: [],
  ...over,
});

const eventsOf = async (device: string): Promise<any[]> => {
  const res = await get(base, `/v1/devices/${encodeURIComponent(device)}/events`);
  expect(res.status).toBe(200);
  return res.body;
};

const locs = (res: Res) => detailItems(res).map((d) => d.loc);

describe('health', () => {
  it('/healthz answers 200', async () => {
    const res = await get(base, '/healthz');
    expect(res.status).toBe(200);
  });
  it('/readyz answers 200 once started', async () => {
    const res = await get(base, '/readyz');
    expect(res.status).toBe(200);
  });
});

describe('validation errors: 422 in FastAPI shape', () => {
  it('malformed JSON -> 422 {"detail":[{"loc":["body",...],"msg","type"}]}', async () => {
    const res = await postJson(base, '/v1/events', '{"event_id": "m1", "device_id": ');
    const items = detailItems(res);
    expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
    expect(items[0]!.loc[0]).toBe('body');
    expect(items[0]!.type).toBe('json_invalid');
    expect(await eventsOf('err-dev')).toEqual([]);
  });

  it('malformed JSON in a batch -> 422', async () => {
    const res = await postJson(base, '/v1/events/batch', '[{"event_id": "m1"},');
    expect(detailItems(res)[0]!.loc[0]).toBe('body');
  });

  it('empty body -> 422 (not 500)', async () => {
    const res = await postJson(base, '/v1/events', '');
    expect(detailItems(res)[0]!.loc[0]).toBe('body');
  });

  it('a JSON value that is not an object (array, string, null) -> 422', async () => {
    for (const body of ['[]', '"hello"', 'null', '42']) {
      const res = await postJson(base, '/v1/events', body);
      expect(res.status, body).toBe(422);
      detailItems(res);
    }
  });

  it('metrics {"t":"hot"} -> 422 with loc pointing at the metric', async () => {
    const res = await postJson(base, '/v1/events', ev({ event_id: 'w1', device_id: 'wrong-types', metrics: { t: 'hot' } }));
    expect(locs(res)).toContainEqual(['body', 'metrics', 't']);
    // present but of the wrong type: not reported as a missing field
    const item = detailItems(res).find((d) => d.loc.join('.') === 'body.metrics.t')!;
    expect(item.type, res.text).not.toBe('missing');
    expect(item.msg, res.text).not.toBe('Field required');
    expect(await eventsOf('wrong-types')).toEqual([]);
  });

  it('other wrong types point at their field: event_id number, tags string, metrics array, timeStamp bool', async () => {
    const cases: [Record<string, unknown>, (string | number)[]][] = [
      [{ event_id: 123 }, ['body', 'event_id']],
      [{ device_id: ['a'] }, ['body', 'device_id']],
      [{ tags: 'room:1' }, ['body', 'tags']],
      [{ tags: ['ok', 5] }, ['body', 'tags', 1]],
      [{ metrics: [1, 2] }, ['body', 'metrics']],
      [{ timeStamp: true }, ['body', 'timeStamp']],
      [{ timeStamp: 'yesterday' }, ['body', 'timeStamp']],
      [{ timeStamp: '2025-02-30T10:00:00' }, ['body', 'timeStamp']],
      [{ metrics: { t: null } }, ['body', 'metrics', 't']],
      [{ metrics: { t: true } }, ['body', 'metrics', 't']],
    ];
    for (const [over, loc] of cases) {
      const res = await postJson(base, '/v1/events', ev({ device_id: 'wrong-types', ...over }));
      expect(res.status, JSON.stringify(over)).toBe(422);
      expect(locs(res), JSON.stringify(over)).toContainEqual(loc);
      const item = detailItems(res).find((d) => d.loc.join('.') === loc.join('.'))!;
      expect(item.type, `${JSON.stringify(over)} -> ${res.text}`).not.toBe('missing');
    }
    expect(await eventsOf('wrong-types')).toEqual([]);
  });

  it('timeStamp 5 (a number) is epoch milliseconds, not an error', async () => {
    const res = await postJson(base, '/v1/events', ev({ event_id: 'epoch5', device_id: 'epoch-dev', timeStamp: 5 }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    const got = await eventsOf('epoch-dev');
    expect(got).toHaveLength(1);
    expect(got[0].timeStamp).toBe('1970-01-01T00:00:00.005Z');
  });

  it('a missing required field -> 422 with type "missing" and its loc', async () => {
    for (const field of ['event_id', 'device_id', 'timeStamp', 'metrics']) {
      const body: Record<string, unknown> = ev({ device_id: 'missing-dev' });
      delete body[field];
      const res = await postJson(base, '/v1/events', body);
      const items = detailItems(res);
      const it = items.find((d) => d.loc.join('.') === `body.${field}`);
      expect(it, `${field}: ${res.text}`).toBeDefined();
      expect(it!.type, `missing ${field}: ${res.text}`).toBe('missing');
    }
    expect(await eventsOf('missing-dev')).toEqual([]);
  });

  it('tags are optional (default [])', async () => {
    const body: Record<string, unknown> = ev({ event_id: 'notags', device_id: 'notags-dev' });
    delete body.tags;
    const res = await postJson(base, '/v1/events', body);
    expect(res.status).toBe(200);
    const got = await eventsOf('notags-dev');
    expect(got).toHaveLength(1);
    expect(got[0].tags).toEqual([]);
  });

  it('non-finite numbers: 1e999 in a raw JSON body -> 422, nothing stored', async () => {
    const raw = '{"event_id":"nf1","device_id":"nonfinite","timeStamp":"2025-01-15T10:00:00","metrics":{"t":1e999},"tags":[]}';
    const res = await postJson(base, '/v1/events', raw);
    expect(locs(res)).toContainEqual(['body', 'metrics', 't']);
    const neg = await postJson(base, '/v1/events', raw.replace('1e999', '-1e999'));
    expect(neg.status).toBe(422);
    const ts = await postJson(base, '/v1/events', '{"event_id":"nf2","device_id":"nonfinite","timeStamp":1e999,"metrics":{"t":1}}');
    expect(locs(ts)).toContainEqual(['body', 'timeStamp']);
    expect(await eventsOf('nonfinite')).toEqual([]);
  });

  it('non-finite numbers in msgpack (NaN, Infinity) -> 422, nothing stored', async () => {
    const packr = new Packr({ useRecords: false });
    for (const v of [NaN, Infinity, -Infinity]) {
      const res = await postRaw(base, '/v1/events', packr.pack(ev({ event_id: `nf-${v}`, device_id: 'nonfinite-mp', metrics: { t: v } })), 'application/msgpack');
      expect(res.status, String(v)).toBe(422);
      expect(locs(res)).toContainEqual(['body', 'metrics', 't']);
    }
    expect(await eventsOf('nonfinite-mp')).toEqual([]);
  });

  it('alert threshold must be finite (1e999 -> 422)', async () => {
    const res = await postJson(base, '/v1/alerts', '{"device_id":"d","metric":"t","op":">","threshold":1e999}');
    expect(locs(res)).toContainEqual(['body', 'threshold']);
  });

  it('"__proto__" as a metric name -> 422; nothing reaches a prototype; the server stays fine', async () => {
    const raw = '{"event_id":"p1","device_id":"proto-dev","timeStamp":"2025-01-15T10:00:00Z","metrics":{"__proto__":{"polluted":1},"ok":1},"tags":[]}';
    const res = await postJson(base, '/v1/events', raw);
    expect(res.status).toBe(422);
    detailItems(res);
    const res2 = await postJson(base, '/v1/events', raw.replace('{"polluted":1}', '5'));
    expect(res2.status).toBe(422);
    expect(locs(res2).some((l) => l.includes('__proto__'))).toBe(true);
    expect(await eventsOf('proto-dev')).toEqual([]);

    // The process still answers, and no object grew a `polluted` property: a fresh event reads back
    // with exactly its own fields and metrics.
    const ok = await postJson(base, '/v1/events', ev({ event_id: 'p2', device_id: 'proto-dev', metrics: { ok: 2 } }));
    expect(ok.body).toEqual({ status: 'ok' });
    const got = await eventsOf('proto-dev');
    expect(got).toEqual([{ event_id: 'p2', device_id: 'proto-dev', timeStamp: '2025-01-15T10:00:00.000Z', metrics: { ok: 2 }, tags: [] }]);
    expect(got[0].polluted).toBeUndefined();
    expect((await get(base, '/healthz')).status).toBe(200);
    const agg = await get(base, '/v1/metrics/aggregate?metric=polluted');
    expect(agg.status).toBe(200);
    expect(agg.body).toEqual([]);
  });

  it('"constructor" / "prototype" metric names are rejected (422) or stored as ordinary names', async () => {
    for (const name of ['constructor', 'prototype']) {
      const device = `proto-${name}`;
      const res = await postJson(base, '/v1/events', ev({ event_id: 'c1', device_id: device, metrics: { [name]: 7 } }));
      expect([200, 422], res.text).toContain(res.status);
      const got = await eventsOf(device);
      if (res.status === 422) expect(got).toEqual([]);
      else {
        expect(got).toHaveLength(1);
        expect(Object.hasOwn(got[0].metrics, name)).toBe(true);
        expect(got[0].metrics[name]).toBe(7);
      }
    }
  });

  it('"__proto__" as a metric name in a msgpack body -> 422 or an ordinary name, never silently renamed', async () => {
    const packr = new Packr({ useRecords: false });
    // A Map packs as a msgpack map with the literal key "__proto__".
    const body = new Map<string, unknown>([
      ['event_id', 'mp1'],
      ['device_id', 'proto-mp'],
      ['timeStamp', '2025-01-15T10:00:00Z'],
      ['metrics', new Map<string, number>([['__proto__', 5], ['ok', 1]])],
      ['tags', []],
    ]);
    const res = await postRaw(base, '/v1/events', packr.pack(body), 'application/msgpack');
    const got = await eventsOf('proto-mp');
    if (res.status === 200) {
      // stored: the name must be kept as sent
      expect(got).toHaveLength(1);
      expect(Object.keys(got[0].metrics).sort()).toEqual(['__proto__', 'ok']);
    } else {
      expect(res.status, `${res.status} ${res.text}; stored: ${JSON.stringify(got)}`).toBe(422);
      expect(got).toEqual([]);
    }
  });

  it('"__proto__" as an alert metric -> 422', async () => {
    const res = await postJson(base, '/v1/alerts', { device_id: 'd', metric: '__proto__', op: '>', threshold: 1 });
    expect(locs(res)).toContainEqual(['body', 'metric']);
  });

  it('an unknown alert op -> 422 at body.op', async () => {
    const res = await postJson(base, '/v1/alerts', { device_id: 'd', metric: 't', op: '=>', threshold: 1 });
    expect(locs(res)).toContainEqual(['body', 'op']);
  });

  it('limits: overlong ids, too many tags -> 422, never a crash', async () => {
    const long = await postJson(base, '/v1/events', ev({ event_id: 'x'.repeat(129), device_id: 'limits-dev' }));
    expect(locs(long)).toContainEqual(['body', 'event_id']);
    const tags = await postJson(base, '/v1/events', ev({ event_id: 'l2', device_id: 'limits-dev', tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }));
    expect(locs(tags)).toContainEqual(['body', 'tags']);
    expect(await eventsOf('limits-dev')).toEqual([]);
  });
});

describe('body size: 413', () => {
  const big = (bytes: number) => JSON.stringify(ev({ event_id: 'big', device_id: 'big-dev', tags: ['x'.repeat(bytes)] }));

  it('a single event larger than MAX_BODY_BYTES (Content-Length) -> 413, nothing stored', async () => {
    const res = await postJson(base, '/v1/events', big(MAX_BODY + 100));
    expect(res.status).toBe(413);
    expect(typeof res.body?.detail).toBe('string');
    expect(await eventsOf('big-dev')).toEqual([]);
  });

  it('a chunked body (no Content-Length) larger than MAX_BODY_BYTES -> 413', async () => {
    const body = big(MAX_BODY + 100);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${base}/v1/events`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < body.length; i += 1000) req.write(body.slice(i, i + 1000));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('a batch may be larger than MAX_BODY_BYTES up to MAX_BATCH_BODY_BYTES; past that 413', async () => {
    const events = Array.from({ length: 5 }, (_, i) => ev({ event_id: `bb${i}`, device_id: 'bigbatch-dev', tags: Array.from({ length: 6 }, (_, k) => `${k}`.padEnd(250, 'y')) }));
    expect(JSON.stringify(events).length).toBeGreaterThan(MAX_BODY);
    const ok = await postJson(base, '/v1/events/batch', events);
    expect(ok.status, ok.text).toBe(200);
    expect(await eventsOf('bigbatch-dev')).toHaveLength(5);
    const tooBig = Array.from({ length: 12 }, (_, i) => ev({ event_id: `bbx${i}`, device_id: 'bigbatch-dev2', tags: Array.from({ length: 6 }, (_, k) => `${k}`.padEnd(250, 'y')) }));
    expect(JSON.stringify(tooBig).length).toBeGreaterThan(MAX_BATCH_BODY);
    const res = await postJson(base, '/v1/events/batch', tooBig);
    expect(res.status).toBe(413);
    expect(await eventsOf('bigbatch-dev2')).toEqual([]);
  });

  it('the server still answers after 413s', async () => {
    expect((await get(base, '/healthz')).status).toBe(200);
  });
});

describe('routing: 404 and 405', () => {
  it('unknown route -> 404 with a JSON body', async () => {
    for (const path of ['/v1/nope', '/v2/events', '/']) {
      const res = await get(base, path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).toHaveProperty('detail');
    }
  });

  it('PUT /v1/events -> 405 with Allow: POST', async () => {
    const res = await request(base, 'PUT', '/v1/events', JSON.stringify(ev()));
    expect(res.status).toBe(405);
    expect(res.headers.get('allow') ?? '').toMatch(/\bPOST\b/);
    expect(res.headers.get('allow') ?? '').not.toMatch(/\bPUT\b/);
  });

  it('GET /v1/events/batch -> 405 with Allow: POST', async () => {
    const res = await get(base, '/v1/events/batch');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow') ?? '').toMatch(/\bPOST\b/);
  });

  it('POST /v1/search -> 405 with Allow: GET', async () => {
    const res = await request(base, 'POST', '/v1/search?tag=a', '{}');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow') ?? '').toMatch(/\bGET\b/);
  });

  it('DELETE /v1/alerts/999999 -> 404', async () => {
    const res = await request(base, 'DELETE', '/v1/alerts/999999');
    expect(res.status).toBe(404);
    expect(typeof res.body?.detail).toBe('string');
  });

  it('an unknown device -> 200 []', async () => {
    expect(await eventsOf('never-seen-device')).toEqual([]);
  });
});

describe('query parameters', () => {
  it('unknown interval (7x) -> 422 at query.interval (the original silently used 1m)', async () => {
    for (const interval of ['7x', '0m', 'm', '1.5m', '-1m']) {
      const res = await get(base, `/v1/metrics/aggregate?metric=t&interval=${encodeURIComponent(interval)}`);
      expect(res.status, interval).toBe(422);
      expect(locs(res), interval).toContainEqual(['query', 'interval']);
    }
  });

  it('aggregate without metric -> 422 missing at query.metric', async () => {
    const res = await get(base, '/v1/metrics/aggregate?device_id=d');
    const item = detailItems(res).find((d) => d.loc.join('.') === 'query.metric');
    expect(item?.type).toBe('missing');
  });

  it('search without tag -> 422', async () => {
    const res = await get(base, '/v1/search?limit=5');
    expect(locs(res)).toContainEqual(['query', 'tag']);
  });

  it('limit=0, limit=abc, limit=-1, limit=1.5, limit above 10000 -> 422 at query.limit', async () => {
    for (const limit of ['0', 'abc', '-1', '1.5', '10001']) {
      for (const path of [`/v1/devices/deviceA/events?limit=${limit}`, `/v1/search?tag=room:101&limit=${limit}`]) {
        const res = await get(base, path);
        expect(res.status, path).toBe(422);
        expect(locs(res), path).toContainEqual(['query', 'limit']);
      }
    }
    expect((await get(base, '/v1/devices/deviceA/events?limit=10000')).status).toBe(200);
  });

  it('bad from_time / to_time -> 422 at that parameter on every query route', async () => {
    for (const [param, path] of [
      ['from_time', '/v1/devices/d/events?from_time=notatime'],
      ['to_time', '/v1/devices/d/events?to_time=2025-13-01T00:00:00'],
      ['from_time', '/v1/metrics/aggregate?metric=t&from_time=yesterday'],
      ['to_time', '/v1/metrics/aggregate?metric=t&to_time=2025-01-32'],
      ['from_time', '/v1/search?tag=a&from_time=soon'],
    ] as const) {
      const res = await get(base, path);
      expect(res.status, path).toBe(422);
      expect(locs(res), path).toContainEqual(['query', param]);
    }
  });
});

describe('time', () => {
  it('a timeStamp without offset is UTC (machine TZ is Asia/Kolkata); with +02:00 it is converted', async () => {
    const a = await postJson(base, '/v1/events', ev({ event_id: 'utc1', device_id: 'tz-dev', timeStamp: '2025-01-15T10:00:00' }));
    const b = await postJson(base, '/v1/events', ev({ event_id: 'utc2', device_id: 'tz-dev', timeStamp: '2025-01-15T12:00:00+02:00' }));
    expect(a.body).toEqual({ status: 'ok' });
    expect(b.body).toEqual({ status: 'ok' });
    const got = await eventsOf('tz-dev');
    expect(got.map((e) => e.timeStamp)).toEqual(['2025-01-15T10:00:00.000Z', '2025-01-15T10:00:00.000Z']);
    expect(got.map((e) => e.event_id).sort()).toEqual(['utc1', 'utc2']);
  });

  it('query times without offset are UTC and bounds are inclusive', async () => {
    const res = await get(base, '/v1/devices/tz-dev/events?from_time=2025-01-15T10:00:00&to_time=2025-01-15T10:00:00');
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(2);
    const before = await get(base, '/v1/devices/tz-dev/events?to_time=2025-01-15T09:59:59.999');
    expect(before.body).toEqual([]);
    const after = await get(base, '/v1/devices/tz-dev/events?from_time=2025-01-15T10:00:00.001Z');
    expect(after.body).toEqual([]);
  });

  it('an epoch-milliseconds timeStamp reads back as ISO UTC with milliseconds', async () => {
    const ms = Date.UTC(2025, 0, 15, 10, 30, 15, 123);
    const res = await postJson(base, '/v1/events', ev({ event_id: 'ms1', device_id: 'ms-dev', timeStamp: ms }));
    expect(res.body).toEqual({ status: 'ok' });
    const got = await eventsOf('ms-dev');
    expect(got).toHaveLength(1);
    expect(got[0].timeStamp).toBe('2025-01-15T10:30:15.123Z');
    // an epoch-ms query bound selects it too
    const q = await get(base, `/v1/devices/ms-dev/events?from_time=${ms}&to_time=${ms}`);
    expect(q.body).toHaveLength(1);
  });
});
