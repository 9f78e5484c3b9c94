// Single-event POST /v1/events (unique event ids) at 100 connections against the service, and the
// same request shape against the bare uWebSockets.js baseline in the same run; reports requests/s
// and the ratio. Both servers run alone in turn on the same machine.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import autocannon from 'autocannon';
import { event, startServer, tempDir } from './lib.mjs';

const SECONDS = Number(process.env.SECONDS_PER_RUN ?? 8);
const CONNECTIONS = 100;

async function load(port, verify) {
  let n = 0;
  let ok = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/v1/events`,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (r) => ({ ...r, body: JSON.stringify(event(n++)) }),
        onResponse: (status, body) => {
          if (status === 200 && body === '{"status":"ok"}') ok++;
        },
      },
    ],
  });
  if (verify && ok !== result.requests.total) throw new Error(`${result.requests.total - ok} answers were not {"status":"ok"}`);
  return { reqPerSec: Math.round(result.requests.average), p50ms: result.latency.p50, p99ms: result.latency.p99, non2xx: result.non2xx, total: result.requests.total };
}

const baseline = spawn(process.execPath, ['bench/baseline-server.mjs'], { stdio: ['ignore', 'pipe', 'inherit'] });
const basePort = await new Promise((resolve) => baseline.stdout.once('data', (c) => resolve(JSON.parse(String(c)).port)));
const base = await load(basePort, false);
baseline.kill();

const dataDir = tempDir();
const server = await startServer({ DATA_DIR: dataDir });
const svc = await load(server.port, true);
await server.stop();
rmSync(dataDir, { recursive: true, force: true });

console.log(JSON.stringify({ scenario: 'single-event-baseline', connections: CONNECTIONS, ...base }));
console.log(JSON.stringify({ scenario: 'single-event', connections: CONNECTIONS, fsync: 'always', ...svc, ratioToBaseline: Number((svc.reqPerSec / base.reqPerSec).toFixed(3)) }));
