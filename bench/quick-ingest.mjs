// Quick ingest throughput check: starts the built server, posts 1,000-event batches over 4
// connections with autocannon for a few seconds, prints events/s. (The full suite is issue 5.)
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const BATCH = Number(process.env.BATCH ?? 1000);
const DEVICES = 200;
const seconds = Number(process.env.SECONDS ?? 5);
const dataDir = mkdtempSync(join(tmpdir(), 'bench-'));
const proc = spawn(process.execPath, ['dist/main.js'], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve) => {
  let out = '';
  proc.stdout.on('data', (c) => {
    out += c;
    const m = /"msg":"listening".*?"port":(\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  });
});
let seq = 0;
const t0 = Date.parse('2025-01-01T00:00:00Z');
const body = () => {
  const evs = [];
  for (let i = 0; i < BATCH; i++) {
    const n = seq++;
    evs.push({ event_id: `ev-${n}`, device_id: `dev-${n % DEVICES}`, timeStamp: new Date(t0 + n * 10).toISOString(), metrics: { temp: 20 + (n % 17), cpu: (n % 100) / 100, mem: n % 4096 }, tags: [`room:${n % 50}`, `fw:v${n % 3}`] });
  }
  return JSON.stringify(evs);
};
const result = await autocannon({
  url: `http://127.0.0.1:${port}/v1/events/batch`,
  connections: 4,
  duration: seconds,
  requests: [{ method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: body() }) }],
});
console.log(JSON.stringify({ batch: BATCH, reqPerSec: result.requests.average, eventsPerSec: result.requests.average * BATCH, p50ms: result.latency.p50, p99ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors }));
proc.kill('SIGTERM');
