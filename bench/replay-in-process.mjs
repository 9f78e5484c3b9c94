// A/B of log replay without the server: each round starts a fresh process per build that opens a
// shard on one 1M-event log (Shard.open(), helper threads as the server starts them), and reports
// the shard's recovery time, the process's CPU time over it and its page faults. Builds alternate,
// reversing the order every round; the medians are printed per build. Less noise than server
// starts (no piscina or HTTP start-up), and CPU and faults show what the wall time hides.
//
//   node bench/replay-in-process.mjs <rounds> <buildDir> [<buildDir> ...]
//   env: RECOVERY_EVENTS (1000000), REPLAY_THREADS (2)
//   A build directory holds a dist/ (see ab-ingest.mjs for building another commit). The log is
//   written by this checkout's dist/ (builds before record version 3 cannot read it).
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEVICES, tempDir, writeLog } from './lib.mjs';

const events = Number(process.env.RECOVERY_EVENTS ?? 1_000_000);
const [rounds, ...builds] = process.argv.slice(2);
if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]));
  process.exit(0);
}
if (!rounds || builds.length === 0) {
  console.error('usage: node bench/replay-in-process.mjs <rounds> <buildDir> ...');
  process.exit(2);
}
const threads = Number(process.env.REPLAY_THREADS ?? 2);
const dataDir = tempDir('bench-replay-');
writeLog(dataDir, events, 1);
const runs = builds.map(() => []);
for (let r = 0; r < Number(rounds); r++) {
  const order = builds.map((_, i) => i);
  if (r % 2 === 1) order.reverse();
  for (const i of order) {
    const out = execFileSync(process.execPath, [new URL(import.meta.url).pathname, '--child', resolve(builds[i], 'dist'), dataDir, String(threads)], { encoding: 'utf8' });
    const run = JSON.parse(out.trim().split('\n').pop());
    if (run.events !== events) throw new Error(`${builds[i]} replayed ${run.events} events, not ${events}`);
    runs[i].push(run);
    // Each open leaves a fresh, empty segment for appends: remove it, so every start replays the same log.
    const dir = join(dataDir, 'shard-0');
    for (const name of readdirSync(dir)) if (name.endsWith('.log') && statSync(join(dir, name)).size === 0) rmSync(join(dir, name));
  }
}
rmSync(dataDir, { recursive: true, force: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
builds.forEach((b, i) =>
  console.log(
    JSON.stringify({
      build: b,
      events,
      threads,
      rounds: runs[i].length,
      medianSeconds: median(runs[i].map((x) => x.seconds)),
      medianCpuSeconds: Number(median(runs[i].map((x) => x.cpuSeconds)).toFixed(3)),
      medianFaults: median(runs[i].map((x) => x.faults)),
      seconds: runs[i].map((x) => x.seconds),
    }),
  ),
);

async function child(dist, dir, threads) {
  const { Shard } = await import(join(dist, 'shard/shard.js'));
  const { nodeIO } = await import(join(dist, 'storage/io.js'));
  const { ReplayThread } = await import(join(dist, 'shard/replay-thread.js'));
  // As the server's defaults: rings large enough to hold every event, 12 MB young generations.
  const limits = { ringCapacity: Math.ceil(events / DEVICES), rawRetentionMs: 1e15, rollupRetentionMs: 1e15 };
  const storage = { dir: join(dir, 'shard-0'), fsync: 'never', segmentBytesMax: 2 ** 40, snapshotLogBytes: 2 ** 40, snapshotIntervalMs: 0 };
  const before = process.resourceUsage();
  const shard = new Shard({ index: 0, limits, replay: { threads, logBytesMin: 0 }, youngGenerationMb: 12, storage }, nodeIO, () => {}, false, (l, part, parts) => new ReplayThread(l, part, parts, undefined, 12));
  const report = shard.open();
  const after = process.resourceUsage();
  console.log(
    JSON.stringify({
      events: report.events,
      seconds: Number(report.seconds.toFixed(3)),
      cpuSeconds: (after.userCPUTime + after.systemCPUTime - before.userCPUTime - before.systemCPUTime) / 1e6,
      faults: after.minorPageFault - before.minorPageFault,
    }),
  );
}
