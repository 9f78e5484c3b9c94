// A/B of server builds under the wrk batch load: alternates builds (directories that hold a
// dist/main.js and a node_modules) on the same pre-encoded bodies, reversing the order every round,
// and reads each thread's CPU time from /proc around every run, so a change is judged by the
// median of interleaved runs and by CPU per event, which the machine's noise moves less.
//
//   node bench/ab-ingest.mjs <rounds> <buildDir> <buildDir> ...
//   env: WRK_SECONDS (8), FORMAT (json | msgpack), CONNECTIONS (4)
//   A build may carry environment settings of its own: `dir?KEY=VALUE&KEY=VALUE` (the same
//   directory twice with different settings compares the settings).
//
// To make a build of another commit: git worktree add /tmp/b <commit> && ln -s "$PWD/node_modules"
// /tmp/b/node_modules && (cd /tmp/b && npx tsc -p tsconfig.build.json).
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, tempDir } from './lib.mjs';
import { runWrk, storedCount, writeBodies } from './wrk-ingest.mjs';

const [rounds, ...builds] = process.argv.slice(2);
if (!rounds || builds.length === 0) {
  console.error('usage: node bench/ab-ingest.mjs <rounds> <buildDir> ...');
  process.exit(2);
}
const seconds = Number(process.env.WRK_SECONDS ?? 8);
const format = process.env.FORMAT ?? 'json';
const connections = Number(process.env.CONNECTIONS ?? 4);
const work = tempDir('bench-ab-');
const bodies = writeBodies(work, { batch: 1000, format, events: seconds * 1_200_000 });

/**
 * Per thread of a process, by thread id: CPU seconds, of them in the kernel, and minor page faults
 * (a fault on fresh memory costs 14-20 µs here: bench/page-faults.mjs).
 */
function threadCpu(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // minflt, utime, stime (times in clock ticks)
      out.set(Number(tid), { cpu: (Number(f[11]) + Number(f[12])) / 100, sys: Number(f[12]) / 100, faults: Number(f[7]) });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = new Map(builds.map((b) => [b, []]));
try {
  for (let r = 0; r < Number(rounds); r++) {
    for (const build of r % 2 ? [...builds].reverse() : builds) {
      const dataDir = join(work, `data-${r}`);
      mkdirSync(dataDir);
      const [dir, settings = ''] = build.split('?');
      const env = { DATA_DIR: dataDir, FSYNC: 'always', ...Object.fromEntries(new URLSearchParams(settings)) };
      const s = await startServer(env, join(dir, 'dist/main.js'));
      const before = threadCpu(s.proc.pid);
      const w = runWrk(s.port, bodies, { seconds, connections });
      const after = threadCpu(s.proc.pid);
      const n = await storedCount(s.port);
      await s.stop();
      rmSync(dataDir, { recursive: true, force: true });
      const ok = w.requests - w.non200;
      if (w.non200 > 0 || w.ranOut > 0 || n < ok * 1000) throw new Error(`check failed: ${JSON.stringify(w)}, stored ${n}`);
      const millions = (ok * 1000) / 1e6;
      const zero = { cpu: 0, sys: 0, faults: 0 };
      const used = [...after].map(([tid, a]) => {
        const b = before.get(tid) ?? zero;
        return [tid, { cpu: a.cpu - b.cpu, sys: a.sys - b.sys, faults: a.faults - b.faults }];
      });
      const http = used.find(([tid]) => tid === s.proc.pid)?.[1] ?? zero;
      const shard = used.filter(([tid]) => tid !== s.proc.pid).reduce((best, [, u]) => (u.cpu > best.cpu ? u : best), zero);
      const run = {
        build,
        round: r,
        eventsPerSec: Math.round((ok * 1000) / w.seconds),
        p50ms: w.p50ms,
        p99ms: w.p99ms,
        httpUsPerEvent: Number((http.cpu / millions).toFixed(2)),
        shardUsPerEvent: Number((shard.cpu / millions).toFixed(2)),
        shardSysUsPerEvent: Number((shard.sys / millions).toFixed(2)),
        processUsPerEvent: Number((used.reduce((a, [, u]) => a + u.cpu, 0) / millions).toFixed(2)),
        // minor page faults per 1,000 events
        httpFaultsPerK: Number((http.faults / (millions * 1000)).toFixed(1)),
        shardFaultsPerK: Number((shard.faults / (millions * 1000)).toFixed(1)),
      };
      results.get(build).push(run);
      console.log(JSON.stringify(run));
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
for (const [build, runs] of results) {
  const m = (k) => median(runs.map((x) => x[k]));
  const keys = ['eventsPerSec', 'httpUsPerEvent', 'shardUsPerEvent', 'shardSysUsPerEvent', 'processUsPerEvent', 'httpFaultsPerK', 'shardFaultsPerK'];
  console.log(JSON.stringify({ build, runs: runs.length, ...Object.fromEntries(keys.map((k) => [k, m(k)])) }));
}
