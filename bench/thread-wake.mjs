// What one cross-thread message costs the thread that posts it on this machine, by whether the
// receiving thread is asleep (its event loop waiting in epoll) or already awake. Every ingest
// request crosses twice (the task to the shard, its answer back), and the group commit's
// fdatasync goes to libuv's pool and back, so this is a floor under the server's cost per request.
//
//   node bench/thread-wake.mjs      (one JSON line; the CPU times come from /proc, in clock ticks)
import { readFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

const POSTS = Number(process.env.POSTS ?? 3000);

/** CPU microseconds this process's thread `tid` has used (utime + stime, 100 ticks a second). */
function threadCpuUs(tid) {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

if (isMainThread) {
  const worker = new Worker(new URL(import.meta.url));
  await new Promise((resolve) => worker.once('message', resolve));
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  // Asleep: 1 ms between posts (a wait that uses no CPU), so the worker's loop is back in epoll
  // each time. The second post right after finds the wake-up already signalled.
  const first = [];
  const second = [];
  const cpuBefore = threadCpuUs(process.pid);
  for (let k = 0; k < POSTS; k++) {
    const a = performance.now();
    worker.postMessage(k);
    const b = performance.now();
    worker.postMessage(k);
    second.push(performance.now() - b);
    first.push(b - a);
    Atomics.wait(sleep, 0, 0, 1);
  }
  const cpuPerRound = (threadCpuUs(process.pid) - cpuBefore) / POSTS;
  // The same rounds without posting: what the sleep itself costs the thread.
  const idleBefore = threadCpuUs(process.pid);
  for (let k = 0; k < POSTS; k++) Atomics.wait(sleep, 0, 0, 1);
  const idlePerRound = (threadCpuUs(process.pid) - idleBefore) / POSTS;
  console.log(
    JSON.stringify({
      scenario: 'thread-wake',
      posts: POSTS,
      postToSleepingThreadUs: Number((median(first) * 1000).toFixed(1)),
      postToWokenThreadUs: Number((median(second) * 1000).toFixed(1)),
      posterCpuPerRoundUs: Number(cpuPerRound.toFixed(1)),
      posterCpuPerRoundWithoutPostsUs: Number(idlePerRound.toFixed(1)),
    }),
  );
  await worker.terminate();
} else {
  parentPort.on('message', () => {});
  parentPort.postMessage('ready');
}
