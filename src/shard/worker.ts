// The piscina entry of a shard thread: a few lines that hand each task to the thread's Shard.
import { workerData } from 'node:worker_threads';
import { nodeIO } from '../storage/io.js';
import { createLog } from '../log.js';
import type { Task } from './protocol.js';
import { ReplayThread } from './replay-thread.js';
import { Shard, type ShardOptions } from './shard.js';

const options = workerData as ShardOptions;
const shard = new Shard(options, nodeIO, createLog(options.logLevel ?? 'info', { shard: options.index }), true, (limits, part, parts) =>
  new ReplayThread(limits, part, parts, undefined, options.youngGenerationMb),
);
// Recover at once: when piscina replaces a thread that died, the new one is whole before its first task.
shard.open();
// Then the id indexes recovery left for later, a few milliseconds at a time so tasks get in between.
const INDEX_STEP_MS = 2;
const indexIds = (): void => {
  if (shard.indexIds(INDEX_STEP_MS)) setImmediate(indexIds);
};
setImmediate(indexIds);

export default function handle(task: Task) {
  // Tests only (TEST_HOOKS): end this thread as a crash would.
  if (options.testHooks && (task as { op: string }).op === 'testDie') process.exit(70);
  return shard.handle(task);
}
