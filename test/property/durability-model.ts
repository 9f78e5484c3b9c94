// The model behind durability.property.test.ts: the history of state changes sent to a shard, and
// the state any prefix of that history leads to. After a crash, the recovered state must be the
// state of some prefix that contains every acknowledged change (the log is replayed in order; what
// survives past the last acknowledgement is allowed, never required).
import type { AlertRule } from '../../src/engine/alerts.js';

export const DEVICES = ['d0', 'd1', 'd2'] as const;
export const METRICS = ['cpu', 'mem'] as const;
export const TAGS = ['a', 'b', 'c'] as const;

export interface DEvent {
  device: string;
  id: string;
  ts: number;
  metrics: [string, number][];
  tags: string[];
}

export type Change = { kind: 'events'; events: DEvent[] } | { kind: 'add'; rule: AlertRule } | { kind: 'remove'; id: number };

export class DState {
  /** device \0 id -> the stored event (the first accepted one with that key). */
  readonly events = new Map<string, DEvent>();
  readonly rules = new Map<number, AlertRule>();

  /** Applies one change; for events, returns the statuses the engine must answer (0 stored, 1 duplicate). */
  apply(c: Change): number[] | boolean {
    switch (c.kind) {
      case 'events':
        return c.events.map((e) => {
          const k = key(e.device, e.id);
          if (this.events.has(k)) return 1;
          this.events.set(k, e);
          return 0;
        });
      case 'add':
        this.rules.set(c.rule.id, c.rule);
        return true;
      case 'remove':
        return this.rules.delete(c.id);
    }
  }

  static of(changes: readonly Change[], n: number): DState {
    const s = new DState();
    for (let i = 0; i < n; i++) s.apply(changes[i]!);
    return s;
  }

  /** A canonical text of the state, to compare. */
  canonical(): string {
    const events = [...this.events.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => canonicalEvent(e));
    const rules = [...this.rules.values()].sort((a, b) => a.id - b.id).map(canonicalRule);
    return JSON.stringify({ events, rules });
  }
}

export const key = (device: string, id: string): string => `${device}\u0000${id}`;

export function canonicalEvent(e: DEvent): unknown {
  const tags: string[] = [];
  for (const t of e.tags) if (!tags.includes(t)) tags.push(t);
  return { device: e.device, id: e.id, ts: e.ts, metrics: [...e.metrics].sort(([a], [b]) => (a < b ? -1 : 1)), tags };
}

export function canonicalRule(r: AlertRule): unknown {
  const out: Record<string, unknown> = { id: r.id, device_id: r.device_id, metric: r.metric, op: r.op, threshold: r.threshold };
  if (r.callback_url !== undefined) out.callback_url = r.callback_url;
  return out;
}

/** An event as the shard answers it (recent), back in model form. */
export function fromJson(j: { event_id: string; device_id: string; timeStamp: string; metrics: Record<string, number>; tags: string[] }): DEvent {
  return { device: j.device_id, id: j.event_id, ts: Date.parse(j.timeStamp), metrics: Object.entries(j.metrics), tags: j.tags };
}

export interface Bucket {
  start: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** count/sum/min/max of one metric over all events, bucketed by interval. */
export function modelBuckets(state: DState, metric: string, intervalMs: number): Bucket[] {
  const by = new Map<number, Bucket>();
  for (const e of state.events.values()) {
    for (const [name, v] of e.metrics) {
      if (name !== metric) continue;
      const start = Math.floor(e.ts / intervalMs) * intervalMs;
      const b = by.get(start);
      if (!b) by.set(start, { start, count: 1, sum: v, min: v, max: v });
      else {
        b.count++;
        b.sum += v;
        b.min = Math.min(b.min, v);
        b.max = Math.max(b.max, v);
      }
    }
  }
  return [...by.values()].sort((a, b) => a.start - b.start);
}
