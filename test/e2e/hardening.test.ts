// Hardening against the real server process: bearer-token auth (API_TOKEN, READ_TOKEN), CORS, and
// hostile or odd input (non-finite numbers, out-of-range times, prototype keys, duplicate JSON
// keys, control characters, invalid UTF-8, empty strings, deep nesting, non-object bodies): every
// such request is a 422 or stored safely, never a 500, and the server keeps answering.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { detailItems, get, postJson, postRaw, SseClient, type Res } from './helpers.js';
import { ev, eventsOf, metricSum, postBuffer, refused, scrape } from './hardening-helpers.js';

const API_TOKEN = 'api-secret-0123456789-abcdef';
const READ_TOKEN = 'read-secret-9876543210-zyxwvu';
const ORIGIN = 'https://dash.example.com';

const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

// ---------------------------------------------------------------------------------------------
// Auth: API_TOKEN only (reads open)

describe('auth with API_TOKEN only', () => {
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startServer({ API_TOKEN });
    base = server.url;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('POST /v1/events without a token: 401 with WWW-Authenticate: Bearer, nothing stored', async () => {
    const before = await refused(base, 'unauthorized');
    const res = await postJson(base, '/v1/events', ev('a1', 'auth-dev'));
    expect(res.status, res.text).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    expect(typeof res.body?.detail).toBe('string');
    expect(await eventsOf(base, 'auth-dev')).toEqual([]);
    expect(await refused(base, 'unauthorized')).toBe(before + 1);
  });

  it('POST /v1/events with a wrong token (or wrong scheme): 401, nothing stored', async () => {
    for (const authorization of [`Bearer ${API_TOKEN}x`, `Bearer ${API_TOKEN.slice(0, -1)}`, `Basic ${API_TOKEN}`, API_TOKEN, 'Bearer', `Bearer ${READ_TOKEN}`]) {
      const res = await postJson(base, '/v1/events', ev('a2', 'auth-dev'), { Authorization: authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    }
    // the batch route and alert management are writes too
    const batch = await postJson(base, '/v1/events/batch', [ev('a3', 'auth-dev')], { Authorization: 'Bearer nope-nope-nope-nope' });
    expect(batch.status).toBe(401);
    const rule = await postJson(base, '/v1/alerts', { device_id: 'auth-dev', metric: 't', op: '>', threshold: 1 });
    expect(rule.status).toBe(401);
    expect(await eventsOf(base, 'auth-dev')).toEqual([]);
  });

  it('POST /v1/events with the right bearer token: 200, stored', async () => {
    const res = await postJson(base, '/v1/events', ev('a4', 'auth-dev'), bearer(API_TOKEN));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    // the scheme is case-insensitive (RFC 7235)
    const lower = await postJson(base, '/v1/events/batch', [ev('a5', 'auth-dev')], { Authorization: `bearer ${API_TOKEN}` });
    expect(lower.status, lower.text).toBe(200);
    expect((await eventsOf(base, 'auth-dev')).map((e) => e.event_id).sort()).toEqual(['a4', 'a5']);
  });

  it('reads are open when READ_TOKEN is unset', async () => {
    expect((await get(base, '/v1/devices/auth-dev/events')).status).toBe(200);
    expect((await get(base, '/v1/search?tag=x')).status).toBe(200);
    expect((await get(base, '/v1/metrics/aggregate?metric=t')).status).toBe(200);
    expect((await get(base, '/v1/alerts')).status).toBe(200);
  });

  it('without CORS_ORIGIN no answer carries Access-Control-Allow-Origin', async () => {
    const res = await get(base, '/v1/search?tag=x', { Origin: ORIGIN });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const health = await get(base, '/healthz', { Origin: ORIGIN });
    expect(health.headers.get('access-control-allow-origin')).toBeNull();
    const pre = await fetch(base + '/v1/alerts/stream', { method: 'OPTIONS', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'GET' } });
    await pre.text();
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const sse = await SseClient.open(base + '/v1/alerts/stream', { Origin: ORIGIN });
    try {
      expect(sse.status).toBe(200);
      expect(sse.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      sse.close();
    }
  });

  it('the start-up log does not contain the token', () => {
    const out = server.output();
    expect(out).toContain('"msg":"starting"');
    expect(out).not.toContain(API_TOKEN);
  });
});

// ---------------------------------------------------------------------------------------------
// Auth: API_TOKEN and READ_TOKEN

describe('auth with API_TOKEN and READ_TOKEN', () => {
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startServer({ API_TOKEN, READ_TOKEN, CORS_ORIGIN: ORIGIN });
    base = server.url;
    const seeded = await postJson(base, '/v1/events', ev('r1', 'read-dev', { tags: ['room:1'] }), bearer(API_TOKEN));
    expect(seeded.status, seeded.text).toBe(200);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('GET /v1/search without a token: 401 with WWW-Authenticate: Bearer', async () => {
    const res = await get(base, '/v1/search?tag=room:1');
    expect(res.status, res.text).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    expect(res.text).not.toContain('r1');
    for (const path of ['/v1/devices/read-dev/events', '/v1/metrics/aggregate?metric=t', '/v1/alerts']) {
      expect((await get(base, path)).status, path).toBe(401);
    }
    expect((await get(base, '/v1/search?tag=room:1', { Authorization: 'Bearer wrong-wrong-wrong-wrong' })).status).toBe(401);
    const sse = await SseClient.open(base + '/v1/alerts/stream');
    try {
      expect(sse.status).toBe(401);
    } finally {
      sse.close();
    }
  });

  it('GET /v1/search with READ_TOKEN: 200; with API_TOKEN: 200', async () => {
    for (const token of [READ_TOKEN, API_TOKEN]) {
      const res = await get(base, '/v1/search?tag=room:1', bearer(token));
      expect(res.status, res.text).toBe(200);
      expect(res.body.map((e: { event_id: string }) => e.event_id)).toEqual(['r1']);
    }
    const sse = await SseClient.open(base + '/v1/alerts/stream', bearer(READ_TOKEN));
    try {
      expect(sse.status).toBe(200);
    } finally {
      sse.close();
    }
  });

  it('READ_TOKEN cannot write: 401, nothing stored', async () => {
    const res = await postJson(base, '/v1/events', ev('r2', 'read-dev'), bearer(READ_TOKEN));
    expect(res.status, res.text).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
    const rule = await postJson(base, '/v1/alerts', { device_id: 'read-dev', metric: 't', op: '>', threshold: 1 }, bearer(READ_TOKEN));
    expect(rule.status).toBe(401);
    const del = await fetch(base + '/v1/alerts/1', { method: 'DELETE', headers: bearer(READ_TOKEN) });
    await del.text();
    expect(del.status).toBe(401);
    const stored = await get(base, '/v1/devices/read-dev/events', bearer(READ_TOKEN));
    expect(stored.body.map((e: { event_id: string }) => e.event_id)).toEqual(['r1']);
  });

  it('with CORS: a preflight needs no token, and a 401 carries Access-Control-Allow-Origin (so a dashboard can read it)', async () => {
    const pre = await fetch(base + '/v1/search', { method: 'OPTIONS', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' } });
    await pre.text();
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect((pre.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toContain('authorization');
    const denied = await get(base, '/v1/search?tag=room:1', { Origin: ORIGIN });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const allowed = await get(base, '/v1/search?tag=room:1', { Origin: ORIGIN, ...bearer(READ_TOKEN) });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it('/healthz, /readyz and /metrics stay open', async () => {
    expect((await get(base, '/healthz')).status).toBe(200);
    expect((await get(base, '/readyz')).status).toBe(200);
    const m = await get(base, '/metrics');
    expect(m.status).toBe(200);
    expect(m.text).toContain('telemetry_requests_refused_total');
    expect(m.text).not.toContain(API_TOKEN);
    expect(m.text).not.toContain(READ_TOKEN);
  });

  it('the start-up log contains neither token', () => {
    const out = server.output();
    expect(out).toContain('"msg":"starting"');
    expect(out).not.toContain(API_TOKEN);
    expect(out).not.toContain(READ_TOKEN);
  });
});

// ---------------------------------------------------------------------------------------------
// CORS, then input safety on the same server (CORS changes nothing about validation)

describe('CORS_ORIGIN and input safety', () => {
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startServer({ CORS_ORIGIN: ORIGIN });
    base = server.url;
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** 422 in FastAPI's shape or 200; never 500; and the server still answers. */
  const alive = async () => {
    const h = await get(base, '/healthz');
    expect(h.status).toBe(200);
  };
  const locsOf = (res: Res) => detailItems(res).map((d) => d.loc);

  describe('CORS', () => {
    it('answers carry Access-Control-Allow-Origin (success, 404, 422)', async () => {
      const ok = await get(base, '/v1/search?tag=x', { Origin: ORIGIN });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      const posted = await postJson(base, '/v1/events', ev('c1', 'cors-dev'), { Origin: ORIGIN });
      expect(posted.status).toBe(200);
      expect(posted.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      const notFound = await get(base, '/nope', { Origin: ORIGIN });
      expect(notFound.status).toBe(404);
      expect(notFound.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      const invalid = await postJson(base, '/v1/events', '{}', { Origin: ORIGIN });
      expect(invalid.status).toBe(422);
      expect(invalid.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    });

    it('OPTIONS preflight on /v1/alerts/stream: 204 with Allow-Methods and Allow-Headers', async () => {
      const res = await fetch(base + '/v1/alerts/stream', {
        method: 'OPTIONS',
        headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'last-event-id, authorization' },
      });
      await res.text();
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(res.headers.get('access-control-allow-methods')).toMatch(/\bGET\b/);
      const allowHeaders = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      expect(allowHeaders).toContain('last-event-id');
      expect(allowHeaders).toContain('authorization');
      expect(allowHeaders).toContain('content-type');
      // and on a write route
      const pre = await fetch(base + '/v1/events', { method: 'OPTIONS', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST' } });
      await pre.text();
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-methods')).toMatch(/\bPOST\b/);
    });

    it('the SSE stream response carries Access-Control-Allow-Origin', async () => {
      const sse = await SseClient.open(base + '/v1/alerts/stream', { Origin: ORIGIN });
      try {
        expect(sse.status).toBe(200);
        expect(sse.headers['content-type']).toMatch(/^text\/event-stream/);
        expect(sse.headers['access-control-allow-origin']).toBe(ORIGIN);
      } finally {
        sse.close();
      }
    });
  });

  describe('input safety', () => {
    const T = '2025-04-01T00:00:00Z';

    it('1e999 as a metric value: 422 naming the metric, nothing stored', async () => {
      const res = await postJson(base, '/v1/events', `{"event_id":"inf1","device_id":"safe-inf","timeStamp":"${T}","metrics":{"t":1e999}}`);
      expect(locsOf(res)).toContainEqual(['body', 'metrics', 't']);
      const neg = await postJson(base, '/v1/events', `{"event_id":"inf2","device_id":"safe-inf","timeStamp":"${T}","metrics":{"t":-1e999}}`);
      expect(neg.status).toBe(422);
      const batch = await postJson(base, '/v1/events/batch', `[{"event_id":"inf3","device_id":"safe-inf","timeStamp":"${T}","metrics":{"t":1e999}}]`);
      expect(locsOf(batch)).toContainEqual(['body', 0, 'metrics', 't']);
      expect(await eventsOf(base, 'safe-inf')).toEqual([]);
      await alive();
    });

    it('timestamps 2**53+2 and 1e300 (epoch ms beyond any Date): 422 on timeStamp', async () => {
      for (const ts of ['9007199254740994', '1e300', '-1e300', '8.64e15000']) {
        const res = await postJson(base, '/v1/events', `{"event_id":"ts-${ts}","device_id":"safe-ts","timeStamp":${ts},"metrics":{"t":1}}`);
        expect(locsOf(res), ts).toContainEqual(['body', 'timeStamp']);
      }
      expect(await eventsOf(base, 'safe-ts')).toEqual([]);
      await alive();
    });

    it('the edges of the Date range (±8.64e15 ms) are stored and read back safely', async () => {
      for (const [id, ts] of [
        ['max', 8.64e15],
        ['min', -8.64e15],
      ] as const) {
        const device = `safe-edge-${id}`;
        const res = await postJson(base, '/v1/events', { event_id: id, device_id: device, timeStamp: ts, metrics: { t: 1 } });
        expect([200, 422], res.text).toContain(res.status);
        if (res.status === 200) {
          const back = await eventsOf(base, device);
          expect(back.map((e) => e.timeStamp)).toEqual([new Date(ts).toISOString()]);
          const agg = await get(base, `/v1/metrics/aggregate?metric=t&device_id=${device}&interval=1d`);
          expect(agg.status, agg.text).toBe(200);
          expect(agg.body.map((b: { count: number }) => b.count)).toEqual([1]);
        }
      }
      await alive();
    });

    it('"__proto__" and "constructor" metric keys: 422, and Object.prototype stays untouched', async () => {
      for (const key of ['__proto__', 'constructor', 'prototype']) {
        const res = await postJson(base, '/v1/events', `{"event_id":"p-${key}","device_id":"safe-proto","timeStamp":"${T}","metrics":{"${key}":1}}`);
        const items = detailItems(res);
        expect(items.some((d) => d.loc[1] === 'metrics'), res.text).toBe(true);
      }
      // an object value under __proto__ would be the actual pollution attempt
      const polluting = await postJson(
        base,
        '/v1/events',
        `{"event_id":"p-obj","device_id":"safe-proto","timeStamp":"${T}","metrics":{"__proto__":{"polluted":1},"t":1},"__proto__":{"polluted":true}}`,
      );
      expect(polluting.status).toBe(422);
      const batch = await postJson(base, '/v1/events/batch', `[{"event_id":"p-b","device_id":"safe-proto","timeStamp":"${T}","metrics":{"constructor":1}}]`);
      expect(batch.status).toBe(422);
      expect(await eventsOf(base, 'safe-proto')).toEqual([]);
      // a later normal event works and carries exactly its own metrics
      const normal = await postJson(base, '/v1/events', ev('p-ok', 'safe-proto', { metrics: { t: 2 } }));
      expect(normal.body).toEqual({ status: 'ok' });
      const back = await eventsOf(base, 'safe-proto');
      expect(back).toHaveLength(1);
      expect(back[0].metrics).toEqual({ t: 2 });
      expect(back[0]).not.toHaveProperty('polluted');
      await alive();
    });

    it('inherited Object.prototype names (toString, hasOwnProperty, valueOf) are ordinary metric names', async () => {
      const metrics = { toString: 1, hasOwnProperty: 2, valueOf: 3, __defineGetter__: 4 };
      const res = await postJson(base, '/v1/events', ev('proto-names', 'safe-names', { metrics }));
      expect([200, 422], res.text).toContain(res.status);
      if (res.status === 200) {
        const back = await eventsOf(base, 'safe-names');
        expect(back[0].metrics).toEqual(metrics);
        const agg = await get(base, '/v1/metrics/aggregate?metric=hasOwnProperty&device_id=safe-names&interval=1d');
        expect(agg.status, agg.text).toBe(200);
        expect(agg.body.map((b: { sum: number }) => b.sum)).toEqual([2]);
        // and across devices (the front merges the shards' buckets)
        const all = await get(base, '/v1/metrics/aggregate?metric=toString&interval=1d');
        expect(all.status, all.text).toBe(200);
        expect(all.body.map((b: { count: number }) => b.count)).toEqual([1]);
      }
      await alive();
    });

    it('duplicate JSON keys: the last one wins, as JSON.parse does', async () => {
      const res = await postJson(
        base,
        '/v1/events',
        `{"event_id":"first","event_id":"last","device_id":"safe-dup","timeStamp":"${T}","metrics":{"t":1,"t":2}}`,
      );
      expect(res.body).toEqual({ status: 'ok' });
      const back = await eventsOf(base, 'safe-dup');
      expect(back.map((e) => e.event_id)).toEqual(['last']);
      expect(back[0].metrics).toEqual({ t: 2 });
      await alive();
    });

    it('control characters and unpaired surrogates in event_id, device_id, tags: 422 naming the field', async () => {
      const cases: [Record<string, unknown>, (string | number)[]][] = [
        [{ event_id: 'a\u0001b' }, ['body', 'event_id']],
        [{ event_id: 'a\nb' }, ['body', 'event_id']],
        [{ event_id: 'a\u007fb' }, ['body', 'event_id']],
        [{ event_id: '\ud800' }, ['body', 'event_id']],
        [{ device_id: 'd\u0000' }, ['body', 'device_id']],
        [{ device_id: 'd\r\nX-Injected: 1' }, ['body', 'device_id']],
        [{ tags: ['ok', 'x\u001by'] }, ['body', 'tags', 1]],
        [{ tags: ['\udc00'] }, ['body', 'tags', 0]],
      ];
      for (const [over, loc] of cases) {
        const res = await postJson(base, '/v1/events', ev('cc1', 'safe-cc', over));
        expect(locsOf(res), JSON.stringify(over)).toContainEqual(loc);
      }
      expect(await eventsOf(base, 'safe-cc')).toEqual([]);
      await alive();
    });

    it('invalid UTF-8 inside a JSON string: 422 or stored with U+FFFD, never 500', async () => {
      const body = Buffer.concat([
        Buffer.from('{"event_id":"u'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(`","device_id":"safe-utf8","timeStamp":"${T}","metrics":{"t`),
        Buffer.from([0xc3]),
        Buffer.from('":1},"tags":["x'),
        Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate: not valid UTF-8
        Buffer.from('"]}'),
      ]);
      const res = await postBuffer(base, '/v1/events', body);
      expect([200, 422], res.text).toContain(res.status);
      const back = await eventsOf(base, 'safe-utf8');
      if (res.status === 422) expect(back).toEqual([]);
      else {
        expect(back).toHaveLength(1);
        expect(back[0].event_id).toBe('u\ufffd\ufffd');
        expect(Object.keys(back[0].metrics)).toEqual(['t\ufffd']);
        expect(back[0].tags[0]).toMatch(/^x\ufffd+$/);
      }
      // and in a device id (the routing hash and the log must cope)
      const dev = Buffer.concat([Buffer.from('{"event_id":"u2","device_id":"dev'), Buffer.from([0x80]), Buffer.from(`","timeStamp":"${T}","metrics":{"t":1}}`)]);
      const res2 = await postBuffer(base, '/v1/events', dev);
      expect([200, 422], res2.text).toContain(res2.status);
      if (res2.status === 200) expect((await eventsOf(base, 'dev\ufffd')).map((e) => e.event_id)).toEqual(['u2']);
      await alive();
    });

    it('empty strings in ids, tags and metric names: 422 naming the field', async () => {
      const cases: [Record<string, unknown>, (string | number)[]][] = [
        [{ event_id: '' }, ['body', 'event_id']],
        [{ device_id: '' }, ['body', 'device_id']],
        [{ tags: [''] }, ['body', 'tags', 0]],
      ];
      for (const [over, loc] of cases) {
        const res = await postJson(base, '/v1/events', ev('e1', 'safe-empty', over));
        expect(locsOf(res), JSON.stringify(over)).toContainEqual(loc);
      }
      const emptyMetric = await postJson(base, '/v1/events', ev('e2', 'safe-empty', { metrics: { '': 1 } }));
      expect(detailItems(emptyMetric).some((d) => d.loc[1] === 'metrics')).toBe(true);
      const emptyBody = await postJson(base, '/v1/events', '');
      expect(emptyBody.status).toBe(422);
      expect(await eventsOf(base, 'safe-empty')).toEqual([]);
      await alive();
    });

    it('10,000-deep nested arrays and objects: 422, never a stack overflow', async () => {
      const deepArray = '['.repeat(10_000) + ']'.repeat(10_000);
      for (const path of ['/v1/events', '/v1/events/batch']) {
        const res = await postJson(base, path, deepArray);
        expect(res.status, `${path}: ${res.text.slice(0, 200)}`).toBe(422);
        detailItems(res);
      }
      // unbalanced (malformed) deep nesting takes the JSON error path
      const unbalanced = await postJson(base, '/v1/events', '['.repeat(10_000));
      expect(unbalanced.status).toBe(422);
      // deep nesting inside a field
      const deepMetric = `{"event_id":"deep","device_id":"safe-deep","timeStamp":"${T}","metrics":{"t":${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}}}`;
      const res = await postJson(base, '/v1/events', deepMetric);
      expect(res.status).toBe(422);
      const deepTags = `{"event_id":"deep","device_id":"safe-deep","timeStamp":"${T}","metrics":{"t":1},"tags":${deepArray}}`;
      expect((await postJson(base, '/v1/events', deepTags)).status).toBe(422);
      // as NDJSON and msgpack too
      const ndjson = await postRaw(base, '/v1/events/batch', deepArray + '\n', 'application/x-ndjson');
      expect(ndjson.status, ndjson.text.slice(0, 200)).toBe(422);
      const msgpackDeep = Buffer.concat([Buffer.alloc(10_000, 0x91), Buffer.from([0xc0])]);
      const mp = await postBuffer(base, '/v1/events/batch', msgpackDeep, 'application/msgpack');
      expect(mp.status, mp.text.slice(0, 200)).toBe(422);
      const mp1 = await postBuffer(base, '/v1/events', msgpackDeep, 'application/msgpack');
      expect(mp1.status, mp1.text.slice(0, 200)).toBe(422);
      expect(await eventsOf(base, 'safe-deep')).toEqual([]);
      await alive();
    });

    it('a top-level JSON null, number, string, array or boolean: 422', async () => {
      for (const body of ['null', '42', '"event"', 'true', '[]', '[{"event_id":"x"}]']) {
        const res = await postJson(base, '/v1/events', body);
        expect(res.status, body).toBe(422);
        expect(detailItems(res)[0]!.loc[0]).toBe('body');
      }
      for (const body of ['null', '42', '"event"', '{}', '{"0":{}}']) {
        const res = await postJson(base, '/v1/events/batch', body);
        expect(res.status, body).toBe(422);
        expect(detailItems(res)[0]!.loc[0]).toBe('body');
      }
      // batch items that are not objects
      const items = await postJson(base, '/v1/events/batch', '[null, 1, "x", []]');
      const locs = locsOf(items);
      for (const i of [0, 1, 2, 3]) expect(locs.some((l) => l[0] === 'body' && l[1] === i), `item ${i}: ${items.text}`).toBe(true);
      await alive();
    });

    it('after all of it: no 500 was answered, and a normal event still works', async () => {
      const text = await scrape(base);
      expect(metricSum(text, 'telemetry_http_request_duration_seconds_count', { status: '500' })).toBe(0);
      const res = await postJson(base, '/v1/events', ev('final', 'safe-final'));
      expect(res.body).toEqual({ status: 'ok' });
      expect((await eventsOf(base, 'safe-final')).map((e) => e.event_id)).toEqual(['final']);
      expect(server.proc.exitCode).toBeNull();
    });
  });
});
