// A naive reference model of ShardEngine: per device, the list of every accepted event in arrival
// order; every answer is recomputed from that list with filter/sort. Nothing incremental, nothing
// clever, so it can be checked by reading.
import type { AlertOp, AlertRule, FiredAlert } from '../../src/engine/alerts.js';
import type { Buckets } from '../../src/engine/buckets.js';
import type { EngineLimits } from '../../src/engine/engine.js';

export interface ModelEvent {
  device: string;
  id: string;
  ts: number;
  /** [name, value] in the order the event carries them (names unique). */
  metrics: [string, number][];
  /** As sent: may repeat a tag. */
  tags: string[];
}

export interface RecentEventJson {
  event_id: string;
  device_id: string;
  timeStamp: string;
  metrics: Record<string, number>;
  tags: string[];
}

export const MODEL_STORED = 0;
export const MODEL_DUPLICATE = 1;

const MINUTE = 60_000;
export const minuteStart = (ts: number): number => Math.floor(ts / MINUTE) * MINUTE;

/** (ts, id) ascending. */
export function compareKeyAsc(a: ModelEvent, b: ModelEvent): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  if (a.id < b.id) return -1;
  if (a.id > b.id) return 1;
  return 0;
}

/** Newest first across devices: (ts desc, device desc, id desc). */
export function compareHitDesc(a: ModelEvent, b: ModelEvent): number {
  if (a.ts !== b.ts) return b.ts - a.ts;
  if (a.device !== b.device) return a.device < b.device ? 1 : -1;
  if (a.id !== b.id) return a.id < b.id ? 1 : -1;
  return 0;
}

export function uniqueTags(tags: readonly string[]): string[] {
  const out: string[] = [];
  for (const t of tags) if (!out.includes(t)) out.push(t);
  return out;
}

export function modelSatisfies(op: AlertOp, v: number, th: number): boolean {
  if (op === '>') return v > th;
  if (op === '<') return v < th;
  if (op === '>=') return v >= th;
  if (op === '<=') return v <= th;
  if (op === '==') return v === th;
  return v !== th;
}

export function eventToJson(e: ModelEvent): RecentEventJson {
  const metrics: Record<string, number> = {};
  for (const [name, value] of e.metrics) Object.defineProperty(metrics, name, { value, enumerable: true, writable: true, configurable: true });
  return {
    event_id: e.id,
    device_id: e.device,
    timeStamp: new Date(e.ts).toISOString(),
    metrics,
    tags: uniqueTags(e.tags),
  };
}

export interface ModelBucket {
  start: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

export class Model {
  /** device -> every accepted (STORED) event, in arrival order. */
  readonly accepted = new Map<string, ModelEvent[]>();
  /** Rules by id (a re-added id replaces the old rule). */
  readonly rules = new Map<number, AlertRule>();

  constructor(readonly limits: EngineLimits) {}

  addRule(rule: AlertRule): void {
    this.rules.delete(rule.id);
    this.rules.set(rule.id, rule);
  }

  removeRule(id: number): boolean {
    return this.rules.delete(id);
  }

  devices(): string[] {
    return [...this.accepted.keys()];
  }

  /** Newest accepted event time of a device (-Infinity if none). */
  newest(device: string): number {
    let t = -Infinity;
    for (const e of this.accepted.get(device) ?? []) if (e.ts > t) t = e.ts;
    return t;
  }

  /** The raw events held for a device, ascending by (ts, id). */
  held(device: string): ModelEvent[] {
    const all = this.accepted.get(device) ?? [];
    const T = this.newest(device);
    const eligible = all.filter((e) => e.ts >= T - this.limits.rawRetentionMs);
    eligible.sort(compareKeyAsc);
    return eligible.slice(Math.max(0, eligible.length - this.limits.ringCapacity));
  }

  /** Accepted events of a device that the minute rollups still count. */
  inRollups(device: string): ModelEvent[] {
    const horizon = minuteStart(this.newest(device) - this.limits.rollupRetentionMs);
    return (this.accepted.get(device) ?? []).filter((e) => minuteStart(e.ts) >= horizon);
  }

