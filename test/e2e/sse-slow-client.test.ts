// An SSE consumer that never reads must be disconnected once its backlog passes the per-client
// limit, while the service keeps answering everyone else.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';

let server: RunningServer;

beforeAll(async () => {
  server = await startServer({ SSE_CLIENT_BUFFER_BYTES: '65536', SHARDS: '1' });
});
afterAll(async () => {
  await server.stop();
});

function rawSseClient(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n`);
      // Read the headers, then stop reading for good.
      socket.once('data', () => {
        socket.pause();
        resolve(socket);
      });
    });
    socket.on('error', reject);
  });
}

describe('a slow SSE consumer', () => {
  it('is disconnected once its backlog passes SSE_CLIENT_BUFFER_BYTES, and others keep being served', async () => {
    const rule = await fetch(`${server.url}/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ device_id: 'slow-dev', metric: 'v', op: '>=', threshold: 0 }),
    });
    expect(rule.status).toBe(200);

    const socket = await rawSseClient('/v1/alerts/stream');
    let received = 0;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));

    // Each alert frame is ~300 bytes: 40 x 2,000 of them is far more than the kernel's socket
    // buffers plus the 64 KiB the server may queue for this client.
    const padding = 'x'.repeat(100);
    let sent = 0;
    for (let round = 0; round < 40; round++) {
      const batch = [];
      for (let i = 0; i < 2000; i++) {
        batch.push({ event_id: `r${round}-${i}-${padding}`, device_id: 'slow-dev', timeStamp: 1_700_000_000_000 + round * 10_000 + i, metrics: { v: i } });
      }
      const r = await fetch(`${server.url}/v1/events/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch),
      });
      expect(r.status).toBe(200);
      sent += batch.length;
    }
    // Now read: a dropped client sees the end of its stream after what was already in flight;
    // a client that was not dropped would get every alert and then stay open (heartbeats).
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString().split('\ndata: ').length - 1;
    });
    socket.resume();
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('slow client was never dropped')), 10_000))]);
    expect(received).toBeLessThan(sent);

    // The service still answers.
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    const recent = await fetch(`${server.url}/v1/devices/slow-dev/events?limit=1`);
    expect(recent.status).toBe(200);
    expect(((await recent.json()) as unknown[]).length).toBe(1);
  });
});
