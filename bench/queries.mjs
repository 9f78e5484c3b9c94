// Query speed on a shard holding 1,000,000 events (replayed from a log written directly): recent
// events of a device, a device's and all devices' 1-minute aggregates over the day, and search by
// one and by two tags. Every query's answer is first checked against what event(n) implies, then
// each is timed alone with autocannon, and with wrk where it is installed (autocannon, in
// JavaScript on the same two cores, runs out of CPU before the server does; wrk, in C, much later).
// Every timed answer must be the verified body. One JSON line per query and load generator.
// The query cache is on unless QUERY_CACHE_ENTRIES=0 (the runner measures both).
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { DEVICES, event, startServer, T0, tempDir, writeLog } from './lib.mjs';
import { hasWrk } from './wrk-ingest.mjs';

const EVENTS = Number(process.env.QUERY_EVENTS ?? 1_000_000);
const SECONDS = Number(process.env.SECONDS_PER_QUERY ?? 5);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const CACHE = process.env.QUERY_CACHE_ENTRIES === '0' ? 'off' : 'on';
// wrk threads (2 measured faster than 1 here, though they share the two cores with the server).
const WRK_THREADS = Number(process.env.WRK_THREADS ?? 2);
// Several devices, so recent/aggregate do not time one hot device only.
const QUERY_DEVICES = [7, 13, 42, 99, 123, 150, 171, 199];
const DAY = 'from_time=2025-01-01T00:00:00Z&to_time=2025-01-01T23:59:59.999Z';

const fail = (msg) => {
  throw new Error(msg);
};
const ns = [];
const last = (pred, limit) => {
  // Newest first: event n is newer than every m < n (10 ms apart, no ties).
  ns.length = 0;
  for (let n = EVENTS - 1; n >= 0 && ns.length < limit; n--) if (pred(n)) ns.push(n);
  return ns.slice();
};

function checkEvents(what, got, expectedNs) {
  if (!Array.isArray(got) || got.length !== expectedNs.length) fail(`${what}: expected ${expectedNs.length} events, got ${Array.isArray(got) ? got.length : typeof got}`);
  for (let i = 0; i < got.length; i++) {
    const want = event(expectedNs[i]);
    const g = got[i];
    const same =
      g.event_id === want.event_id &&
      g.device_id === want.device_id &&
      g.timeStamp === want.timeStamp &&
      JSON.stringify(Object.entries(g.metrics).sort()) === JSON.stringify(Object.entries(want.metrics).sort()) &&
      JSON.stringify([...g.tags].sort()) === JSON.stringify([...want.tags].sort());
    if (!same) fail(`${what}: event ${i} is ${JSON.stringify(g)}, expected ${JSON.stringify(want)}`);
  }
}

/** Buckets of temp (integers, so sums are exact whatever the order) and cpu, from event(n). */
function expectedBuckets(pred, intervalMs = 60_000, fromMs = -Infinity, toMs = Infinity) {
  const m = new Map();
  for (let n = 0; n < EVENTS; n++) {
    const t = T0 + n * 10;
    if (!pred(n) || t < fromMs || t > toMs) continue;
    const e = event(n);
    const b = Math.floor(t / intervalMs) * intervalMs;
    let x = m.get(b);
    if (!x) m.set(b, (x = { count: 0, sum: 0, min: Infinity, max: -Infinity, cpuSum: 0 }));
    x.count++;
    x.sum += e.metrics.temp;
    x.min = Math.min(x.min, e.metrics.temp);
    x.max = Math.max(x.max, e.metrics.temp);
    x.cpuSum += e.metrics.cpu;
  }
  return [...m.entries()].sort((a, b) => a[0] - b[0]);
}

