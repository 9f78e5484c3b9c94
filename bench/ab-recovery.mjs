// A/B of recovery settings: writes one shard log of N events, then starts the real server on it
// again and again, alternating the given settings, kills it after each start (so nothing is
// snapshotted and every start replays the same log), and prints each setting's median of the
// shard's own recovery time. These machines' speed moves between runs; alternating on the same
// log compares settings at the same moments.
//
//   RECOVERY_EVENTS=1000000 ROUNDS=5 node bench/ab-recovery.mjs 'REPLAY_THREADS=1' 'REPLAY_THREADS=2'
//   A setting is `KEY=VALUE&KEY=VALUE` (empty: the defaults), or `buildDir?KEY=VALUE&...` for the
//   build in another directory (one with a dist/main.js and a node_modules; see ab-ingest.mjs).
//   The log is written by this checkout's dist/.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEVICES, startServer, tempDir, writeLog } from './lib.mjs';

const events = Number(process.env.RECOVERY_EVENTS ?? 1_000_000);
const rounds = Number(process.env.ROUNDS ?? 5);
const settings = process.argv.slice(2);
if (settings.length === 0) {
  console.error("usage: node bench/ab-recovery.mjs 'KEY=VALUE&...' ...");
  process.exit(2);
}
const dataDir = tempDir('bench-ab-recovery-');
writeLog(dataDir, events, 1);
const base = { DATA_DIR: dataDir, SHARDS: '1', SNAPSHOT_INTERVAL_MS: '0', SNAPSHOT_LOG_BYTES: String(2 ** 40), RING_CAPACITY: String(Math.ceil(events / DEVICES)) };
const seconds = settings.map(() => []);
for (let r = 0; r < rounds; r++) {
  // The order reverses every round, so neither setting always runs first.
  const order = settings.map((_, i) => i);
  if (r % 2 === 1) order.reverse();
  for (const i of order) {
    const [dir, query] = settings[i].includes('?') ? settings[i].split('?') : [undefined, settings[i]];
    const env = Object.fromEntries(new URLSearchParams(query));
    const server = await startServer({ ...base, ...env }, dir === undefined ? undefined : join(dir, 'dist/main.js'));
    const line = server.output().split('\n').find((l) => l.includes('"msg":"shard recovered"'));
    seconds[i].push(JSON.parse(line).seconds);
    await server.stop('SIGKILL');
  }
}
rmSync(dataDir, { recursive: true, force: true });
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
settings.forEach((s, i) =>
  console.log(JSON.stringify({ settings: s, events, rounds, medianSeconds: Number(median(seconds[i]).toFixed(3)), eventsPerSec: Math.round(events / median(seconds[i])), seconds: seconds[i].map((x) => Number(x.toFixed(3))) })),
);
