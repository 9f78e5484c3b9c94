// Mixed load: a fresh server preloaded over HTTP, then one autocannon run whose connections each
// cycle 9 batch POSTs (1,000 unique events each) and 1 query (recent, aggregate, search in turn):
// 90% ingest, 10% queries by request count. Every batch answer must be all "stored" and every query
// a 200 with a plausible answer. Reports events/s, queries/s, overall latency, and query and batch
// latency apart (timed here: setupRequest runs just before autocannon writes the request).
import { rmSync } from 'node:fs';
import autocannon from 'autocannon';
import { batchBodies, DEVICES, event, ingestBodies, quantile, startServer, tempDir } from './lib.mjs';

const SECONDS = Number(process.env.MIXED_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 8);
const BATCH = 1000;
const PRELOAD = Number(process.env.PRELOAD_EVENTS ?? 100_000);
// Enough for ~190k events/s over 8 s; past it bodies are made on the fly (still unique).
const POOL = Number(process.env.MIXED_POOL_BODIES ?? 2500);
const DAY = 'from_time=2025-01-01T00:00:00Z&to_time=2025-01-01T23:59:59.999Z';

const fail = (msg) => {
  throw new Error(msg);
};

const pool = batchBodies(POOL, BATCH, PRELOAD);
const bodyFor = (k) => pool[k] ?? batchBodies(1, BATCH, PRELOAD + k * BATCH)[0];

const queryKinds = ['recent', 'aggregate', 'search'];
const queryPath = (q) => {
  const kind = queryKinds[q % 3];
  if (kind === 'recent') return `/v1/devices/dev-${q % DEVICES}/events?limit=100`;
  if (kind === 'aggregate') return `/v1/metrics/aggregate?metric=temp&device_id=dev-${q % DEVICES}&interval=1m&${DAY}`;
  return `/v1/search?tag=room:${q % 50}&limit=100`;
};

/** Every query sees at least the preloaded events, so its answer has a known least size. */
function checkQuery(kind, status, body) {
  if (status !== 200) return `${kind} answered ${status}: ${body.slice(0, 200)}`;
  const v = JSON.parse(body);
  if (!Array.isArray(v) || v.length === 0) return `${kind} answered ${body.slice(0, 200)}`;
  if (kind === 'aggregate') {
    const count = v.reduce((s, b) => s + b.count, 0);
    if (count < PRELOAD / DEVICES) return `aggregate counted ${count} events, fewer than preloaded`;
    return undefined;
  }
  if (v.length !== 100) return `${kind} answered ${v.length} events, expected 100`;
  for (let i = 1; i < v.length; i++) if (v[i - 1].timeStamp < v[i].timeStamp) return `${kind} answer is not newest first at ${i}`;
  return undefined;
}

async function storedTotal(base) {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('telemetry_events_stored_total'))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

const dataDir = tempDir('bench-mixed-');
const server = await startServer({ DATA_DIR: dataDir });
const base = `http://127.0.0.1:${server.port}`;
try {
  await ingestBodies(server.port, batchBodies(PRELOAD / BATCH, BATCH, 0), BATCH);
  {
    // One spot check that the preload is what event(n) says, before the load starts.
    const last = (await (await fetch(`${base}/v1/devices/dev-7/events?limit=1`)).json())[0];
    const want = event(PRELOAD - DEVICES + 7);
    if (last?.event_id !== want.event_id || last.timeStamp !== want.timeStamp) fail(`preload: newest of dev-7 is ${JSON.stringify(last)}, expected ${want.event_id}`);
  }

  let nextBody = 0;
  let nextQuery = 0;
  let storedEvents = 0;
  let batches = 0;
  let queries = 0;
  const problems = [];
  const queryMs = [];
  const batchMs = [];
  const post = {
    method: 'POST',
    path: '/v1/events/batch',
    headers: { 'content-type': 'application/json' },
    setupRequest: (r, ctx) => {
      ctx.t0 = performance.now();
      return { ...r, body: bodyFor(nextBody++) };
    },
    onResponse: (status, body, ctx) => {
      batchMs.push(performance.now() - ctx.t0);
      const stored = status === 200 ? (body.match(/"stored"/g) ?? []).length : 0;
      if (stored !== BATCH) problems.push(`batch answered ${status} with ${stored} stored: ${body.slice(0, 200)}`);
      storedEvents += stored;
      batches++;
    },
  };
  const query = {
    method: 'GET',
    setupRequest: (r, ctx) => {
      ctx.q = nextQuery++;
      ctx.t0 = performance.now();
      return { ...r, path: queryPath(ctx.q) };
    },
    onResponse: (status, body, ctx) => {
      queryMs.push(performance.now() - ctx.t0);
      const problem = checkQuery(queryKinds[ctx.q % 3], status, body);
      if (problem) problems.push(problem);
      queries++;
    },
  };

  const started = performance.now();
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: SECONDS,
    // Distinct objects: autocannon keeps per-request state on them.
    requests: [...Array.from({ length: 9 }, () => ({ ...post })), query],
  });
  const seconds = (performance.now() - started) / 1000;
  if (problems.length > 0) fail(`${problems.length} wrong answers; first: ${problems[0]}`);
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) fail(`${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  if (queries === 0) fail('no query was answered');
  // Requests cut off by the end of the run may have stored their events unanswered: the server's
  // count lies between what was answered and what was sent.
  const serverStored = await storedTotal(base);
  if (serverStored < PRELOAD + storedEvents || serverStored > PRELOAD + nextBody * BATCH) fail(`server counted ${serverStored} stored events; answers said ${PRELOAD + storedEvents}, sent at most ${PRELOAD + nextBody * BATCH}`);

  queryMs.sort((a, b) => a - b);
  batchMs.sort((a, b) => a - b);
  const ms = (x) => Number(x.toFixed(1));
  console.log(
    JSON.stringify({
      scenario: 'mixed',
      connections: CONNECTIONS,
      preloadedEvents: PRELOAD,
      seconds: Number(seconds.toFixed(1)),
      batches,
      queries,
      eventsPerSec: Math.round(storedEvents / seconds),
      queriesPerSec: Math.round(queries / seconds),
      p50ms: result.latency.p50,
      p99ms: result.latency.p99,
      queryP50ms: ms(quantile(queryMs, 0.5)),
      queryP99ms: ms(quantile(queryMs, 0.99)),
      batchP50ms: ms(quantile(batchMs, 0.5)),
      batchP99ms: ms(quantile(batchMs, 0.99)),
      non2xx: result.non2xx,
      poolExhausted: nextBody > POOL,
    }),
  );
} finally {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
