// Ingest latency while snapshots of a large shard are taken: a shard preloaded with N events
// (from its log) takes 1,000-event batches over 4 connections, once with snapshots held off and
// once with a snapshot every few batches; compares p50/p99 and counts the snapshots.
import { cpSync, rmSync } from "node:fs";
import { batchBodies, DEVICES, ingest, startServer, tempDir, writeLog } from './lib.mjs';

const EVENTS = Number(process.env.STALL_EVENTS ?? 1_000_000);
const REQUESTS = 100;
const base = tempDir('bench-stall-');
writeLog(base, EVENTS);
const bodies = batchBodies(REQUESTS, 1000, EVENTS);
const ring = String(Math.ceil((EVENTS + REQUESTS * 1000) / DEVICES));

const runs = [];
for (const [name, snapshotLogBytes] of [
  ['no-snapshots', String(2 ** 40)],
  ['snapshot-every-~10-batches', String(1 << 20)],
]) {
  const dataDir = tempDir('bench-stall-run-');
  cpSync(base, dataDir, { recursive: true });
  const server = await startServer({ DATA_DIR: dataDir, SHARDS: '1', SNAPSHOT_INTERVAL_MS: '0', SNAPSHOT_LOG_BYTES: snapshotLogBytes, RING_CAPACITY: ring });
  const r = await ingest(server.port, bodies, 1000);
  const snapshots = (server.output().match(/"msg":"snapshot written"/g) ?? []).length;
  const seconds = server.output().split('\n').filter((l) => l.includes('"msg":"snapshot written"')).map((l) => JSON.parse(l).seconds);
  await server.stop('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  runs.push({ run: name, snapshots, snapshotSecondsMax: seconds.length ? Math.max(...seconds) : 0, ...r });
}
rmSync(base, { recursive: true, force: true });
for (const r of runs) console.log(JSON.stringify({ scenario: 'ingest-during-snapshot', preloadedEvents: EVENTS, ...r }));
