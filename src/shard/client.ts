// The front's handle on the shards: one piscina pool of exactly one thread per shard, so every task
// for a device runs on the thread that owns it (piscina's balancer would otherwise spread a shard's
// tasks over threads). Routes single-device tasks by hash, scatters cross-device ones to all shards.
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { ApiError, fromWire } from '../errors.js';
import { BatchSlab } from './batch-slab.js';
import { encodePacked, type EventBatch, type IngestResult, type Reply, type ResultOf, type Task, type TaskOf } from './protocol.js';
import type { ShardOptions } from './shard.js';
import { shardOf } from './routing.js';

/**
 * Tasks one shard thread may hold at once (more wait in the front's queue). Many in hand means one
 * group commit (one fsync) answers many requests; never more than the queue bound, so a small
 * SHARD_QUEUE_MAX bounds the work a shard holds as a whole.
 */
const TASKS_IN_FLIGHT_PER_SHARD = 256;
/**
 * Each shard's slab of shared memory for batches on their way to it (shard/batch-slab.ts): room
 * for 128 batches of 1,000 events at once. Only the pages written to are ever resident.
 */
const BATCH_SLAB_BYTES = 16 * 1024 * 1024;

export interface ShardClientOptions {
  shards: number;
  /** Each task's time from sending to answer. */
  onTask?(op: string, seconds: number): void;
  /** Tasks that may wait for one shard; past it, 503 with Retry-After. */
  queueMax: number;
  /** A task refused because the shard's queue is full. */
  onOverload?(): void;
  /** A shard thread reported an uncaught error (it dies of it). */
  onThreadError?(shard: number, err: Error): void;
  /** A shard thread died (a bug, out of memory) and piscina started a new one, which recovers from disk. */
  onThreadReplaced?(shard: number): void;
  /** The options of shard `index` (its engine limits, its own storage directory). */
  shard(index: number): ShardOptions;
}

export class ShardClient {
  private readonly pools: Piscina[] = [];
  private readonly slabs: BatchSlab[] = [];
  /**
   * Set once close() began: the pools' end rejects the tasks in flight before their threads stop,
   * so a block whose task was rejected then may still be read, and is never handed out again.
   */
  private closing = false;

  constructor(readonly options: ShardClientOptions) {
    const filename = fileURLToPath(new URL('./worker.js', import.meta.url));
    for (let index = 0; index < options.shards; index++) {
      const slab = new BatchSlab(BATCH_SLAB_BYTES);
      this.slabs.push(slab);
      // A replacement thread gets the same workerData, so the same slab.
      const workerData: ShardOptions = { ...options.shard(index), batchSlab: slab.buffer };
      this.pools.push(
        new Piscina({
          filename,
          minThreads: 1,
          maxThreads: 1,
          // A shard keeps timers (fsync batching, snapshots); 'sync' atomics would pause its event loop between tasks.
          atomics: 'disabled',
          idleTimeout: Number.POSITIVE_INFINITY,
          concurrentTasksPerWorker: Math.min(TASKS_IN_FLIGHT_PER_SHARD, options.queueMax),
          maxQueue: options.queueMax,
          workerData,
          ...(workerData.youngGenerationMb ? { resourceLimits: { maxYoungGenerationSizeMb: workerData.youngGenerationMb } } : {}),
        }),
      );
      const pool = this.pools[index]!;
      pool.on('error', (err: Error) => options.onThreadError?.(index, err));
      // piscina says nothing else when a thread exits; every thread after the first is a replacement.
      let threads = 0;
      pool.on('workerCreate', () => {
        if (++threads > 1) options.onThreadReplaced?.(index);
      });
    }
  }

  get count(): number {
    return this.pools.length;
  }

  shardOf(deviceId: string): number {
    return this.pools.length === 1 ? 0 : shardOf(deviceId, this.pools.length);
  }

  async run<K extends Task['op']>(shard: number, task: TaskOf<K>, transferList?: ArrayBuffer[]): Promise<ResultOf[K]> {
    let reply: Reply<ResultOf[K]>;
    const started = performance.now();
    try {
      reply = (await this.pools[shard]!.run(task, transferList ? { transferList } : {})) as Reply<ResultOf[K]>;
      // A batch is an ingest task however it travelled (in the slab or in a buffer of its own).
      this.options.onTask?.(task.op === 'ingestShared' ? 'ingest' : task.op, (performance.now() - started) / 1000);
    } catch (e) {
      // piscina's errors carry no code: its full queue is known by its message.
      if ((e as Error).message === 'Task queue is at limit') {
        this.options.onOverload?.();
        throw new ApiError('OVERLOADED', `shard ${shard} has ${this.options.queueMax} tasks waiting; retry shortly`, undefined, { 'Retry-After': '1' });
      }
      throw new ApiError('SHARD_UNAVAILABLE', `shard ${shard} failed: ${(e as Error).message}`, undefined, { 'Retry-After': '1' });
    }
    if (!reply.ok) throw fromWire(reply.error);
    return reply.value;
  }

  /**
   * Stores a batch on a shard: written into a block of the shard's slab, which is given back when
   * the answer is in (the shard is done with it by then, whether it stored the batch or failed),
   * or, with no block free, transferred in a buffer of its own.
   */
  async ingest(shard: number, batch: EventBatch): Promise<IngestResult> {
    const slab = this.slabs[shard]!;
    let at = -1;
    const bytes = encodePacked(batch, (size) => {
      at = this.closing ? -1 : slab.take(size);
      return at < 0 ? Buffer.allocUnsafeSlow(size) : Buffer.from(slab.buffer, at, size);
    });
    if (at < 0) return this.run<'ingest'>(shard, { op: 'ingest', batch: bytes.buffer as ArrayBuffer }, [bytes.buffer as ArrayBuffer]);
    try {
      return await this.run<'ingestShared'>(shard, { op: 'ingestShared', at, bytes: bytes.length });
    } finally {
      if (!this.closing) slab.give(at, bytes.length);
    }
  }

  /**
   * The same task on every shard; answers in shard order. A failure is thrown only once every shard
   * has answered, so a caller that goes on (a shutdown ending the threads, say) never cuts off a
   * shard still at work on the task.
   */
  async all<K extends Task['op']>(task: TaskOf<K>): Promise<ResultOf[K][]> {
    const outcomes = await Promise.allSettled(this.pools.map((_, i) => this.run<K>(i, task)));
    return outcomes.map((o) => {
      if (o.status === 'rejected') throw o.reason;
      return o.value;
    });
  }

  /** Tasks waiting in the front for each shard's thread. */
  queueDepths(): number[] {
    return this.pools.map((p) => p.queueSize);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.pools.map((p) => p.destroy()));
  }
}
