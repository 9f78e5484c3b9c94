// Shared pieces of the benchmarks: start the built server, generate events, load it with autocannon.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { BatchBuilder } from '../dist/shard/protocol.js';
import { DATA_FORMAT_VERSION } from '../dist/storage/data-dir.js';
import { encodeFrame } from '../dist/storage/framing.js';
import { encodePackedEvents } from '../dist/storage/records.js';
import { segmentName } from '../dist/storage/segments.js';
import { shardOf } from '../dist/shard/routing.js';

export const DEVICES = 200;
export const T0 = Date.parse('2025-01-01T00:00:00Z');

export const tempDir = (prefix = 'bench-') => mkdtempSync(join(tmpdir(), prefix));

/** Event number n: 200 devices, 3 metrics, 2 tags, 10 ms apart. */
export function event(n) {
  return {
    event_id: `ev-${n}`,
    device_id: `dev-${n % DEVICES}`,
    timeStamp: new Date(T0 + n * 10).toISOString(),
    metrics: { temp: 20 + (n % 17), cpu: (n % 100) / 100, mem: n % 4096 },
    tags: [`room:${n % 50}`, `fw:v${n % 3}`],
  };
}

/** Starts node dist/main.js (or `entry`); resolves once it logged "ready", with the time that took. */
export function startServer(env, entry = 'dist/main.js') {
  const started = performance.now();
  const proc = spawn(process.execPath, [entry], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let isReady = false;
  proc.stderr.on('data', (c) => (out += c));
  return new Promise((resolve, reject) => {
    const early = (code) => reject(new Error(`server exited with ${code}:\n${out}`));
    proc.on('exit', early);
    proc.stdout.on('data', (c) => {
      out += c;
      const line = isReady ? undefined : out.split('\n').find((l) => l.includes('"msg":"ready"'));
      const m = line === undefined ? null : [line, JSON.parse(line).port];
      if (m) {
        isReady = true;
        proc.off('exit', early);
        resolve({
          proc,
          port: Number(m[1]),
          readySeconds: (performance.now() - started) / 1000,
          output: () => out,
          stop: (signal = 'SIGTERM') => new Promise((r) => {
            proc.on('exit', (code) => r(code));
            proc.kill(signal);
          }),
        });
      }
    });
  });
}

/** Pre-generates `requests` JSON batch bodies of `batch` unique events starting at event `from`. */
export function batchBodies(requests, batch, from = 0) {
  const bodies = [];
  for (let k = 0, n = from; k < requests; k++) {
    const evs = [];
    for (let i = 0; i < batch; i++, n++) evs.push(event(n));
    bodies.push(JSON.stringify(evs));
  }
  return bodies;
}

/** Posts every JSON body once over `connections`; checks every event was stored; returns events/s and latency. */
export function ingest(port, bodies, batch, connections = 4) {
  return ingestBodies(port, bodies, batch, { connections });
}

/**
 * Writes a data directory for `shards` shards whose logs hold events 0..events-1, each event in the
 * log of the shard that owns its device (as the server places them), as the records the server
 * itself writes (1,000 events each, per shard); returns the logs' size in bytes.
 */
export function writeLog(dataDir, events, shards = 1) {
  writeFileSync(join(dataDir, 'telemetry.json'), JSON.stringify({ format: DATA_FORMAT_VERSION, shards }));
  const fds = [];
  for (let s = 0; s < shards; s++) {
    const dir = join(dataDir, `shard-${s}`);
    mkdirSync(dir, { recursive: true });
    fds.push(openSync(join(dir, segmentName(1)), 'w'));
  }
  const builders = fds.map(() => new BatchBuilder());
  let bytes = 0;
  const flush = (s) => {
    const frame = encodeFrame(encodePackedEvents(builders[s].finishBytes()));
    writeSync(fds[s], frame);
    bytes += frame.length;
    builders[s] = new BatchBuilder();
  };
  for (let n = 0; n < events; n++) {
    const e = event(n);
    const s = shardOf(e.device_id, shards);
    const b = builders[s];
    b.add(b.length, e.device_id, e.event_id, T0 + n * 10, e.metrics, e.tags);
    if (b.length === 1000) flush(s);
  }
  for (let s = 0; s < shards; s++) {
    if (builders[s].length > 0) flush(s);
    closeSync(fds[s]);
  }
  return bytes;
}

/** The value at quantile q (0..1) of an ascending array (nearest rank). */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * As ingest(), for bodies of any format (strings or Buffers) sent with `contentType`. Also fails
 * on errors and timeouts, which autocannon counts apart from non-2xx answers.
 */
export async function ingestBodies(port, bodies, batch, { connections = 4, contentType = 'application/json' } = {}) {
  let next = 0;
  let stored = 0;
  const started = performance.now();
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/v1/events/batch`,
    connections,
    amount: bodies.length,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': contentType },
        setupRequest: (r) => ({ ...r, body: bodies[next++ % bodies.length] }),
        onResponse: (status, body) => {
          if (status === 200) stored += (body.match(/"stored"/g) ?? []).length;
        },
      },
    ],
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  if (stored !== bodies.length * batch) throw new Error(`expected ${bodies.length * batch} stored events, got ${stored}`);
  return { events: stored, eventsPerSec: Math.round(stored / seconds), p50ms: result.latency.p50, p99ms: result.latency.p99, non2xx: result.non2xx };
}