function checkBuckets(what, got, want, key = 'sum') {
  if (!Array.isArray(got) || got.length !== want.length) fail(`${what}: expected ${want.length} buckets, got ${Array.isArray(got) ? got.length : typeof got}`);
  for (let i = 0; i < want.length; i++) {
    const [b, w] = want[i];
    const g = got[i];
    const wantSum = w[key];
    const sumOk = key === 'sum' ? g.sum === wantSum : Math.abs(g.sum - wantSum) <= 1e-9 * Math.max(1, Math.abs(wantSum));
    const minMaxOk = key === 'sum' ? g.min === w.min && g.max === w.max : true;
    if (g.bucket !== new Date(b).toISOString() || g.count !== w.count || !sumOk || !minMaxOk || Math.abs(g.avg - g.sum / g.count) > 1e-9 * Math.abs(g.avg))
      fail(`${what}: bucket ${i} is ${JSON.stringify(g)}, expected ${JSON.stringify({ bucket: new Date(b).toISOString(), ...w })}`);
  }
}

const dataDir = tempDir('bench-queries-');
writeLog(dataDir, EVENTS);
const server = await startServer({
  DATA_DIR: dataDir,
  SHARDS: '1',
  SNAPSHOT_INTERVAL_MS: '0',
  SNAPSHOT_LOG_BYTES: String(2 ** 40),
  RING_CAPACITY: String(Math.max(5000, Math.ceil(EVENTS / DEVICES))),
});
const base = `http://127.0.0.1:${server.port}`;
const get = async (path) => {
  const r = await fetch(base + path);
  const text = await r.text();
  if (r.status !== 200) fail(`GET ${path} answered ${r.status}: ${text.slice(0, 300)}`);
  return { text, value: JSON.parse(text) };
};

// The paths each timed run cycles through, with the answer body each must give (checked once here).
const recentPaths = QUERY_DEVICES.map((d) => `/v1/devices/dev-${d}/events?limit=100`);
const devAggPaths = QUERY_DEVICES.map((d) => `/v1/metrics/aggregate?metric=temp&device_id=dev-${d}&interval=1m&${DAY}`);
const allAggPath = `/v1/metrics/aggregate?metric=temp&interval=1m&${DAY}`;
const tag1Path = `/v1/search?tag=room:7&limit=100`;
const tag2Path = `/v1/search?tag=room:7&tag=fw:v1&limit=100`;
const expectedBody = new Map();

