// Quick ingest throughput check (the full benchmark suite is still to come): starts the built
// server on a fresh data directory, posts pre-generated batches of unique events (200 devices,
// 3 metrics, 2 tags each) over 4 connections with autocannon, checks that every event was stored,
// and prints one JSON line. Bodies are generated before timing so the load generator is not the
// bottleneck.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const BATCH = Number(process.env.BATCH ?? 1000);
const REQUESTS = Number(process.env.REQUESTS ?? 300);
const DEVICES = 200;

const dataDir = mkdtempSync(join(tmpdir(), 'bench-'));
const proc = spawn(process.execPath, ['dist/main.js'], {
  env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise((resolve) => {
  let out = '';
  proc.stdout.on('data', (c) => {
    out += c;
    const m = /"msg":"ready".*?"port":(\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  });
});

const t0 = Date.parse('2025-01-01T00:00:00Z');
const bodies = [];
for (let k = 0, n = 0; k < REQUESTS; k++) {
  const evs = [];
  for (let i = 0; i < BATCH; i++, n++) {
    evs.push({
      event_id: `ev-${n}`,
      device_id: `dev-${n % DEVICES}`,
      timeStamp: new Date(t0 + n * 10).toISOString(),
      metrics: { temp: 20 + (n % 17), cpu: (n % 100) / 100, mem: n % 4096 },
      tags: [`room:${n % 50}`, `fw:v${n % 3}`],
    });
  }
  bodies.push(JSON.stringify(evs));
}

let next = 0;
let stored = 0;
const started = performance.now();
const result = await autocannon({
  url: `http://127.0.0.1:${port}/v1/events/batch`,
  connections: 4,
  amount: REQUESTS,
  requests: [
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      setupRequest: (r) => ({ ...r, body: bodies[next++ % bodies.length] }),
      onResponse: (status, body) => {
        if (status === 200) stored += (body.match(/"stored"/g) ?? []).length;
      },
    },
  ],
});
const seconds = (performance.now() - started) / 1000;
proc.kill('SIGTERM');
rmSync(dataDir, { recursive: true, force: true });
if (stored !== BATCH * REQUESTS) {
  console.error(`expected ${BATCH * REQUESTS} stored events, got ${stored}`);
  process.exit(1);
}
console.log(
  JSON.stringify({
    scenario: 'batch-ingest-json',
    batch: BATCH,
    events: stored,
    eventsPerSec: Math.round(stored / seconds),
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    non2xx: result.non2xx,
  }),
);
