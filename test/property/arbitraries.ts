// Small domains, so that collisions, duplicates, equal times, late events and ring eviction happen.
import fc from 'fast-check';
import type { AlertOp, AlertRule } from '../../src/engine/alerts.js';
import type { EngineLimits } from '../../src/engine/engine.js';
import type { ModelEvent } from './model.js';

export const BASE = Date.UTC(2025, 0, 15, 10, 0, 0);
export const MINUTE = 60_000;
export const DEVICES = ['d0', 'd1', 'D', 'd10'] as const;
// 'e10' < 'e2' and 'Z' < 'a': string order, not numeric order, breaks (ts, id) ties.
// 'é"' needs escaping in JSON and sorts after every ASCII id.
export const EVENT_IDS = ['a', 'b', 'e1', 'e10', 'e2', 'Z', 'ab', 'é"'] as const;
export const METRICS = ['a', 'b', 'c'] as const;
export const TAGS = ['x', 'y', 'z', 'w"\\'] as const;
export const OPS: readonly AlertOp[] = ['>', '<', '>=', '<=', '==', '!='];

// The service refuses ROLLUP_RETENTION_MS < RAW_RETENTION_MS (src/config.ts), so every generated
// configuration keeps rollups at least as long as raw events.
export const limitsArb: fc.Arbitrary<EngineLimits> = fc
  .record({
    ringCapacity: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: 15, max: 40 }) }),
    rawRetentionMs: fc.oneof(
      fc.constantFrom(MINUTE, 2 * MINUTE, 3 * MINUTE, 5 * MINUTE),
      fc.integer({ min: 30_000, max: 6 * MINUTE }),
      fc.constant(60 * MINUTE),
    ),
    rollupRetentionMs: fc.oneof(
      fc.integer({ min: 10, max: 30 }).map((m) => m * MINUTE),
      fc.integer({ min: 10 * MINUTE, max: 30 * MINUTE }),
      fc.integer({ min: 10 * MINUTE, max: 60 * MINUTE }),
    ),
  })
  .map((l) => ({ ...l, rollupRetentionMs: Math.max(l.rollupRetentionMs, l.rawRetentionMs) }));

/** Times in a few minutes: second and millisecond granularity, equal times, minute edges. */
const denseTsArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 8 * 60 }).map((s) => BASE + s * 1000) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 8 }).map((m) => BASE + m * MINUTE) },
  { weight: 2, arbitrary: fc.constantFrom(BASE + 1000, BASE + MINUTE - 1, BASE + 2 * MINUTE + 500) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 8 * MINUTE }).map((ms) => BASE + ms) },
);

/** Dense times plus jumps of up to an hour or so (rollup retention comes into play). */
const hourTsArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 5, arbitrary: denseTsArb },
  { weight: 1, arbitrary: fc.integer({ min: 8, max: 30 }).map((m) => BASE + m * MINUTE) },
  { weight: 1, arbitrary: fc.integer({ min: 8 * MINUTE, max: 30 * MINUTE }).map((ms) => BASE + ms) },
);

/** Dense times plus big jumps forwards and backwards (hours, a day). */
const jumpyTsArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 10, arbitrary: hourTsArb },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 30 }).map((k) => BASE + k * 20 * MINUTE + 7_000) },
  { weight: 1, arbitrary: fc.constantFrom(BASE - 86_400_000, BASE + 86_400_000 + 1234) },
);

/** Any time of any of the scenarios' kinds. */
export const tsArb: fc.Arbitrary<number> = jumpyTsArb;

/** One scenario's kind of times. */
export const tsKindArb: fc.Arbitrary<fc.Arbitrary<number>> = fc.constantFrom(denseTsArb, hourTsArb, hourTsArb, jumpyTsArb);

export const valueArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 5 }) },
  { weight: 1, arbitrary: fc.constantFrom(0.1, 0.25, -1.5, 2.5, 1e6, 123.456) },
);

export const metricsArb: fc.Arbitrary<[string, number][]> = fc
  .uniqueArray(fc.constantFrom(...METRICS), { maxLength: 3 })
  .chain((names) => fc.tuple(...names.map(() => valueArb)).map((vals) => names.map((n, i): [string, number] => [n, vals[i]!])));

export const tagsArb: fc.Arbitrary<string[]> = fc.array(fc.constantFrom(...TAGS), { maxLength: 4 });

/** A larger id pool, so that more than 16 events of a device can be held (the ring grows). */
export const MANY_EVENT_IDS: readonly string[] = [...EVENT_IDS, ...Array.from({ length: 40 }, (_, i) => `n${i}`)];

export function eventArb(devices: readonly string[], ids: readonly string[] = EVENT_IDS, ts: fc.Arbitrary<number> = tsArb): fc.Arbitrary<ModelEvent> {
  return fc.record({
    device: fc.constantFrom(...devices),
    id: fc.constantFrom(...ids),
    ts,
    metrics: metricsArb,
    tags: tagsArb,
  });
}