try {
  for (const [i, d] of QUERY_DEVICES.entries()) {
    const r = await get(recentPaths[i]);
    checkEvents(`recent dev-${d}`, r.value, last((n) => n % DEVICES === d, 100));
    expectedBody.set(recentPaths[i], r.text);
  }
  for (const [i, d] of QUERY_DEVICES.entries()) {
    const r = await get(devAggPaths[i]);
    checkBuckets(`aggregate temp dev-${d}`, r.value, expectedBuckets((n) => n % DEVICES === d));
    expectedBody.set(devAggPaths[i], r.text);
  }
  // cpu values are not integers: only checked to a tolerance, since float sums depend on order.
  checkBuckets('aggregate cpu dev-7', (await get(`/v1/metrics/aggregate?metric=cpu&device_id=dev-7&interval=1m&${DAY}`)).value, expectedBuckets((n) => n % DEVICES === 7), 'cpuSum');
  // Ranges whose edges cut through minutes (read from raw events, not rollups), and a sub-minute
  // interval (raw events only): not timed, checked because they take other paths in the engine.
  {
    const from = T0 + 30_500;
    const to = T0 + 3_630_250;
    const q = `from_time=${new Date(from).toISOString()}&to_time=${new Date(to).toISOString()}`;
    checkBuckets('aggregate temp dev-7 ragged range 1m', (await get(`/v1/metrics/aggregate?metric=temp&device_id=dev-7&interval=1m&${q}`)).value, expectedBuckets((n) => n % DEVICES === 7, 60_000, from, to));
    checkBuckets('aggregate temp all ragged range 1m', (await get(`/v1/metrics/aggregate?metric=temp&interval=1m&${q}`)).value, expectedBuckets(() => true, 60_000, from, to));
    checkBuckets('aggregate temp dev-7 ragged range 10s', (await get(`/v1/metrics/aggregate?metric=temp&device_id=dev-7&interval=10s&${q}`)).value, expectedBuckets((n) => n % DEVICES === 7, 10_000, from, to));
    checkBuckets('aggregate temp dev-7 day 1h', (await get(`/v1/metrics/aggregate?metric=temp&device_id=dev-7&interval=1h&${DAY}`)).value, expectedBuckets((n) => n % DEVICES === 7, 3_600_000));
  }
  {
    const r = await get(allAggPath);
    checkBuckets('aggregate temp all devices', r.value, expectedBuckets(() => true));
    expectedBody.set(allAggPath, r.text);
  }
  {
    const r = await get(tag1Path);
    checkEvents('search room:7', r.value, last((n) => n % 50 === 7, 100));
    expectedBody.set(tag1Path, r.text);
  }
  {
    const r = await get(tag2Path);
    checkEvents('search room:7 fw:v1', r.value, last((n) => n % 50 === 7 && n % 3 === 1, 100));
    expectedBody.set(tag2Path, r.text);
  }

  /** Times one query (cycling its paths) and checks every answer is the body verified above. */
  async function time(query, paths) {
    let k = 0;
    let wrong = 0;
    let firstWrong;
    const result = await autocannon({
      url: base,
      connections: CONNECTIONS,
      duration: SECONDS,
      requests: [
        {
          method: 'GET',
          // The connection's context carries the path to its answer (one request in flight each).
          setupRequest: (r, ctx) => {
            ctx.path = paths[k++ % paths.length];
            return { ...r, path: ctx.path };
          },
          onResponse: (status, body, ctx) => {
            if (status !== 200 || body !== expectedBody.get(ctx.path)) {
              wrong++;
              firstWrong ??= `${status} ${body.slice(0, 200)}`;
            }
          },
        },
      ],
    });
    if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0 || wrong > 0)
      fail(`${query}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts, ${wrong} wrong answers (first: ${firstWrong})`);
    return {
      scenario: 'query',
      query,
      generator: 'autocannon',
      queryCache: CACHE,
      events: EVENTS,
      connections: CONNECTIONS,
      reqPerSec: Math.round(result.requests.average),
      p50ms: result.latency.p50,
      p99ms: result.latency.p99,
      p999ms: result.latency.p99_9,
      non2xx: result.non2xx,
      total: result.requests.total,
    };
  }

  const runs = [
    ['recent-100', recentPaths],
    ['aggregate-device-1m-day', devAggPaths],
    ['aggregate-all-devices-1m-day', [allAggPath]],
    ['search-1-tag-100', [tag1Path]],
    ['search-2-tags-100', [tag2Path]],
  ];
  /** Times one path with wrk, every answer checked in Lua against the verified body. */
  function timeWrk(query, path) {
    const expectedFile = join(dataDir, 'expected-body');
    writeFileSync(expectedFile, expectedBody.get(path));
    const out = execFileSync('wrk', [`-t${WRK_THREADS}`, `-c${CONNECTIONS}`, `-d${SECONDS}s`, '-s', 'bench/wrk-query.lua', base, '--', path, expectedFile], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop());
    if (r.non200 > 0 || r.wrong > 0 || r.errors > 0) fail(`${query} (wrk): ${JSON.stringify(r)}`);
    return {
      scenario: 'query',
      query,
      generator: 'wrk',
      wrkThreads: WRK_THREADS,
      queryCache: CACHE,
      events: EVENTS,
      connections: CONNECTIONS,
      reqPerSec: Math.round(r.requests / r.seconds),
      p50ms: r.p50ms,
      p99ms: r.p99ms,
      p999ms: r.p999ms,
      non2xx: r.non200,
      total: r.requests,
    };
  }

  const wrk = hasWrk();
  for (const [query, paths] of runs) {
    console.log(JSON.stringify(await time(query, paths)));
    if (wrk) console.log(JSON.stringify(timeWrk(query, paths[0])));
  }
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
