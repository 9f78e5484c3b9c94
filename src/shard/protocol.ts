// The only definition of what crosses the thread boundary between the HTTP front and a shard.
//
// Events travel columnar, one batch per shard per request (never one message per event), packed with
// msgpack into an ArrayBuffer that is transferred, not cloned:
//   deviceIds[i], eventIds[i], ts[i]                      for event i
//   metricNames/metricValues[metricEnds[i-1] .. metricEnds[i])   its metrics
//   tags[tagEnds[i-1] .. tagEnds[i])                      its tags
// Everything else is a small task object, structured-cloned; replies are { ok, value } or
// { ok: false, error } with a WireError, because classes do not survive the boundary.
import { z } from 'zod';
import type { AlertRule, FiredAlert } from '../engine/alerts.js';
import type { Buckets } from '../engine/buckets.js';
import type { EngineStats, SearchHits } from '../engine/engine.js';
import type { WireError } from '../errors.js';
import { packToArrayBuffer, unpack } from '../codec/msgpack.js';
import type { RecoveryReport, StoreCounters } from '../storage/store.js';

export interface EventBatch {
  deviceIds: string[];
  eventIds: string[];
  ts: Float64Array;
  metricEnds: Uint32Array;
  metricNames: string[];
  metricValues: Float64Array;
  tagEnds: Uint32Array;
  tags: string[];
}

/** Accumulates events for one shard; `finish()` packs them for transfer. */
export class BatchBuilder {
  readonly deviceIds: string[] = [];
  readonly eventIds: string[] = [];
  /** Position of each event in the request, to put the shard's answers back in order. */
  readonly positions: number[] = [];
  private readonly ts: number[] = [];
  private readonly metricEnds: number[] = [];
  private readonly metricNames: string[] = [];
  private readonly metricValues: number[] = [];
  private readonly tagEnds: number[] = [];
  private readonly tags: string[] = [];

  get length(): number {
    return this.deviceIds.length;
  }

  add(position: number, deviceId: string, eventId: string, ts: number, metrics: Record<string, number>, tags: readonly string[]): void {
    this.positions.push(position);
    this.deviceIds.push(deviceId);
    this.eventIds.push(eventId);
    this.ts.push(ts);
    for (const name of Object.keys(metrics)) {
      this.metricNames.push(name);
      this.metricValues.push(metrics[name]!);
    }
    this.metricEnds.push(this.metricNames.length);
    for (const tag of tags) this.tags.push(tag);
    this.tagEnds.push(this.tags.length);
  }

  build(): EventBatch {
    return {
      deviceIds: this.deviceIds,
      eventIds: this.eventIds,
      ts: Float64Array.from(this.ts),
      metricEnds: Uint32Array.from(this.metricEnds),
      metricNames: this.metricNames,
      metricValues: Float64Array.from(this.metricValues),
      tagEnds: Uint32Array.from(this.tagEnds),
      tags: this.tags,
    };
  }

  finish(): ArrayBuffer {
    return packToArrayBuffer(this.build());
  }
}

/** The events of batch whose keep[i] is true, as a batch of their own. */
export function subsetBatch(batch: EventBatch, keep: (i: number) => boolean): EventBatch {
  const out: EventBatch = { deviceIds: [], eventIds: [], ts: new Float64Array(0), metricEnds: new Uint32Array(0), metricNames: [], metricValues: new Float64Array(0), tagEnds: new Uint32Array(0), tags: [] };
  const ts: number[] = [];
  const metricEnds: number[] = [];
  const metricValues: number[] = [];
  const tagEnds: number[] = [];
  let m = 0;
  let t = 0;
  for (let i = 0; i < batch.eventIds.length; i++) {
    const mEnd = batch.metricEnds[i]!;
    const tEnd = batch.tagEnds[i]!;
    if (keep(i)) {
      out.deviceIds.push(batch.deviceIds[i]!);
      out.eventIds.push(batch.eventIds[i]!);
      ts.push(batch.ts[i]!);
      for (let k = m; k < mEnd; k++) {
        out.metricNames.push(batch.metricNames[k]!);
        metricValues.push(batch.metricValues[k]!);
      }
      metricEnds.push(out.metricNames.length);
      for (let k = t; k < tEnd; k++) out.tags.push(batch.tags[k]!);
      tagEnds.push(out.tags.length);
    }
    m = mEnd;
    t = tEnd;
  }
  out.ts = Float64Array.from(ts);
  out.metricEnds = Uint32Array.from(metricEnds);
  out.metricValues = Float64Array.from(metricValues);
  out.tagEnds = Uint32Array.from(tagEnds);
  return out;
}

export function unpackBatch(buf: ArrayBuffer): EventBatch {
  return unpack(buf) as EventBatch;
}

/** Epoch ms, or ±Infinity for an unbounded range end. */
const time = z.custom<number>((v) => typeof v === 'number' && !Number.isNaN(v), 'a time in ms or ±Infinity');

export const TaskSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('ingest'), batch: z.instanceof(ArrayBuffer) }),
  z.object({ op: z.literal('recent'), deviceId: z.string(), fromMs: time, toMs: time, limit: z.number().int() }),
  z.object({
    op: z.literal('aggregate'),
    metric: z.string(),
    deviceId: z.string().optional(),
    fromMs: time,
    toMs: time,
    intervalMs: z.number().positive(),
    maxBuckets: z.number().int(),
  }),
  z.object({ op: z.literal('search'), tags: z.array(z.string()), fromMs: time, toMs: time, limit: z.number().int() }),
  z.object({
    op: z.literal('addRule'),
    rule: z.object({
      id: z.number().int(),
      device_id: z.string(),
      metric: z.string(),
      op: z.enum(['>', '<', '>=', '<=', '==', '!=']),
      threshold: z.number(),
      callback_url: z.string().optional(),
    }),
  }),
  z.object({ op: z.literal('removeRule'), id: z.number().int() }),
  z.object({ op: z.literal('listRules') }),
  z.object({ op: z.literal('stats') }),
  z.object({ op: z.literal('open') }),
  z.object({ op: z.literal('close') }),
]);
export type Task = z.infer<typeof TaskSchema>;
export type TaskOf<K extends Task['op']> = Extract<Task, { op: K }>;

/** Per event of an ingest batch: 0 stored, 1 duplicate (the engine's IngestStatus). */
export interface IngestResult {
  statuses: Uint8Array;
  alerts: FiredAlert[];
}

export interface ResultOf {
  ingest: IngestResult;
  recent: string;
  aggregate: Buckets;
  search: SearchHits;
  addRule: true;
  removeRule: boolean;
  listRules: AlertRule[];
  stats: ShardStats;
  open: RecoveryReport;
  close: true;
}

export interface ShardStats {
  engine: EngineStats;
  store: StoreCounters | null;
  failed: string | null;
}

export type Reply<T> = { ok: true; value: T } | { ok: false; error: WireError };
