// The piscina entry of a shard thread: a few lines that hand each task to the thread's Shard.
import { workerData } from 'node:worker_threads';
import { nodeIO } from '../storage/io.js';
import { createLog } from '../log.js';
import type { Task } from './protocol.js';
import { Shard, type ShardOptions } from './shard.js';

const options = workerData as ShardOptions;
const shard = new Shard(options, nodeIO, createLog(options.logLevel ?? 'info', { shard: options.index }), true);

export default function handle(task: Task) {
  return shard.handle(task);
}
