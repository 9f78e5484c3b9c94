// Limits against the real server process, with small values so they are quick to reach: body size
// (413, with and without Content-Length), events per batch, metrics, tags and id lengths (422
// naming the field), the body read timeout (408, the connection closed, others unaffected), the
// alert-stream connection limit (503 + Retry-After), and the device limit (429 + Retry-After).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { detailItems, get, postJson, SseClient, type Res } from './helpers.js';
import { ev, eventsOf, eventually, metricSum, postChunked, rawConnect, refused, scrape, sleep } from './hardening-helpers.js';

const MAX_BODY = 1024;
const MAX_BATCH_BODY = 4096;

const locsOf = (res: Res) => detailItems(res).map((d) => d.loc);

describe('request limits', () => {
  let server: RunningServer;
  let base: string;
  const sse: SseClient[] = [];
  beforeAll(async () => {
    server = await startServer({
      MAX_BODY_BYTES: String(MAX_BODY),
      MAX_BATCH_BODY_BYTES: String(MAX_BATCH_BODY),
      MAX_BATCH_EVENTS: '5',
      MAX_METRICS_PER_EVENT: '3',
      MAX_METRIC_NAME_LENGTH: '10',
      MAX_TAGS_PER_EVENT: '2',
      MAX_ID_LENGTH: '16',
      MAX_TAG_LENGTH: '8',
      BODY_TIMEOUT_MS: '1000',
      SSE_CLIENTS_MAX: '2',
    });
    base = server.url;
  });
  afterAll(async () => {
    for (const c of sse) c.close();
    await server?.stop();
  });

  describe('body size', () => {
    const big = (id: string, device: string, bytes: number) => JSON.stringify(ev(id, device, { tags: [], pad: 'x'.repeat(bytes) }));

    it('POST /v1/events with a Content-Length past MAX_BODY_BYTES: 413, nothing stored, counted', async () => {
      const before = await refused(base, 'body_too_large');
      const body = big('b1', 'lim-body', MAX_BODY + 100);
      expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_BODY);
      const res = await postJson(base, '/v1/events', body);
      expect(res.status, res.text).toBe(413);
      expect(typeof res.body?.detail).toBe('string');
      expect(await eventsOf(base, 'lim-body')).toEqual([]);
      expect(await refused(base, 'body_too_large')).toBe(before + 1);
    });

    it('a body of exactly MAX_BODY_BYTES is accepted', async () => {
      const shell = big('b0', 'lim-body-ok', 0);
      const body = big('b0', 'lim-body-ok', MAX_BODY - Buffer.byteLength(shell));
      expect(Buffer.byteLength(body)).toBe(MAX_BODY);
      const res = await postJson(base, '/v1/events', body);
      expect(res.status, res.text).toBe(200);
    });

    it('POST /v1/events chunked (no Content-Length) past MAX_BODY_BYTES: 413, nothing stored', async () => {
      const body = big('b2', 'lim-body', MAX_BODY * 3);
      const pieces: string[] = [];
      for (let i = 0; i < body.length; i += 400) pieces.push(body.slice(i, i + 400));
      const res = await postChunked(base, '/v1/events', pieces, 10);
      expect(res.status, res.text).toBe(413);
      expect(JSON.parse(res.text).detail).toEqual(expect.any(String));
      expect(await eventsOf(base, 'lim-body')).toEqual([]);
    });

    it('a small chunked body is read to its end and stored', async () => {
      const body = JSON.stringify(ev('b3', 'lim-chunked'));
      const res = await postChunked(base, '/v1/events', [body.slice(0, 20), body.slice(20, 60), body.slice(60)], 10);
      expect(res.status, res.text).toBe(200);
      expect((await eventsOf(base, 'lim-chunked')).map((e) => e.event_id)).toEqual(['b3']);
    });

    it('POST /v1/events/batch past MAX_BATCH_BODY_BYTES: 413 (the single-event limit does not apply to batches)', async () => {
      // under the batch limit but over the single-event one
      const ok = Array.from({ length: 5 }, (_, i) => ev(`bb${i}`, 'lim-batch-body', { tags: ['t'.repeat(8)] }));
      const okBody = JSON.stringify(ok) + ' '.repeat(MAX_BODY); // trailing whitespace is valid JSON
      expect(Buffer.byteLength(okBody)).toBeGreaterThan(MAX_BODY);
      expect(Buffer.byteLength(okBody)).toBeLessThan(MAX_BATCH_BODY);
      expect((await postJson(base, '/v1/events/batch', okBody)).status).toBe(200);
      const tooBig = JSON.stringify([{ ...ev('bb9', 'lim-batch-body2'), pad: 'y'.repeat(MAX_BATCH_BODY) }]);
      const res = await postJson(base, '/v1/events/batch', tooBig);
      expect(res.status, res.text).toBe(413);
      expect(await eventsOf(base, 'lim-batch-body2')).toEqual([]);
    });
  });

  describe('counts and lengths: 422 naming the field', () => {
    it('MAX_BATCH_EVENTS: 6 events -> 422, nothing stored; 5 -> 200', async () => {
      const six = Array.from({ length: 6 }, (_, i) => ev(`n${i}`, 'lim-batch'));
      const res = await postJson(base, '/v1/events/batch', six);
      const items = detailItems(res);
      expect(items[0]!.loc).toEqual(['body']);
      expect(items[0]!.msg).toContain('5');
      expect(await eventsOf(base, 'lim-batch')).toEqual([]);
      // ?partial=true does not lift the limit
      expect((await postJson(base, '/v1/events/batch?partial=true', six)).status).toBe(422);
      const five = await postJson(base, '/v1/events/batch', six.slice(0, 5));
      expect(five.status, five.text).toBe(200);
      expect(five.body).toHaveLength(5);
    });

    it('MAX_METRICS_PER_EVENT: 4 metrics -> 422 on metrics; 3 -> 200', async () => {
      const res = await postJson(base, '/v1/events', ev('m1', 'lim-metrics', { metrics: { a: 1, b: 2, c: 3, d: 4 } }));
      expect(locsOf(res)).toContainEqual(['body', 'metrics']);
      const batch = await postJson(base, '/v1/events/batch', [ev('m0', 'lim-metrics'), ev('m1', 'lim-metrics', { metrics: { a: 1, b: 2, c: 3, d: 4 } })]);
      expect(locsOf(batch)).toContainEqual(['body', 1, 'metrics']);
      expect(await eventsOf(base, 'lim-metrics')).toEqual([]);
      expect((await postJson(base, '/v1/events', ev('m2', 'lim-metrics', { metrics: { a: 1, b: 2, c: 3 } }))).status).toBe(200);
    });

    it('MAX_METRIC_NAME_LENGTH: an 11-character metric name -> 422 on metrics', async () => {
      const res = await postJson(base, '/v1/events', ev('mn1', 'lim-mname', { metrics: { abcdefghijk: 1 } }));
      expect(detailItems(res).some((d) => d.loc[1] === 'metrics')).toBe(true);
      expect((await postJson(base, '/v1/events', ev('mn2', 'lim-mname', { metrics: { abcdefghij: 1 } }))).status).toBe(200);
    });

    it('MAX_TAGS_PER_EVENT: 3 tags -> 422 on tags; 2 -> 200', async () => {
      const res = await postJson(base, '/v1/events', ev('t1', 'lim-tags', { tags: ['a', 'b', 'c'] }));
      expect(locsOf(res)).toContainEqual(['body', 'tags']);
      expect(await eventsOf(base, 'lim-tags')).toEqual([]);
      expect((await postJson(base, '/v1/events', ev('t2', 'lim-tags', { tags: ['a', 'b'] }))).status).toBe(200);
      // the search query obeys the same count
      const search = await get(base, '/v1/search?tag=a&tag=b&tag=c');
      expect(search.status).toBe(422);
    });

    it('MAX_TAG_LENGTH: a 9-character tag -> 422 on tags[i]; 8 -> 200', async () => {
      const res = await postJson(base, '/v1/events', ev('tl1', 'lim-taglen', { tags: ['ok', '123456789'] }));
      expect(locsOf(res)).toContainEqual(['body', 'tags', 1]);
      expect((await postJson(base, '/v1/events', ev('tl2', 'lim-taglen', { tags: ['12345678'] }))).status).toBe(200);
      expect((await get(base, '/v1/search?tag=123456789')).status).toBe(422);
    });

    it('MAX_ID_LENGTH: 17-character event_id / device_id -> 422 naming it; 16 -> 200', async () => {
      const long = 'x'.repeat(17);
      const e = await postJson(base, '/v1/events', ev(long, 'lim-ids'));
      expect(locsOf(e)).toContainEqual(['body', 'event_id']);
      const d = await postJson(base, '/v1/events', ev('i1', long));
      expect(locsOf(d)).toContainEqual(['body', 'device_id']);
      expect(await eventsOf(base, 'lim-ids')).toEqual([]);
      // characters, not bytes: 16 non-ASCII characters fit
      const sixteen = 'é'.repeat(16);
      const ok = await postJson(base, '/v1/events', ev(sixteen, sixteen));
      expect(ok.status, ok.text).toBe(200);
      expect((await eventsOf(base, sixteen)).map((x) => x.event_id)).toEqual([sixteen]);
    });
  });

  describe('body read timeout (BODY_TIMEOUT_MS=1000)', () => {
    it('a body trickling one byte per 200 ms gets 408 within ~1-2 s and the connection closes; others are answered promptly', async () => {
      const before = await refused(base, 'body_timeout');
      const conn = await rawConnect(server.port);
      const started = performance.now();
      conn.socket.write(
        'POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n',
      );
      let sent = 0;
      const body = JSON.stringify(ev('slow1', 'lim-slow')).padEnd(100, ' ');
      const trickle = setInterval(() => {
        if (conn.closedAt() !== undefined || sent >= 20) return;
        conn.socket.write(body[sent++]!);
      }, 200);
      try {
        // meanwhile, others are answered promptly
        await sleep(300);
        const latencies: number[] = [];
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          const h = await get(base, '/healthz');
          expect(h.status).toBe(200);
          const p = await postJson(base, '/v1/events', ev(`fast${i}`, 'lim-fast'));
          expect(p.status).toBe(200);
          latencies.push(performance.now() - t0);
          await sleep(100);
        }
        expect(Math.max(...latencies)).toBeLessThan(500);

        await Promise.race([conn.closed, sleep(4000)]);
        const text = conn.received();
        expect(text, text).toMatch(/^HTTP\/1\.1 408\b/);
        const firstByte = conn.firstByteAt()! - started;
        expect(firstByte).toBeGreaterThan(900);
        expect(firstByte).toBeLessThan(2200);
        // the connection is closed by the server (not held open for the rest of the body)
        expect(conn.closedAt(), 'connection still open').toBeDefined();
        expect(conn.closedAt()! - started).toBeLessThan(3000);
        const bodyStart = text.indexOf('\r\n\r\n');
        expect(JSON.parse(text.slice(bodyStart + 4)).detail).toEqual(expect.any(String));
      } finally {
        clearInterval(trickle);
        conn.socket.destroy();
      }
      expect(sent).toBeLessThan(15);
      expect(await eventsOf(base, 'lim-slow')).toEqual([]);
      expect(await refused(base, 'body_timeout')).toBe(before + 1);
    });

    it('a body that stops arriving altogether (headers only) also gets 408', async () => {
      const conn = await rawConnect(server.port);
      const started = performance.now();
      conn.socket.write('POST /v1/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n[');
      await Promise.race([conn.closed, sleep(3000)]);
      conn.socket.destroy();
      expect(conn.received()).toMatch(/^HTTP\/1\.1 408\b/);
      expect(conn.firstByteAt()! - started).toBeLessThan(2200);
      // RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
      const statusLine = conn.received().slice(0, conn.received().indexOf('\r\n'));
      expect(statusLine, 'a well-formed status line').toMatch(/^HTTP\/1\.1 408 [^\r\n]*$/);
    });
  });

  describe('SSE_CLIENTS_MAX=2', () => {
    it('the third stream gets 503 with Retry-After; after one closes, a new one is accepted', async () => {
      const before = await refused(base, 'sse_full');
      for (let i = 0; i < 2; i++) {
        const c = await SseClient.open(base + '/v1/alerts/stream');
        sse.push(c);
        expect(c.status).toBe(200);
        await c.waitUntil(() => c.frames.some((f) => f.retry !== undefined), 2000, 'retry hint');
      }
      const third = await SseClient.open(base + '/v1/alerts/stream?device_id=x');
      sse.push(third);
      expect(third.status).toBe(503);
      expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
      await third.waitUntil(() => third.ended, 2000, 'end of the 503 answer');
      expect(await refused(base, 'sse_full')).toBe(before + 1);
      expect(metricSum(await scrape(base), 'telemetry_sse_clients')).toBe(2);

      sse[0]!.close();
      let fresh: SseClient | undefined;
      const accepted = await eventually(async () => {
        const c = await SseClient.open(base + '/v1/alerts/stream');
        sse.push(c);
        if (c.status === 200) {
          fresh = c;
          return true;
        }
        c.close();
        return false;
      }, 3000, 100);
      expect(accepted, 'a new stream was not accepted after one closed').toBe(true);
      await fresh!.waitUntil(() => fresh!.frames.some((f) => f.retry !== undefined), 2000, 'retry hint');
      // and the limit holds again
      const again = await SseClient.open(base + '/v1/alerts/stream');
      sse.push(again);
      expect(again.status).toBe(503);
    });
  });
});

