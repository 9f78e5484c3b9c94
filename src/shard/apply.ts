// The one path by which events change a shard's state, live or replayed.
import type { FiredAlert } from '../engine/alerts.js';
import type { ShardEngine } from '../engine/engine.js';
import type { EventBatch } from './protocol.js';

/**
 * Applies a batch's events to the engine in batch order, or only those listed in `order` (event
 * numbers) in that order; each applied event's status lands at its number. Fired alerts are
 * appended to `alerts` (none are evaluated without it).
 */
export function applyEvents(engine: ShardEngine, batch: EventBatch, alerts: FiredAlert[] | undefined, order?: Uint32Array): Uint8Array {
  const n = batch.eventIds.length;
  const statuses = new Uint8Array(n);
  const { deviceIds, eventIds, ts, metricEnds, metricNames, metricValues, tagEnds, tags } = batch;
  const count = order === undefined ? n : order.length;
  for (let k = 0; k < count; k++) {
    const i = order === undefined ? k : order[k]!;
    const m = i === 0 ? 0 : metricEnds[i - 1]!;
    const t = i === 0 ? 0 : tagEnds[i - 1]!;
    statuses[i] = engine.ingest(deviceIds[i]!, eventIds[i]!, ts[i]!, metricNames, metricValues, m, metricEnds[i]!, tags, t, tagEnds[i]!, alerts);
  }
  return statuses;
}
