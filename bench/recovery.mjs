// Recovery speed: writes a shard log of N events directly (the same records the server writes),
// then times the real server from start to ready, replaying the log RECOVERY_ROUNDS times (3) on
// the shard's thread alone (REPLAY_THREADS=1) and as many times with the default helper threads,
// alternating, each start killed so that the log stays unsnapshotted; the medians count (this
// VM's speed moves from one start to the next), and every start is listed. Then one more start
// is stopped cleanly (which snapshots) and a start from the snapshot is timed.
// The replay rate divides the events by the shard's own recovery time (snapshot, log replay,
// helpers' devices adopted; the id indexes are built after it is ready), read from its "shard
// recovered" line; the seconds the front waited (from its recover() call, which starts after the
// HTTP listener is up) are shown beside it. Every start must hold every event of the log and
// answer a few queries exactly as the first start did. One JSON line per size.
import { rmSync } from 'node:fs';
import { DEVICES, startServer, tempDir, writeLog } from './lib.mjs';

const SHARDS = Number(process.env.RECOVERY_SHARDS ?? 1);
const SIZES = (process.env.RECOVERY_EVENTS ?? '1000000,10000000').split(',').map(Number);
const ROUNDS = Number(process.env.RECOVERY_ROUNDS ?? 3);
const median = (runs) => [...runs].sort((a, b) => a.replaySeconds - b.replaySeconds)[Math.floor(runs.length / 2)];

/** The slowest shard's recovery report and the front's, from a server's output. */
function reports(server) {
  const lines = server.output().split('\n');
  const shards = lines.filter((l) => l.includes('"msg":"shard recovered"')).map((l) => JSON.parse(l));
  const front = JSON.parse(lines.find((l) => l.includes('"msg":"recovered"')));
  const slowest = shards.reduce((a, b) => (b.seconds > a.seconds ? b : a));
  return { shardSeconds: slowest.seconds, threads: slowest.replayThreads, frontSeconds: front.seconds };
}

// Every start must answer the same as the first (one thread, helpers, snapshot), and hold every event.
const QUERIES = [
  '/v1/devices/dev-7/events?limit=20',
  '/v1/metrics/aggregate?metric=temp&interval=1h&from_time=2025-01-01T00:00:00Z&to_time=2025-02-01T00:00:00Z',
  '/v1/metrics/aggregate?metric=cpu&device_id=dev-3&interval=1m&from_time=2025-01-01T00:00:00Z&to_time=2025-01-01T03:00:00Z',
  '/v1/search?tag=room:7&tag=fw:v1&limit=50',
];
let expected;

async function checkAnswers(server, events) {
  const got = [];
  for (const q of QUERIES) {
    const res = await fetch(`http://127.0.0.1:${server.port}${q}`);
    if (res.status !== 200) throw new Error(`check failed: ${q} answered ${res.status}`);
    got.push(await res.text());
  }
  const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const stored = metrics.split('\n').filter((l) => l.startsWith('telemetry_events_stored_total')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  if (stored !== events) throw new Error(`check failed: ${stored} events stored after recovery, ${events} in the log`);
  expected ??= got;
  got.forEach((a, i) => {
    if (a !== expected[i]) throw new Error(`check failed: ${QUERIES[i]} answered differently after another recovery`);
  });
}

async function timed(env, events, signal) {
  const server = await startServer(env);
  const r = reports(server);
  await checkAnswers(server, events);
  const stopStart = performance.now();
  await server.stop(signal);
  return {
    threads: r.threads,
    readySeconds: Number(server.readySeconds.toFixed(2)),
    replaySeconds: Number(r.shardSeconds.toFixed(3)),
    frontWaitedSeconds: r.frontSeconds,
    eventsPerSec: Math.round(events / r.shardSeconds),
    stopSeconds: Number(((performance.now() - stopStart) / 1000).toFixed(2)),
  };
}

for (const events of SIZES) {
  expected = undefined;
  const dataDir = tempDir('bench-recovery-');
  const logBytes = writeLog(dataDir, events, SHARDS);
  const env = { DATA_DIR: dataDir, SHARDS: String(SHARDS), SNAPSHOT_INTERVAL_MS: '0', SNAPSHOT_LOG_BYTES: String(2 ** 40), RING_CAPACITY: String(Math.ceil(events / DEVICES)) };
  // Killed: no snapshot, so the next start replays the same log. The order alternates, so
  // neither setting always starts first.
  const ones = [];
  const twos = [];
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) ones.push(await timed({ ...env, REPLAY_THREADS: '1' }, events, 'SIGKILL'));
    twos.push(await timed(env, events, 'SIGKILL'));
    if (r % 2 === 1) ones.push(await timed({ ...env, REPLAY_THREADS: '1' }, events, 'SIGKILL'));
  }
  const oneThread = median(ones);
  const threads = median(twos);
  const { stopSeconds } = await timed(env, events, 'SIGTERM');
  const fromSnapshot = await startServer(env);
  const snap = reports(fromSnapshot);
  await checkAnswers(fromSnapshot, events);
  await fromSnapshot.stop();
  rmSync(dataDir, { recursive: true, force: true });
  const { stopSeconds: _, ...logReplay } = threads;
  console.log(
    JSON.stringify({
      scenario: 'recovery',
      events,
      logBytes,
      rounds: ROUNDS,
      logReplay: { ...logReplay, allReplaySeconds: twos.map((t) => t.replaySeconds) },
      oneThread: { readySeconds: oneThread.readySeconds, replaySeconds: oneThread.replaySeconds, eventsPerSec: oneThread.eventsPerSec, allReplaySeconds: ones.map((t) => t.replaySeconds) },
      speedupOverOneThread: Number((oneThread.replaySeconds / threads.replaySeconds).toFixed(2)),
      cleanStopWithSnapshotSeconds: stopSeconds,
      fromSnapshot: { readySeconds: Number(fromSnapshot.readySeconds.toFixed(2)), recoverSeconds: Number(snap.shardSeconds.toFixed(3)) },
    }),
  );
}
