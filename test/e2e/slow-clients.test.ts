// Slow, idle, silent and vanishing clients against the real server process: a body dribbled a byte a
// second, hundreds of idle sockets and half-sent headers, an alert-stream reader that never reads, and
// clients that go away mid-request. The service must keep answering everyone else promptly, bound its
// memory, and never lose what it acknowledged.
import { readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';
import { sleep } from './helpers.js';

const BODY_TIMEOUT_MS = 2000;
const SSE_CLIENT_BUFFER_BYTES = 65_536;
const ENV = { BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS), SSE_CLIENT_BUFFER_BYTES: String(SSE_CLIENT_BUFFER_BYTES) };

let server: RunningServer;
let dataDir: string;

beforeAll(async () => {
  server = await startServer(ENV, { keepData: true });
  dataDir = server.dataDir;
});

afterAll(async () => {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// helpers

function openSocket(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(server.port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** One request on a fresh connection: status and body of the first response. */
function rawRequest(bytes: Buffer | string, timeoutMs = 5000): Promise<{ status: number | undefined; body: string; closed: boolean }> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const s = connect(server.port, '127.0.0.1', () => s.write(bytes));
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const text = buf.toString();
      const k = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : undefined, body: k === -1 ? '' : text.slice(k + 4), closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const text = buf.toString();
      const k = text.indexOf('\r\n\r\n');
      const cl = /\r\ncontent-length: *(\d+)/i.exec(text);
      if (k !== -1 && cl && Buffer.byteLength(text.slice(k + 4)) >= Number(cl[1])) finish(false);
    });
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
  });
}

/** How long one GET /healthz takes, on the shared keep-alive pool or on a fresh connection. */
async function timedHealth(fresh: boolean): Promise<number> {
  const t0 = performance.now();
  if (fresh) {
    const r = await rawRequest('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 3000);
    expect(r.status).toBe(200);
  } else {
    const r = await fetch(`${server.url}/healthz`);
    expect(r.status).toBe(200);
    await r.text();
  }
  return performance.now() - t0;
}

/** 20 quick GET /healthz, half on fresh connections: each must take < 500 ms. */
async function expectPromptAnswers(spacingMs = 0): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    times.push(await timedHealth(i % 2 === 1));
    if (spacingMs > 0) await sleep(spacingMs);
  }
  for (const t of times) expect(t, `healthz latencies: ${times.map((x) => x.toFixed(0)).join(', ')} ms`).toBeLessThan(500);
  return times;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error('no VmRSS');
  return Number(m[1]) * 1024;
}

async function postBatch(events: unknown[], query = ''): Promise<{ status: number; body: any }> {
  const r = await fetch(`${server.url}/v1/events/batch${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events) });
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: r.status, body };
}

async function eventsOf(device: string): Promise<{ event_id: string; metrics: Record<string, number> }[]> {
  const r = await fetch(`${server.url}/v1/devices/${encodeURIComponent(device)}/events?limit=10000`);
  expect(r.status).toBe(200);
  return (await r.json()) as { event_id: string; metrics: Record<string, number> }[];
}

const T0 = Date.UTC(2025, 2, 1);

// ---------------------------------------------------------------------------------------------

describe('a body dribbled one byte per second', () => {
  it('gets 408 once BODY_TIMEOUT_MS has passed and its socket is closed, while others are answered promptly', async () => {
    const dribble = (path: string, body: string) => {
      const started = performance.now();
      const socket = connect(server.port, '127.0.0.1');
      let received = '';
      let answeredAt: number | undefined;
      let timer: NodeJS.Timeout | undefined;
      socket.on('error', () => {});
      socket.on('data', (c: Buffer) => {
        received += c.toString();
        answeredAt ??= performance.now() - started;
      });
      const closed = new Promise<number>((resolve) =>
        socket.on('close', () => {
          clearInterval(timer);
          resolve(performance.now() - started);
        }),
      );
      socket.on('connect', () => {
        socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`);
        let i = 0;
        timer = setInterval(() => {
          if (i < body.length && !socket.destroyed) socket.write(body[i++]!);
        }, 1000);
      });
      return { closed, received: () => received, answeredAt: () => answeredAt, socket };
    };
    const one = dribble('/v1/events', JSON.stringify({ event_id: 'dr1', device_id: 'dribbler', timeStamp: T0, metrics: { v: 1 } }));
    const many = dribble('/v1/events/batch', JSON.stringify([{ event_id: 'dr2', device_id: 'dribbler', timeStamp: T0, metrics: { v: 2 } }]));

    // Meanwhile: 20 quick requests spread over the dribble.
    await expectPromptAnswers(100);

    const deadline = (p: Promise<number>) => Promise.race([p, sleep(BODY_TIMEOUT_MS + 5000).then(() => -1)]);
    for (const d of [one, many]) {
      const closedAfter = await deadline(d.closed);
      if (closedAfter === -1) d.socket.destroy();
      expect(closedAfter, 'the dribbling connection was never closed').toBeGreaterThan(0);
      expect(d.received()).toMatch(/^HTTP\/1\.1 408[ \r]/);
      const body = d.received().slice(d.received().indexOf('\r\n\r\n') + 4);
      expect(JSON.parse(body)).toEqual({ detail: expect.any(String) });
      // Answered once the timeout passed, not before and not long after.
      expect(d.answeredAt()!).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 100);
      expect(d.answeredAt()!).toBeLessThan(BODY_TIMEOUT_MS + 2000);
      expect(closedAfter).toBeLessThan(BODY_TIMEOUT_MS + 3000);
    }
    // Nothing of a body that never arrived was stored.
    expect(await eventsOf('dribbler')).toEqual([]);
    // RFC 9112: status-line = HTTP-version SP status-code SP [ reason-phrase ]; the second SP is
    // required even without a reason phrase.
    for (const d of [one, many]) expect(d.received().slice(0, d.received().indexOf('\r\n'))).toMatch(/^HTTP\/1\.1 408 /);
  }, 20_000);
});

