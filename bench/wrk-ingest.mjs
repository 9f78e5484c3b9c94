// Batch ingest measured with wrk (C, far lighter than autocannon), replaying request bodies encoded
// beforehand, so the load generator takes as little as possible of the two cores from the server.
// The same bodies go first to the bare uWebSockets.js baseline (bench/baseline-server.mjs), then to
// the service (fresh data directory, FSYNC=always unless FSYNC says otherwise); the result is
// reported as events/s and as a ratio to the baseline. Checks afterwards that every event of every
// 200 answer was stored (the server's own counter) and that wrk never ran out of fresh bodies.
//
// Env: BATCH (1000), FORMAT (json | msgpack), WRK_SECONDS (10), WRK_CONNECTIONS (4),
// MAX_RATE (events/s to pre-encode bodies for; 1200000: a run that uses them all up fails its check).
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import { DEVICES, event, startServer, T0, tempDir } from './lib.mjs';

const THREADS = 2;

export function hasWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return e.code !== 'ENOENT';
  }
}

/** One JSON event, written out by hand: building millions through JSON.stringify takes too long. */
function eventJson(n) {
  const ms = n * 10;
  return `{"event_id":"w${n}","device_id":"dev-${n % DEVICES}","timeStamp":"${new Date(T0 + ms).toISOString()}","metrics":{"temp":${20 + (n % 17)},"cpu":${(n % 100) / 100},"mem":${n % 4096}},"tags":["room:${n % 50}","fw:v${n % 3}"]}`;
}

/** Writes the bodies for each wrk thread to "<prefix>.<thread>"; returns the prefix and the content type. */
export function writeBodies(dir, { batch, format, events }) {
  const prefix = join(dir, `bodies-${format}-${batch}`);
  const perThread = Math.ceil(events / THREADS / batch);
  for (let t = 0; t < THREADS; t++) {
    const fd = openSync(`${prefix}.${t}`, 'w');
    let n = t * 1e9;
    for (let k = 0; k < perThread; k++) {
      let body;
      if (format === 'msgpack') {
        const evs = new Array(batch);
        for (let i = 0; i < batch; i++) evs[i] = event(n++);
        body = pack(evs);
      } else {
        let s = '[';
        for (let i = 0; i < batch; i++) s += (i > 0 ? ',' : '') + eventJson(n++);
        body = Buffer.from(s + ']');
      }
      writeSync(fd, `${body.length}\n`);
      writeSync(fd, body);
    }
    closeSync(fd);
  }
  return { prefix, contentType: format === 'msgpack' ? 'application/msgpack' : 'application/json' };
}

/** Runs wrk against port with the bodies; returns wrk's summary line. */
export function runWrk(port, bodies, { seconds, connections, cycle = false }) {
  const out = execFileSync(
    'wrk',
    [`-t${THREADS}`, `-c${connections}`, `-d${seconds}s`, '--latency', '-s', 'bench/wrk-batch.lua', `http://127.0.0.1:${port}`, '--', bodies.prefix, bodies.contentType, ...(cycle ? ['cycle'] : [])],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  return JSON.parse(out.trim().split('\n').pop());
}

export async function startBaseline() {
  const proc = spawn(process.execPath, ['bench/baseline-server.mjs'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => proc.stdout.once('data', (c) => resolve(JSON.parse(String(c)).port)));
  return { port, stop: () => proc.kill() };
}

/** Events the server says it stored (its /metrics counter, summed over shards). */
export async function storedCount(port) {
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...metrics.matchAll(/^telemetry_events_stored_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

/** Baseline then service, same bodies; one result object. */
export async function wrkIngest({ batch = 1000, format = 'json', seconds = 10, connections = 4, maxRate = 1_200_000, fsync = 'always' } = {}) {
  const dir = tempDir('bench-wrk-');
  try {
    const bodies = writeBodies(dir, { batch, format, events: seconds * maxRate });
    const base = await startBaseline();
    const b = runWrk(base.port, bodies, { seconds, connections, cycle: true });
    base.stop();
    if (b.non200 > 0) throw new Error(`baseline run failed its check: ${JSON.stringify(b)}`);
    const baseEventsPerSec = Math.round((b.requests * batch) / b.seconds);

    const server = await startServer({ DATA_DIR: join(dir, 'data'), FSYNC: fsync });
    const s = runWrk(server.port, bodies, { seconds, connections });
    const stored = await storedCount(server.port);
    await server.stop();
    const ok = s.requests - s.non200;
    // wrk may cut off requests in flight at the end: those can be stored without being counted.
    if (s.non200 > 0 || s.ranOut > 0 || stored < ok * batch || stored > (ok + connections) * batch) {
      throw new Error(`check failed: ${JSON.stringify(s)}, stored ${stored}`);
    }
    const eventsPerSec = Math.round((ok * batch) / s.seconds);
    return {
      scenario: 'batch-ingest',
      generator: 'wrk',
      format,
      batch,
      connections,
      fsync,
      events: stored,
      eventsPerSec,
      p50ms: s.p50ms,
      p99ms: s.p99ms,
      baselineEventsPerSec: baseEventsPerSec,
      ratioToBaseline: Number((eventsPerSec / baseEventsPerSec).toFixed(3)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!hasWrk()) {
    console.log(JSON.stringify({ scenario: 'batch-ingest', generator: 'wrk', skipped: 'wrk is not installed (apt-get install wrk)' }));
    process.exit(0);
  }
  const r = await wrkIngest({
    batch: Number(process.env.BATCH ?? 1000),
    format: process.env.FORMAT ?? 'json',
    seconds: Number(process.env.WRK_SECONDS ?? 10),
    connections: Number(process.env.WRK_CONNECTIONS ?? 4),
    maxRate: Number(process.env.MAX_RATE ?? 1_200_000),
    fsync: process.env.FSYNC ?? 'always',
  });
  console.log(JSON.stringify(r));
}
