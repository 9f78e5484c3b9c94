// Small helpers for the hardening end-to-end tests (auth, CORS, limits, overload, shard death):
// Prometheus text parsing, raw-socket requests and event builders.
import http from 'node:http';
import net from 'node:net';
import { expect } from 'vitest';
import { get, type Res } from './helpers.js';

/** The sum of every sample of `name` whose labels include `labels` (0 when none). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const lm of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[lm[1]!] = lm[2]!;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

export async function scrape(base: string): Promise<string> {
  const res = await get(base, '/metrics');
  expect(res.status).toBe(200);
  return res.text;
}

export const refused = async (base: string, reason: string): Promise<number> =>
  metricSum(await scrape(base), 'telemetry_requests_refused_total', { reason });

/** A valid event; `over` replaces fields. */
export const ev = (event_id: string, device_id: string, over: Record<string, unknown> = {}) => ({
  event_id,
  device_id,
  timeStamp: '2025-03-01T12:00:00Z',
  metrics: { t: 1 },
  tags: [] as string[],
  ...over,
});

/** POST a Buffer body with fetch. */
export async function postBuffer(base: string, path: string, body: Uint8Array, contentType = 'application/json', headers: Record<string, string> = {}): Promise<Res> {
  const r = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': contentType, ...headers }, body });
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: r.status, headers: r.headers, text, body: parsed };
}

export async function eventsOf(base: string, device: string, limit = 10_000): Promise<any[]> {
  const res = await get(base, `/v1/devices/${encodeURIComponent(device)}/events?limit=${limit}`);
  expect(res.status, res.text).toBe(200);
  return res.body as any[];
}

/**
 * A request body sent with Transfer-Encoding: chunked (no Content-Length), in pieces `gapMs` apart.
 * Resolves with the answer (status, headers, body) even when the server closes mid-body.
 */
export function postChunked(base: string, path: string, pieces: string[], gapMs = 20): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const url = new URL(base + path);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        res.on('end', done);
        res.on('error', done);
        res.on('aborted', done);
      },
    );
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    void (async () => {
      for (const p of pieces) {
        if (answered || req.destroyed) return;
        req.write(p);
        await new Promise((r) => setTimeout(r, gapMs));
      }
      if (!answered && !req.destroyed) req.end();
    })();
  });
}

export interface RawExchange {
  socket: net.Socket;
  /** Everything received so far. */
  received(): string;
  /** performance.now() when the first byte arrived / when the connection closed (undefined: not yet). */
  firstByteAt(): number | undefined;
  closedAt(): number | undefined;
  closed: Promise<void>;
}

export function rawConnect(port: number): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    let first: number | undefined;
    let closedAt: number | undefined;
    const closed = new Promise<void>((r) => socket.on('close', () => {
      closedAt = performance.now();
      r();
    }));
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => {
      first ??= performance.now();
      buf += c;
    });
    socket.on('error', () => {});
    socket.once('connect', () =>
      resolve({ socket, received: () => buf, firstByteAt: () => first, closedAt: () => closedAt, closed }),
    );
    socket.once('error', reject);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function eventually(fn: () => Promise<boolean>, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return true;
    } catch {
      // not yet
    }
    if (performance.now() > until) return false;
    await sleep(stepMs);
  }
}
