import { startServer, tempDir, writeLog } from './bench/lib.mjs';
const dir = tempDir();
writeLog(dir, 1_000_000);
const s = await startServer({ DATA_DIR: dir, SHARDS: '1', RING_CAPACITY: '5000', SNAPSHOT_INTERVAL_MS: '0', SNAPSHOT_LOG_BYTES: String(2 ** 40) });
const base = `http://127.0.0.1:${s.port}`;
const qs = {
  recent: '/v1/devices/dev-7/events?limit=100',
  aggDev: '/v1/metrics/aggregate?metric=temp&device_id=dev-7&interval=1m&from_time=2025-01-01T00:00:00Z&to_time=2025-01-01T23:59:59.999Z',
  searchOne: '/v1/search?tag=room:7&limit=100',
  health: '/healthz', aggAll: '/v1/metrics/aggregate?metric=temp&interval=1m&from_time=2025-01-01T00:00:00Z&to_time=2025-01-01T23:59:59.999Z', searchTwo: '/v1/search?tag=room:7&tag=fw:v1&limit=100',
};
for (const [name, path] of Object.entries(qs)) {
  const r0 = await fetch(base + path); const body = await r0.text(); if (r0.status !== 200) console.log(name, r0.status, body.slice(0, 200));
  const times = [];
  for (let i = 0; i < 300; i++) { const t = performance.now(); const r = await fetch(base + path); await r.text(); times.push(performance.now() - t); }
  times.sort((a, b) => a - b);
  console.log(name, 'bytes', body.length, 'p50', times[150].toFixed(2), 'p99', times[297].toFixed(2));
}
await s.stop();