describe('MAX_DEVICES=4 with SHARDS=1', () => {
  let server: RunningServer;
  let base: string;
  beforeAll(async () => {
    server = await startServer({ SHARDS: '1', MAX_DEVICES: '4' });
    base = server.url;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('known devices keep working once full; a new device gets 429 with Retry-After, counted in /metrics', async () => {
    for (let d = 0; d < 4; d++) {
      const res = await postJson(base, '/v1/events', ev('first', `dev${d}`));
      expect(res.status, res.text).toBe(200);
    }
    const before = await refused(base, 'devices');
    // full: events of the four known devices still work, single and batch
    for (let d = 0; d < 4; d++) {
      const res = await postJson(base, '/v1/events', ev('second', `dev${d}`, { timeStamp: '2025-03-01T12:01:00Z' }));
      expect(res.body, res.text).toEqual({ status: 'ok' });
    }
    const known = await postJson(base, '/v1/events/batch', [0, 1, 2, 3].map((d) => ev('third', `dev${d}`, { timeStamp: '2025-03-01T12:02:00Z' })));
    expect(known.status, known.text).toBe(200);
    expect(known.body.map((s: { status: string }) => s.status)).toEqual(['stored', 'stored', 'stored', 'stored']);

    // a fifth device
    const res = await postJson(base, '/v1/events', ev('first', 'dev4'));
    expect(res.status, res.text).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(typeof res.body?.detail).toBe('string');
    expect(await eventsOf(base, 'dev4')).toEqual([]);

    // a batch mixing a known and a new device is refused whole on that shard: nothing of it stored
    const mixed = await postJson(base, '/v1/events/batch', [ev('fourth', 'dev0', { timeStamp: '2025-03-01T12:03:00Z' }), ev('first', 'dev5')]);
    expect(mixed.status, mixed.text).toBe(429);
    expect((await eventsOf(base, 'dev0')).map((e) => e.event_id)).not.toContain('fourth');
    expect(await eventsOf(base, 'dev5')).toEqual([]);

    expect(await refused(base, 'devices')).toBe(before + 2);
    expect(metricSum(await scrape(base), 'telemetry_devices')).toBe(4);
    // and known devices still work afterwards, duplicates included
    const dup = await postJson(base, '/v1/events', ev('first', 'dev0'));
    expect(dup.body).toEqual({ status: 'duplicate' });
    expect((await eventsOf(base, 'dev3')).map((e) => e.event_id)).toEqual(['third', 'second', 'first']);
  });
});
