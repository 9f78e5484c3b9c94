// Glue between the generated scenarios, the engine and the model.
import { expect } from 'vitest';
import type { FiredAlert } from '../../src/engine/alerts.js';
import type { Buckets } from '../../src/engine/buckets.js';
import type { SearchHits, ShardEngine } from '../../src/engine/engine.js';
import { BatchBuilder, type EventBatch } from '../../src/shard/protocol.js';
import { idColumn } from '../../src/codec/id-column.js';
import { DEVICES, INTERVALS, METRICS, TAGS } from './arbitraries.js';
import { bucketRows, eventToJson, type ModelBucket, type ModelEvent } from './model.js';

/** One engine.ingest call for a model event; fired alerts go to `alerts` when given. */
export function ingestInto(engine: ShardEngine, e: ModelEvent, alerts?: FiredAlert[]): number {
  const names = e.metrics.map(([n]) => n);
  const values = Float64Array.from(e.metrics.map(([, v]) => v));
  const id = idColumn([e.id]);
  // The engine takes names as indexes into a list of strings, as an event batch holds them.
  const strings = [...names, ...e.tags];
  const nameRefs = Uint32Array.from(names.keys());
  const tagRefs = Uint32Array.from(e.tags, (_, k) => names.length + k);
  return engine.ingest(e.device, id.chars, 0, id.chars.length, e.ts, strings, nameRefs, values, 0, names.length, tagRefs, 0, e.tags.length, alerts);
}

export function buildBatch(events: readonly ModelEvent[]): EventBatch {
  const b = new BatchBuilder();
  events.forEach((e, i) => {
    const metrics: Record<string, number> = {};
    for (const [n, v] of e.metrics) metrics[n] = v;
    b.add(i, e.device, e.id, e.ts, metrics, e.tags);
  });
  return b.build();
}

export function sumClose(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-9 * Math.max(Math.abs(actual), Math.abs(expected)) + 1e-9;
}

/** count/min/max/start exactly, sum within a relative tolerance. */
export function expectBucketsMatch(actual: ModelBucket[], expected: ModelBucket[], context: unknown): void {
  const exact = (rows: ModelBucket[]) => rows.map(({ start, count, min, max }) => ({ start, count, min, max }));
  expect(exact(actual), JSON.stringify(context)).toEqual(exact(expected));
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!.sum;
    const x = expected[i]!.sum;
    if (!sumClose(a, x)) expect.fail(`sum of bucket ${expected[i]!.start}: got ${a}, expected ${x} (${JSON.stringify(context)})`);
  }
}

export function expectEngineBucketsMatch(actual: Buckets, expected: ModelBucket[], context: unknown): void {
  expectBucketsMatch(bucketRows(actual), expected, context);
}

/** Search hits as comparable rows (json parsed). */
export function hitRows(h: SearchHits): { ts: number; device: string; id: string; json: unknown }[] {
  expect(h.deviceIds.length).toBe(h.ts.length);
  expect(h.eventIds.length).toBe(h.ts.length);
  expect(h.json.length).toBe(h.ts.length);
  return h.ts.map((ts, i) => ({ ts, device: h.deviceIds[i]!, id: h.eventIds[i]!, json: JSON.parse(h.json[i]!) }));
}

export function modelHitRows(events: ModelEvent[]): { ts: number; device: string; id: string; json: unknown }[] {
  return events.map((e) => ({ ts: e.ts, device: e.device, id: e.id, json: eventToJson(e) }));
}

/** Alerts sorted by rule id (the order of rules within one event is not part of the contract). */
export function byAlertId(alerts: readonly FiredAlert[]): FiredAlert[] {
  return [...alerts].sort((a, b) => a.alert_id - b.alert_id);
}

/** A display form of a value that keeps -Infinity/Infinity readable in failure messages. */
export function show(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
}

/** Every query answer of an engine, for comparing two engines. */
export function allAnswers(engine: ShardEngine): unknown {
  const out: Record<string, unknown> = {};
  const ranges: [number, number][] = [
    [-Infinity, Infinity],
    [Date.UTC(2025, 0, 15, 10, 0, 30), Date.UTC(2025, 0, 15, 10, 4, 30)],
    [Date.UTC(2025, 0, 15, 10, 1, 0), Date.UTC(2025, 0, 15, 10, 3, 0) - 1],
  ];
  for (const d of [...DEVICES]) {
    for (const [from, to] of ranges) {
      out[`recent ${d} ${from} ${to}`] = JSON.parse(engine.recentJson(d, from, to, 1e9));
      out[`recent3 ${d} ${from} ${to}`] = JSON.parse(engine.recentJson(d, from, to, 3));
    }
  }
  for (const metric of METRICS) {
    for (const device of [undefined, ...DEVICES]) {
      for (const interval of INTERVALS) {
        for (const [from, to] of ranges) out[`agg ${metric} ${device} ${interval} ${from} ${to}`] = bucketRows(engine.aggregate(metric, device, from, to, interval, 1e9));
      }
    }
  }
  const tagSets = [...TAGS.map((t) => [t]), ['x', 'y'], ['y', 'z', TAGS[3]]];
  for (const tags of tagSets) {
    for (const [from, to] of ranges) out[`search ${tags.join('+')} ${from} ${to}`] = hitRows(engine.search(tags, from, to, 1e9));
  }
  return out;
}

export function expectSameAnswers(a: unknown, b: unknown): void {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  expect(Object.keys(ra)).toEqual(Object.keys(rb));
  for (const k of Object.keys(ra)) {
    if (k.startsWith('agg ')) expectBucketsMatch(ra[k] as never, rb[k] as never, k);
    else expect(ra[k], k).toEqual(rb[k]);
  }
}

