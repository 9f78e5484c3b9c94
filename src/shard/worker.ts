// The piscina entry of a shard thread: a few lines that hand each task to the thread's Shard.
import { workerData } from 'node:worker_threads';
import type { ShardOptions } from './shard.js';
import { Shard } from './shard.js';
import type { Task } from './protocol.js';

const shard = new Shard(workerData as ShardOptions);

export default function handle(task: Task) {
  return shard.handle(task);
}
