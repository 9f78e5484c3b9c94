// One shard: the actor that owns a ShardEngine and (from the durability work on) its log. Every task
// for the devices this shard owns arrives here, one at a time, on the shard's own thread.
// Plain class: tests drive it without threads.
import type { FiredAlert } from '../engine/alerts.js';
import { ShardEngine, type EngineLimits } from '../engine/engine.js';
import { ApiError, toWire } from '../errors.js';
import { unpackBatch, type EventBatch, type IngestResult, type Reply, type ResultOf, type Task } from './protocol.js';

export interface ShardOptions {
  index: number;
  limits: EngineLimits;
}

export class Shard {
  readonly engine: ShardEngine;

  constructor(readonly options: ShardOptions) {
    this.engine = new ShardEngine(options.limits);
  }

  /** Applies a batch of events, in order: the one path by which events change the shard's state. */
  applyBatch(batch: EventBatch): IngestResult {
    const n = batch.eventIds.length;
    const statuses = new Uint8Array(n);
    const alerts: FiredAlert[] = [];
    const { deviceIds, eventIds, ts, metricEnds, metricNames, metricValues, tagEnds, tags } = batch;
    let m = 0;
    let t = 0;
    for (let i = 0; i < n; i++) {
      const mEnd = metricEnds[i]!;
      const tEnd = tagEnds[i]!;
      statuses[i] = this.engine.ingest(deviceIds[i]!, eventIds[i]!, ts[i]!, metricNames, metricValues, m, mEnd, tags, t, tEnd, alerts);
      m = mEnd;
      t = tEnd;
    }
    return { statuses, alerts };
  }

  handle(task: Task): Reply<ResultOf[Task['op']]> {
    try {
      return { ok: true, value: this.dispatch(task) };
    } catch (e) {
      if (e instanceof ApiError) return { ok: false, error: toWire(e) };
      throw e;
    }
  }

  private dispatch(task: Task): ResultOf[Task['op']] {
    const engine = this.engine;
    switch (task.op) {
      case 'ingest':
        return this.applyBatch(unpackBatch(task.batch));
      case 'recent':
        return engine.recentJson(task.deviceId, task.fromMs, task.toMs, task.limit);
      case 'aggregate':
        return engine.aggregate(task.metric, task.deviceId, task.fromMs, task.toMs, task.intervalMs, task.maxBuckets);
      case 'search':
        return engine.search(task.tags, task.fromMs, task.toMs, task.limit);
      case 'addRule':
        engine.rules.add(task.rule);
        return true;
      case 'removeRule':
        return engine.rules.remove(task.id);
      case 'listRules':
        return engine.rules.list();
      case 'stats':
        return engine.stats();
    }
  }
}
