// Batch ingest measured with wrk (C, far lighter than autocannon, so the load generator takes less
// of the two cores from the server): 1,000-event batches, 2 wrk threads, 4 connections, 10 s.
// Checks afterwards that every event of every 200 answer was stored (the server's own counter).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { startServer, tempDir } from './lib.mjs';

const SECONDS = Number(process.env.WRK_SECONDS ?? 10);
try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (e) {
  if (e.code === 'ENOENT') {
    console.log(JSON.stringify({ scenario: 'batch-ingest-wrk', skipped: 'wrk is not installed (apt-get install wrk)' }));
    process.exit(0);
  }
}
const dataDir = tempDir();
const server = await startServer({ DATA_DIR: dataDir, FSYNC: process.env.FSYNC ?? 'always' });
const out = execFileSync('wrk', ['-t2', '-c4', `-d${SECONDS}s`, '--latency', '-s', 'bench/wrk-batch.lua', `http://127.0.0.1:${server.port}`], { encoding: 'utf8' });
const summary = JSON.parse(out.trim().split('\n').pop());
const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
const stored = [...metrics.matchAll(/^telemetry_events_stored_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
await server.stop();
rmSync(dataDir, { recursive: true, force: true });
const ok = summary.requests - summary.non200;
// wrk may cut off requests in flight at the end: those can be stored without being counted.
if (summary.non200 > 0 || stored < ok * 1000 || stored > (ok + 4) * 1000) {
  console.error(`check failed: ${JSON.stringify(summary)}, stored ${stored}`);
  process.exit(1);
}
console.log(JSON.stringify({ scenario: 'batch-ingest-wrk', fsync: process.env.FSYNC ?? 'always', batch: 1000, events: stored, eventsPerSec: Math.round(stored / summary.seconds), p50ms: summary.p50ms, p99ms: summary.p99ms }));