describe('idle and half-open connections', () => {
  it('500 silent sockets and 50 half-sent request headers do not slow anyone else down', async () => {
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 500; i += 50) sockets.push(...(await Promise.all(Array.from({ length: 50 }, openSocket))));
      const half = await Promise.all(Array.from({ length: 50 }, openSocket));
      sockets.push(...half);
      for (const [i, s] of half.entries()) s.write(i % 2 === 0 ? 'POST /v1/events/batch HTTP/1.1\r\nHost: x\r\nContent-Le' : 'GET /v1/sea');
      for (const s of sockets) s.on('error', () => {});
      await sleep(200);

      await expectPromptAnswers();
      // Real work goes through too, promptly.
      const t0 = performance.now();
      const r = await postBatch([{ event_id: 'i1', device_id: 'idle-check', timeStamp: T0, metrics: { v: 1 } }]);
      expect(r.status).toBe(200);
      expect(r.body).toEqual([{ event_id: 'i1', status: 'stored' }]);
      expect((await eventsOf('idle-check')).map((e) => e.event_id)).toEqual(['i1']);
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(server.proc.exitCode).toBeNull();
    } finally {
      for (const s of sockets) s.destroy();
    }
    await expectPromptAnswers();
  }, 30_000);
});

describe('an alert-stream client that never reads', () => {
  it('is disconnected after a flood of alerts, and the server memory stays bounded', async () => {
    const device = 'flood-dev';
    // 20 rules matching every event of the device: each event fires 20 alerts of ~550 bytes, so a
    // flood of 20,000 small events is ~220 MB of alert frames for a stream of this device.
    const metric = 'v'.repeat(120);
    const RULES = 20;
    for (let k = 0; k < RULES; k++) {
      const rule = await fetch(`${server.url}/v1/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ device_id: device, metric, op: '>=', threshold: -1e300 - k }),
      });
      expect(rule.status).toBe(200);
    }
    const pad = 'p'.repeat(100);
    const flood = async (tag: string, rounds: number) => {
      let sent = 0;
      for (let round = 0; round < rounds; round++) {
        const batch = Array.from({ length: 500 }, (_, i) => ({ event_id: `${tag}${round}-${i}-${pad}`, device_id: device, timeStamp: T0 + round * 1000 + i, metrics: { [metric]: i } }));
        const r = await postBatch(batch);
        expect(r.status).toBe(200);
        sent += batch.length * RULES;
      }
      return sent;
    };
    // Warm up first, so that the memory measured next is the stream's, not the heap finding its size.
    await flood('w', 10);

    // A raw client: read the response head, then stop reading.
    const socket = await openSocket();
    socket.on('error', () => {});
    let head = '';
    await new Promise<void>((resolve) => {
      socket.once('data', (c: Buffer) => {
        head = c.toString();
        socket.pause();
        resolve();
      });
      socket.write(`GET /v1/alerts/stream?device_id=${device} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
    });
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    let ended = false;
    const closed = new Promise<void>((resolve) => socket.on('close', () => ((ended = true), resolve())));

    const pid = server.proc.pid!;
    const rssBefore = rssBytes(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(pid))), 50);
    let sent: number;
    try {
      sent = await flood('f', 40);
    } finally {
      clearInterval(sampler);
    }
    const rssAfter = rssBytes(pid);
    const growthMb = (rssAfter - rssBefore) / 2 ** 20;
    const peakMb = (Math.max(rssPeak, rssAfter) - rssBefore) / 2 ** 20;
    // The smallest frame the flood could have produced, times the alerts: what an unbounded queue
    // would now hold for the client that does not read.
    const smallest = `id: 1\ndata: {"device_id":"${device}","metrics":{"${metric}":0},"time":"2025-03-01T00:00:00.000Z","event_id":"f0-0-${pad}","alert_id":1,"metric":"${metric}","op":">=","threshold":-1e+300,"value":0}\n\n`;
    expect(sent * smallest.length).toBeGreaterThan(180 * 2 ** 20);

    // Now read: a dropped client gets the end of its stream after what was already in flight.
    let received = 0;
    socket.on('data', (c: Buffer) => (received += c.toString().split('\ndata: ').length - 1));
    socket.resume();
    await Promise.race([closed, sleep(10_000)]);
    expect(ended, 'the client that never read was never disconnected').toBe(true);
    expect(received).toBeLessThan(sent);
    expect(growthMb, `RSS grew by ${growthMb.toFixed(1)} MB over the flood (peak +${peakMb.toFixed(1)} MB)`).toBeLessThan(150);

    const m = await (await fetch(`${server.url}/metrics`)).text();
    expect(Number(/^telemetry_sse_clients_dropped_total (\d+)/m.exec(m)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    await expectPromptAnswers();
  }, 60_000);
});

