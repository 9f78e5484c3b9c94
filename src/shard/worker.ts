// The piscina entry of a shard thread: a few lines that hand each task to the thread's Shard.
import { workerData } from 'node:worker_threads';
import { nodeIO } from '../storage/io.js';
import type { Logger } from '../storage/store.js';
import type { Task } from './protocol.js';
import { Shard, type ShardOptions } from './shard.js';

const options = workerData as ShardOptions;
const log: Logger = (level, msg, fields = {}) => {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, shard: options.index, ...fields }) + '\n';
  (level === 'error' ? process.stderr : process.stdout).write(line);
};
const shard = new Shard(options, nodeIO, log);

export default function handle(task: Task) {
  return shard.handle(task);
}
