// Batch ingest with msgpack bodies against the same batches as JSON, in the same run: batches of
// 1,000 and of 100 events, 4 connections, a fresh server per run (a store that already holds the
// previous run's events ingests slower). Every event must come back "stored", the server's stored
// counter must agree, and the newest events of a device must read back exactly as generated (so a
// msgpack body is shown to mean the same as its JSON twin). One JSON line per run.
import { rmSync } from 'node:fs';
import { pack } from 'msgpackr';
import { DEVICES, event, ingestBodies, startServer, tempDir } from './lib.mjs';

const CONNECTIONS = 4;
const RUNS = [
  { batch: 1000, requests: Number(process.env.REQUESTS_1000 ?? 300) },
  { batch: 100, requests: Number(process.env.REQUESTS_100 ?? 2000) },
];
const FORMATS = {
  json: { contentType: 'application/json', encode: (evs) => JSON.stringify(evs) },
  msgpack: { contentType: 'application/msgpack', encode: (evs) => pack(evs) },
};

const fail = (msg) => {
  throw new Error(msg);
};

function bodies(format, requests, batch) {
  const out = [];
  for (let k = 0, n = 0; k < requests; k++) {
    const evs = [];
    for (let i = 0; i < batch; i++, n++) evs.push(event(n));
    out.push(FORMATS[format].encode(evs));
  }
  return out;
}

async function checkStored(base, events) {
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const counted = metrics
    .split('\n')
    .filter((l) => l.startsWith('telemetry_events_stored_total'))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
  if (counted !== events) fail(`server counted ${counted} stored events, expected ${events}`);
  for (const d of [0, 7, DEVICES - 1]) {
    const got = await (await fetch(`${base}/v1/devices/dev-${d}/events?limit=50`)).json();
    const want = [];
    for (let n = events - 1; n >= 0 && want.length < 50; n--) if (n % DEVICES === d) want.push(event(n));
    // Same key order as event(n) puts them in, so metrics and tags compare as written.
    const norm = (e) => JSON.stringify({ event_id: e.event_id, device_id: e.device_id, timeStamp: e.timeStamp, metrics: Object.fromEntries(Object.entries(e.metrics).sort()), tags: [...e.tags].sort() });
    if (got.length !== want.length || got.some((e, i) => norm(e) !== norm(want[i]))) fail(`dev-${d} reads back ${JSON.stringify(got[0])}..., expected ${JSON.stringify(want[0])}...`);
  }
}

const lines = [];
for (const { batch, requests } of RUNS) {
  for (const format of Object.keys(FORMATS)) {
    const b = bodies(format, requests, batch);
    const dataDir = tempDir('bench-msgpack-');
    const server = await startServer({ DATA_DIR: dataDir });
    try {
      const r = await ingestBodies(server.port, b, batch, { connections: CONNECTIONS, contentType: FORMATS[format].contentType });
      await checkStored(`http://127.0.0.1:${server.port}`, requests * batch);
      const bodyBytes = b.reduce((s, x) => s + (typeof x === 'string' ? Buffer.byteLength(x) : x.length), 0);
      lines.push({ scenario: 'batch-ingest', format, batch, connections: CONNECTIONS, events: r.events, eventsPerSec: r.eventsPerSec, p50ms: r.p50ms, p99ms: r.p99ms, bytesPerEvent: Math.round(bodyBytes / r.events) });
      console.log(JSON.stringify(lines.at(-1)));
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}
