// Small domains, so that collisions, duplicates, equal times, late events and ring eviction happen.
import fc from 'fast-check';
import type { AlertOp, AlertRule } from '../../src/engine/alerts.js';
import type { EngineLimits } from '../../src/engine/engine.js';
import type { ModelEvent } from './model.js';

export const BASE = Date.UTC(2025, 0, 15, 10, 0, 0);
export const MINUTE = 60_000;
export const DEVICES = ['d0', 'd1', 'D', 'd10'] as const;
// 'e10' < 'e2' and 'Z' < 'a': string order, not numeric order, breaks (ts, id) ties.
export const EVENT_IDS = ['a', 'b', 'e1', 'e10', 'e2', 'Z', 'ab', 'c'] as const;
export const METRICS = ['a', 'b', 'c'] as const;
export const TAGS = ['x', 'y', 'z', 'w'] as const;
export const OPS: readonly AlertOp[] = ['>', '<', '>=', '<=', '==', '!='];

export const limitsArb: fc.Arbitrary<EngineLimits> = fc.record({
  ringCapacity: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 15, max: 40 }) }),
  rawRetentionMs: fc.oneof(
    fc.constantFrom(MINUTE, 2 * MINUTE, 3 * MINUTE, 5 * MINUTE),
    fc.integer({ min: 30_000, max: 6 * MINUTE }),
  ),
  rollupRetentionMs: fc.oneof(
    fc.integer({ min: 10, max: 60 }).map((m) => m * MINUTE),
    fc.integer({ min: 10 * MINUTE, max: 60 * MINUTE }),
  ),
});

/** Big limits: nothing ages out of raw or rollups, nothing evicted by capacity. */
export const bigLimits: EngineLimits = { ringCapacity: 100_000, rawRetentionMs: 1e12, rollupRetentionMs: 1e12 };

export const tsArb: fc.Arbitrary<number> = fc.oneof(
  // a few minutes, second granularity
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 8 * 60 }).map((s) => BASE + s * 1000) },
  // a handful of times: equal timestamps, minute edges
  { weight: 3, arbitrary: fc.constantFrom(BASE, BASE + 1000, BASE + MINUTE - 1, BASE + MINUTE, BASE + 2 * MINUTE + 500) },
  // millisecond granularity
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 8 * MINUTE }).map((ms) => BASE + ms) },
  // big jumps forwards and backwards (hours; a day)
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 30 }).map((k) => BASE + k * 20 * MINUTE + 7_000) },
  { weight: 1, arbitrary: fc.constantFrom(BASE - 86_400_000, BASE + 86_400_000 + 1234) },
);

export const valueArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 5 }) },
  { weight: 1, arbitrary: fc.constantFrom(0.1, 0.25, -1.5, 2.5, 1e6, 123.456) },
);

export const metricsArb: fc.Arbitrary<[string, number][]> = fc
  .uniqueArray(fc.constantFrom(...METRICS), { maxLength: 3 })
  .chain((names) => fc.tuple(...names.map(() => valueArb)).map((vals) => names.map((n, i): [string, number] => [n, vals[i]!])));

export const tagsArb: fc.Arbitrary<string[]> = fc.array(fc.constantFrom(...TAGS), { maxLength: 4 });

export function eventArb(devices: readonly string[]): fc.Arbitrary<ModelEvent> {
  return fc.record({
    device: fc.constantFrom(...devices),
    id: fc.constantFrom(...EVENT_IDS),
    ts: tsArb,
    metrics: metricsArb,
    tags: tagsArb,
  });
}

export const deviceSetArb: fc.Arbitrary<string[]> = fc.integer({ min: 1, max: DEVICES.length }).map((n) => DEVICES.slice(0, n));

/** A sequence of events; some are exact repeats of earlier ones (same key, same payload). */
export function eventsArb(devices: readonly string[], maxLength = 50): fc.Arbitrary<ModelEvent[]> {
  const step = fc.oneof(
    { weight: 5, arbitrary: eventArb(devices).map((e) => ({ e, r: -1 })) },
    { weight: 1, arbitrary: fc.nat().map((r) => ({ e: undefined, r })) },
  );
  return fc.array(step, { maxLength }).map((steps) => {
    const out: ModelEvent[] = [];
    for (const s of steps) {
      if (s.e !== undefined) out.push(s.e);
      else if (out.length > 0) out.push(out[s.r % out.length]!);
    }
    return out;
  });
}

/** A scenario: limits, devices, and the events to ingest. */
export const scenarioArb = fc
  .tuple(limitsArb, deviceSetArb)
  .chain(([limits, devices]) => eventsArb(devices).map((events) => ({ limits, devices, events })));

/** A query time bound: unbounded, anywhere near the data, or on / beside a minute edge. */
export const boundArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(-Infinity, Infinity) },
  { weight: 4, arbitrary: fc.integer({ min: -2 * 60 * 60, max: 10 * 60 * 60 }).map((s) => BASE + s * 1000) },
  { weight: 3, arbitrary: fc.integer({ min: -1 * MINUTE, max: 10 * MINUTE }).map((ms) => BASE + ms) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.integer({ min: -5, max: 12 }), fc.constantFrom(-1, 0, 1))
      .map(([m, d]) => BASE + m * MINUTE + d),
  },
);

export const rangeArb: fc.Arbitrary<[number, number]> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<[number, number]>([-Infinity, Infinity]) },
  // mostly ordered; sometimes from > to (empty answer)
  { weight: 6, arbitrary: fc.tuple(boundArb, boundArb).map(([a, b]): [number, number] => (a <= b ? [a, b] : [b, a])) },
  { weight: 1, arbitrary: fc.tuple(boundArb, boundArb) },
);

export const limitArb: fc.Arbitrary<number> = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant(10_000));

export const INTERVALS = [10_000, MINUTE, 5 * MINUTE, 60 * MINUTE, 24 * 60 * MINUTE, 90_000] as const;

export const intervalArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...INTERVALS) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 600 }).map((s) => s * 1000) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 30 }).map((m) => m * MINUTE) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 100_000 }) },
);

export function ruleArb(devices: readonly string[]): fc.Arbitrary<AlertRule> {
  return fc.record({
    id: fc.integer({ min: 1, max: 4 }),
    device_id: fc.constantFrom(...devices),
    metric: fc.constantFrom(...METRICS, 'q'),
    op: fc.constantFrom(...OPS),
    threshold: valueArb,
  });
}
