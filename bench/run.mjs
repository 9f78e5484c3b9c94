// `npm run bench`: every scenario of the speed issue, one after another on a quiet machine, each
// against a freshly started production build with a fresh temporary data directory. Each scenario
// script checks its answers before its numbers count and prints one JSON line per result; this
// prints those lines as they come, then one table. Exits non-zero if any scenario failed.
//
// BENCH_ONLY=name,name  runs only the scenarios named (see SCENARIOS below).
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { hasWrk } from './wrk-ingest.mjs';

const wrk = hasWrk();
const SCENARIOS = [
  { name: 'single-event', script: 'single-event.mjs' },
  ...(wrk
    ? [
        { name: 'batch-json-1000', script: 'wrk-ingest.mjs', env: { BATCH: '1000', FORMAT: 'json' } },
        { name: 'batch-json-100', script: 'wrk-ingest.mjs', env: { BATCH: '100', FORMAT: 'json', MAX_RATE: '400000' } },
        { name: 'batch-msgpack-1000', script: 'wrk-ingest.mjs', env: { BATCH: '1000', FORMAT: 'msgpack' } },
        { name: 'batch-msgpack-100', script: 'wrk-ingest.mjs', env: { BATCH: '100', FORMAT: 'msgpack', MAX_RATE: '400000' } },
      ]
    : [{ name: 'batch-autocannon', script: 'msgpack-ingest.mjs' }]),
  { name: 'msgpack-decode', script: 'msgpack-decode.mjs' },
  { name: 'memory', script: 'memory.mjs', node: ['--expose-gc'] },
  { name: 'engine-ingest', script: 'engine-ingest.mjs' },
  { name: 'queries', script: 'queries.mjs' },
  { name: 'queries-uncached', script: 'queries.mjs', env: { QUERY_CACHE_ENTRIES: '0' } },
  { name: 'mixed', script: 'mixed.mjs' },
  { name: 'alerts', script: 'alerts.mjs' },
  { name: 'recovery', script: 'recovery.mjs' },
];

const only = process.env.BENCH_ONLY?.split(',');
const results = [];
const failed = [];

function run(s) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(s.node ?? []), `bench/${s.script}`], { env: { ...process.env, ...s.env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let pending = '';
    child.stdout.on('data', (chunk) => {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        console.log(line);
        try {
          const r = JSON.parse(line);
          if (r && typeof r === 'object' && r.scenario) results.push(r);
        } catch {
          // not a result line
        }
      }
    });
    child.on('exit', (code) => resolve(code));
  });
}

const started = Date.now();
console.log(JSON.stringify({ bench: 'start', date: new Date().toISOString(), node: process.version, cores: cpus().length, cpu: cpus()[0]?.model, wrk }));
for (const s of SCENARIOS) {
  if (only && !only.includes(s.name)) continue;
  const code = await run(s);
  if (code !== 0) failed.push(`${s.name} (exit ${code})`);
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? ''));
const row = (r) => {
  switch (r.scenario) {
    case 'single-event-baseline':
      return ['single-event POST, bare uWS baseline', `${r.connections} conns, autocannon`, `${fmt(r.reqPerSec)} req/s`, r.p50ms, r.p99ms, '1'];
    case 'single-event':
      return ['single-event POST', `${r.connections} conns, autocannon, FSYNC=${r.fsync}`, `${fmt(r.reqPerSec)} req/s`, r.p50ms, r.p99ms, r.ratioToBaseline];
    case 'batch-ingest':
      return [`batch ingest, ${r.format}`, `${fmt(r.batch)}/batch, ${r.connections} conns, ${r.generator}${r.fsync ? `, FSYNC=${r.fsync}` : ''}`, `${fmt(r.eventsPerSec)} ev/s`, r.p50ms, r.p99ms, r.ratioToBaseline ?? ''];
    case 'query':
      return [`query ${r.query}`, `${fmt(r.events)} events, ${r.connections} conns, ${r.generator}, cache ${r.queryCache}`, `${fmt(r.reqPerSec)} req/s`, r.p50ms, r.p99ms, ''];
    case 'mixed':
      return ['mixed 90% batch / 10% queries', `${r.connections} conns; queries p50 ${r.queryP50ms} / p99 ${r.queryP99ms} ms`, `${fmt(r.eventsPerSec)} ev/s + ${fmt(r.queriesPerSec)} q/s`, r.p50ms, r.p99ms, ''];
    case 'alert-latency':
      return ['alert delivery, from the POST answer', `${r.clients} SSE clients, ${r.alerts} alerts; from the POST sent: p50 ${r.fromSendP50ms} / p99 ${r.fromSendP99ms} ms`, '', r.p50ms, r.p99ms, ''];
    case 'recovery':
      return [
        `recovery, ${fmt(r.events)} events`,
        `log ${fmt(Math.round(r.logBytes / 1e6))} MB on ${r.logReplay.threads} threads, median of ${r.rounds ?? 1} starts (${(r.logReplay.allReplaySeconds ?? [r.logReplay.replaySeconds]).join(', ')} s): ready in ${r.logReplay.readySeconds} s (${r.speedupOverOneThread}x one thread's ${fmt(r.oneThread.eventsPerSec)} ev/s); from snapshot ready in ${r.fromSnapshot.readySeconds} s`,
        `${fmt(r.logReplay.eventsPerSec)} ev/s replayed`,
        '',
        '',
        '',
      ];
    case 'memory':
      return [
        `memory per stored event, ${fmt(r.events)} events`,
        `3 metrics, 2 tags; ring ${r.ringBytesPerEvent} B, rollups ${r.rollupBytesPerEvent} B; id ${r.idCharsPerEvent} chars`,
        `${r.bytesPerEvent} B (${r.bytesPerEventWithoutIdChars} B + id chars)`,
        '',
        '',
        '',
      ];
    case 'engine-ingest':
      return [`engine ingest in process, ${fmt(r.events)} events`, `no HTTP, threads or disk; unpacking ${r.unpackSeconds} s of ${r.seconds} s`, `${fmt(r.eventsPerSec)} ev/s`, '', '', ''];
    case 'msgpack-decode':
      return [
        'decoding a 1,000-event body (in process)',
        Object.entries(r.us_per_event).map(([k, v]) => `${k} ${v}`).join(', '),
        'µs per event',
        '',
        '',
        '',
      ];
    default:
      return [r.scenario, '', '', r.p50ms ?? '', r.p99ms ?? '', ''];
  }
};
const table = [['scenario', 'setup', 'throughput', 'p50 ms', 'p99 ms', 'ratio to baseline'], ...results.map(row)];
console.log('');
console.log(table.map((cells, i) => `| ${cells.join(' | ')} |` + (i === 0 ? `\n|${cells.map(() => ' --- ').join('|')}|` : '')).join('\n'));
console.log('');
console.log(`${results.length} results in ${Math.round((Date.now() - started) / 1000)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`);
process.exit(failed.length ? 1 : 0);
