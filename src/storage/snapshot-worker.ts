// Entry of the snapshot writer thread (see snapshot-writer.ts): pack, write, fsync, rename, reply.
import { parentPort } from 'node:worker_threads';
import { nodeIO } from './io.js';
import type { SnapshotDone, SnapshotJob } from './snapshot-writer.js';
import { writeSnapshot } from './snapshots.js';

const port = parentPort!;
port.on('message', (job: SnapshotJob) => {
  let done: SnapshotDone;
  try {
    done = { id: job.id, ok: true, bytes: writeSnapshot(nodeIO, job.dir, job.coversSeq, job.state) };
  } catch (e) {
    done = { id: job.id, ok: false, error: (e as Error).message };
  }
  port.postMessage(done);
});