describe('clients that go away mid-request', () => {
  it('200 aborts (half a body; a full batch then gone) leave the server up, answering, and with everything it acknowledged', async () => {
    const abortDevices = ['abort-a', 'abort-b', 'abort-c', 'abort-d'];
    const batchFor = (k: number) =>
      Array.from({ length: 40 }, (_, i) => ({ event_id: `k${k}-${i}`, device_id: abortDevices[(k + i) % abortDevices.length]!, timeStamp: T0 + k * 100 + i, metrics: { v: k * 100 + i } }));
    const request = (body: string) => `POST /v1/events/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

    // An honest client acknowledged along the way.
    const acked: string[] = [];
    let stop = false;
    const honest = (async () => {
      for (let j = 0; !stop; j++) {
        const batch = Array.from({ length: 20 }, (_, i) => ({ event_id: `h${j}-${i}`, device_id: `honest-${j % 2}`, timeStamp: T0 + j * 100 + i, metrics: { v: i } }));
        const r = await postBatch(batch);
        expect(r.status).toBe(200);
        for (const s of r.body as { event_id: string; status: string }[]) {
          expect(s.status).toBe('stored');
          acked.push(s.event_id);
        }
      }
    })();

    const halfAbort = async (k: number) => {
      const body = JSON.stringify(batchFor(k).map((e) => ({ ...e, device_id: `half-${k % 5}` })));
      const full = request(body);
      const s = await openSocket();
      s.on('error', () => {});
      await new Promise<void>((resolve) => s.write(full.slice(0, full.length - Math.floor(body.length / 2)), () => resolve()));
      s.destroy();
    };
    const fullAbort = async (k: number) => {
      const s = await openSocket();
      s.on('error', () => {});
      await new Promise<void>((resolve) => s.write(request(JSON.stringify(batchFor(k))), () => resolve()));
      // Gone while the shards are working on it (or even before the body was parsed).
      if (k % 2 === 0) setImmediate(() => s.destroy());
      else s.destroy();
    };

    const latencies: number[] = [];
    for (let wave = 0; wave < 10; wave++) {
      const jobs: Promise<void>[] = [];
      for (let j = 0; j < 20; j++) {
        const k = wave * 20 + j;
        jobs.push(k % 2 === 0 ? halfAbort(k) : fullAbort(k));
      }
      await Promise.all(jobs);
      latencies.push(await timedHealth(wave % 2 === 0));
    }
    stop = true;
    await honest;
    for (const t of latencies) expect(t, `healthz during the aborts: ${latencies.map((x) => x.toFixed(0)).join(', ')} ms`).toBeLessThan(500);
    expect(server.proc.exitCode).toBeNull();
    expect(acked.length).toBeGreaterThan(0);

    const fullKs = Array.from({ length: 100 }, (_, i) => 2 * i + 1);
    const check = async () => {
      // A half-sent body is never stored.
      for (let h = 0; h < 5; h++) expect(await eventsOf(`half-${h}`)).toEqual([]);
      // Everything acknowledged is there, once.
      const honestIds = [...(await eventsOf('honest-0')), ...(await eventsOf('honest-1'))].map((e) => e.event_id).sort();
      expect(honestIds).toEqual([...acked].sort());
    };
    await sleep(300); // let the abandoned batches finish
    await check();

    // A batch whose client left may or may not have been stored, but never partly twice: a retry
    // of each answers 200, and afterwards every event is there exactly once.
    for (const k of fullKs) {
      const r = await postBatch(batchFor(k));
      expect(r.status).toBe(200);
      for (const s of r.body as { status: string }[]) expect(['stored', 'duplicate']).toContain(s.status);
    }
    const expectAbortDevicesComplete = async () => {
      const want = fullKs.flatMap((k) => batchFor(k).map((e) => `${e.device_id}/${e.event_id}`)).sort();
      const got: string[] = [];
      for (const d of abortDevices) for (const e of await eventsOf(d)) got.push(`${d}/${e.event_id}`);
      expect(got.sort()).toEqual(want);
    };
    await expectAbortDevicesComplete();

    // And it is all still there after a restart.
    expect(await server.stop()).toBe(0);
    server = await startServer(ENV, { dataDir });
    await check();
    await expectAbortDevicesComplete();
  }, 60_000);
});