export const deviceSetArb: fc.Arbitrary<string[]> = fc.integer({ min: 1, max: DEVICES.length }).map((n) => DEVICES.slice(0, n));

/** A sequence of events; some are exact repeats of earlier ones (same key, same payload). */
export function eventsArb(
  devices: readonly string[],
  maxLength = 50,
  ids: readonly string[] = EVENT_IDS,
  ts: fc.Arbitrary<number> = tsArb,
): fc.Arbitrary<ModelEvent[]> {
  const step = fc.oneof(
    { weight: 5, arbitrary: eventArb(devices, ids, ts).map((e) => ({ e, r: -1 })) },
    { weight: 1, arbitrary: fc.nat().map((r) => ({ e: undefined, r })) },
  );
  return fc.array(step, { maxLength, size: 'max' }).map((steps) => {
    const out: ModelEvent[] = [];
    for (const s of steps) {
      if (s.e !== undefined) out.push(s.e);
      else if (out.length > 0) out.push(out[s.r % out.length]!);
    }
    return out;
  });
}

export const idPoolArb: fc.Arbitrary<readonly string[]> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(EVENT_IDS) },
  { weight: 1, arbitrary: fc.constant(MANY_EVENT_IDS) },
);

/** Limits, devices, id pool and kind of times of one scenario. */
export const worldArb = fc.record({ limits: limitsArb, devices: deviceSetArb, ids: idPoolArb, ts: tsKindArb });

const generalScenarioArb = worldArb.chain(({ limits, devices, ids, ts }) =>
  eventsArb(devices, 50, ids, ts).map((events) => ({ limits, devices, events })),
);

/** Big rings, long raw retention, many ids, one or two devices: rings fill past their first allocation. */
const growthScenarioArb = fc
  .tuple(
    fc.record({
      ringCapacity: fc.integer({ min: 17, max: 40 }),
      rawRetentionMs: fc.oneof(fc.integer({ min: 5 * MINUTE, max: 15 * MINUTE }), fc.constantFrom(30 * MINUTE, 60 * MINUTE)),
      rollupRetentionMs: fc.constantFrom(60 * MINUTE),
    }),
    fc.integer({ min: 1, max: 2 }).map((n) => DEVICES.slice(0, n)),
  )
  .chain(([limits, devices]) => eventsArb(devices, 80, MANY_EVENT_IDS, fc.integer({ min: 0, max: 20 * 60 }).map((s) => BASE + s * 1000)).map((events) => ({ limits, devices, events })));

/** Events spread over half an hour, rollup retention shorter than that: the rollup horizon cuts through data. */
const rollupScenarioArb = fc
  .tuple(
    fc.record({
      ringCapacity: fc.integer({ min: 1, max: 8 }),
      rawRetentionMs: fc.integer({ min: 30_000, max: 5 * MINUTE }),
      rollupRetentionMs: fc.oneof(fc.integer({ min: 5, max: 20 }).map((m) => m * MINUTE), fc.integer({ min: 5 * MINUTE, max: 20 * MINUTE })),
    }),
    fc.integer({ min: 1, max: 2 }).map((n) => DEVICES.slice(0, n)),
  )
  .chain(([limits, devices]) =>
    eventsArb(
      devices,
      60,
      EVENT_IDS,
      fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 30 * 60 }).map((s) => BASE + s * 1000) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 30 }).map((m) => BASE + m * MINUTE) },
      ),
    ).map((events) => ({ limits, devices, events })),
  );

/** A scenario: limits, devices, and the events to ingest. */
export const scenarioArb = fc.oneof(
  { weight: 4, arbitrary: generalScenarioArb },
  { weight: 1, arbitrary: growthScenarioArb },
  { weight: 1, arbitrary: rollupScenarioArb },
);

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

/** A range whose ends sit on or beside the minute edges of two of the scenario's events. */
export interface RelativeRange {
  i: number;
  j: number;
  fromOffset: number;
  toOffset: number;
}

const edgeOffsetArb: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-MINUTE - 1, -MINUTE, -1, 0, 1, MINUTE - 1, MINUTE, MINUTE + 1, 2 * MINUTE - 1),
  fc.integer({ min: -MINUTE, max: 2 * MINUTE }),
);

export const relativeRangeArb: fc.Arbitrary<RelativeRange> = fc.record({ i: fc.nat(), j: fc.nat(), fromOffset: edgeOffsetArb, toOffset: edgeOffsetArb });

export function resolveRange(r: RelativeRange, events: readonly ModelEvent[]): [number, number] {
  if (events.length === 0) return [BASE + r.fromOffset, BASE + r.toOffset];
  const minute = (ts: number) => Math.floor(ts / MINUTE) * MINUTE;
  const a = minute(events[r.i % events.length]!.ts) + r.fromOffset;
  const b = minute(events[r.j % events.length]!.ts) + r.toOffset;
  return a <= b ? [a, b] : [b, a];
}