  ingest(e: ModelEvent): { status: number; alerts: FiredAlert[] } {
    const isDuplicate = this.held(e.device).some((h) => h.id === e.id);
    if (isDuplicate) return { status: MODEL_DUPLICATE, alerts: [] };
    let list = this.accepted.get(e.device);
    if (list === undefined) {
      list = [];
      this.accepted.set(e.device, list);
    }
    list.push(e);
    const alerts: FiredAlert[] = [];
    for (const rule of this.rules.values()) {
      if (rule.device_id !== e.device) continue;
      const m = e.metrics.find(([name]) => name === rule.metric);
      if (m === undefined) continue;
      if (!modelSatisfies(rule.op, m[1], rule.threshold)) continue;
      const fired: FiredAlert = {
        device_id: e.device,
        event_id: e.id,
        time: e.ts,
        metrics: e.metrics.map(([n, v]) => [n, v]),
        alert_id: rule.id,
        metric: rule.metric,
        op: rule.op,
        threshold: rule.threshold,
        value: m[1],
      };
      if (rule.callback_url !== undefined) fired.callback_url = rule.callback_url;
      alerts.push(fired);
    }
    return { status: MODEL_STORED, alerts };
  }

  recent(device: string, from: number, to: number, limit: number): RecentEventJson[] {
    return this.held(device)
      .filter((e) => from <= e.ts && e.ts <= to)
      .sort((a, b) => -compareKeyAsc(a, b))
      .slice(0, Math.max(0, limit))
      .map(eventToJson);
  }

  /** The samples (ts, value) of `metric` an aggregate over [from, to] sees for one device. */
  samples(device: string, metric: string, from: number, to: number, intervalMs: number): [number, number][] {
    const out: [number, number][] = [];
    const valueOf = (e: ModelEvent) => e.metrics.find(([n]) => n === metric)?.[1];
    const inRange = (ts: number) => from <= ts && ts <= to;
    if (intervalMs % MINUTE === 0) {
      const fullyInside = (minute: number) => minute >= from && minute + MINUTE - 1 <= to;
      for (const e of this.inRollups(device)) {
        const v = valueOf(e);
        if (v !== undefined && fullyInside(minuteStart(e.ts))) out.push([e.ts, v]);
      }
      for (const e of this.held(device)) {
        const v = valueOf(e);
        if (v !== undefined && inRange(e.ts) && !fullyInside(minuteStart(e.ts))) out.push([e.ts, v]);
      }
    } else {
      for (const e of this.held(device)) {
        const v = valueOf(e);
        if (v !== undefined && inRange(e.ts)) out.push([e.ts, v]);
      }
    }
    return out;
  }

  aggregate(metric: string, device: string | undefined, from: number, to: number, intervalMs: number): ModelBucket[] {
    const devices = device === undefined ? this.devices() : [device];
    const samples = devices.flatMap((d) => this.samples(d, metric, from, to, intervalMs));
    const starts = [...new Set(samples.map(([ts]) => Math.floor(ts / intervalMs) * intervalMs))].sort((a, b) => a - b);
    return starts.map((start) => {
      const values = samples.filter(([ts]) => Math.floor(ts / intervalMs) * intervalMs === start).map(([, v]) => v);
      return {
        start,
        count: values.length,
        sum: values.reduce((s, v) => s + v, 0),
        min: Math.min(...values),
        max: Math.max(...values),
      };
    });
  }

  search(tags: readonly string[], from: number, to: number, limit: number): ModelEvent[] {
    if (tags.length === 0) return [];
    return this.devices()
      .flatMap((d) => this.held(d))
      .filter((e) => from <= e.ts && e.ts <= to && tags.every((t) => e.tags.includes(t)))
      .sort(compareHitDesc)
      .slice(0, Math.max(0, limit));
  }
}

/** Columnar engine buckets -> rows, for comparison. */
export function bucketRows(b: Buckets): ModelBucket[] {
  return b.start.map((start, i) => ({ start, count: b.count[i]!, sum: b.sum[i]!, min: b.min[i]!, max: b.max[i]! }));
}
