// Quick ingest throughput check: the built server on a fresh data directory, pre-generated batches
// of unique events (200 devices, 3 metrics, 2 tags) over 4 connections; checks every event was
// stored; one JSON line per FSYNC mode.
import { rmSync } from 'node:fs';
import { batchBodies, ingest, startServer, tempDir } from './lib.mjs';

const BATCH = Number(process.env.BATCH ?? 1000);
const REQUESTS = Number(process.env.REQUESTS ?? 300);
const MODES = (process.env.FSYNC_MODES ?? 'always,interval,never').split(',');

const bodies = batchBodies(REQUESTS, BATCH);
for (const fsync of MODES) {
  const dataDir = tempDir();
  const server = await startServer({ DATA_DIR: dataDir, FSYNC: fsync });
  const r = await ingest(server.port, bodies, BATCH);
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
  console.log(JSON.stringify({ scenario: 'batch-ingest-json', fsync, batch: BATCH, ...r }));
}
