// The JSON batch scan answers only what JSON.parse + fastEvent answer for the same body, and
// answers for plainly written batches (so the first property is not only about giving up).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanEventBatch } from '../../src/api/fast-batch.js';
import { fastEvent } from '../../src/api/fast-event.js';
import type { ApiLimits } from '../../src/api/schemas.js';
import { named, type NamedBatch } from '../support/named-batch.js';

const limits: ApiLimits = { maxIdLength: 8, maxMetricsPerEvent: 3, maxMetricNameLength: 6, maxTagsPerEvent: 2, maxTagLength: 5, maxQueryLimit: 100 };

/** The definition: JSON.parse of the body's UTF-8, then fastEvent on every element, columnar. */
function definition(body: Buffer): NamedBatch | undefined {
  let items: unknown;
  try {
    items = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(items)) return undefined;
  const out: NamedBatch = { deviceIds: [], eventIds: [], ts: new Float64Array(items.length), metricEnds: new Uint32Array(items.length), metricNames: [], metricValues: new Float64Array(0), tagEnds: new Uint32Array(items.length), tags: [] };
  const values: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const e = fastEvent(items[i], limits);
    if (e === undefined) return undefined;
    out.deviceIds.push(e.device_id);
    out.eventIds.push(e.event_id);
    out.ts[i] = e.timeStamp;
    for (const name of Object.keys(e.metrics)) {
      out.metricNames.push(name);
      values.push(e.metrics[name]!);
    }
    out.metricEnds[i] = out.metricNames.length;
    for (const t of e.tags) out.tags.push(t);
    out.tagEnds[i] = out.tags.length;
  }
  out.metricValues = Float64Array.from(values);
  return out;
}

const plainText = fc.stringMatching(/^[a-z0-9:_-]{1,5}$/);
const text = fc.oneof(
  { weight: 6, arbitrary: plainText },
  { weight: 1, arbitrary: fc.constantFrom('', 'a"b', 'a\\b', 'é', '\u0000', '\u007f', '\ud800', '123456789', '__proto__', 'constructor', '0', '12', 'x'.repeat(9)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);
const number = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, 0.1, 1e21, 1e-7, 123456789012345, 1234567890123456, 2 ** 53 + 2, 1.7976931348623157e308));
const time = fc.oneof(
  fc.constantFrom('2025-01-15T10:00:00', '2025-01-15T10:00:00.123Z', '2025-01-15 10:00:00+02:00', '2025-02-30T00:00:00', 'soon', 1_736_935_200_000, 1.5e12, -1, 9e15),
  number,
);
const metricName = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9]{0,3}$/) },
  { weight: 2, arbitrary: fc.constantFrom('0', '1', '12', '01', '1a', '-1', 'constructor', '__proto__', 'prototype', 'toString', 'a"', 'é', 'abcdefg') },
);
const metrics = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(metricName, number, { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, [], 'x', { a: 'x' }, { a: null }) },
);
const tags = fc.oneof({ weight: 6, arbitrary: fc.array(text, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(null, 'x', [1], {}) });
const eventObject = fc
  .tuple(
    fc.record(
      { event_id: fc.oneof({ weight: 8, arbitrary: text }, { weight: 1, arbitrary: number }), device_id: text, timeStamp: time, metrics, tags },
      { requiredKeys: ['event_id', 'device_id', 'timeStamp', 'metrics'] },
    ),
    fc.nat(9),
  )
  // Now and then an unknown field, or a required one missing.
  .map(([e, r]) => (r === 0 ? { ...e, extra: 1 } : r === 1 ? { ...e, metrics: undefined } : e));
/** Mostly valid events (so whole batches often are), with names that test key order and reserved words. */
const likelyValid = fc.record(
  {
    event_id: plainText,
    device_id: plainText,
    timeStamp: fc.constantFrom('2025-01-15T10:00:00.000Z', '2025-01-15T10:00:00', 1_736_935_200_000, 1.5e12),
    metrics: fc.dictionary(metricName, number, { minKeys: 1, maxKeys: 3 }),
    tags: fc.array(plainText, { maxLength: 2 }),
  },
  { requiredKeys: ['event_id', 'device_id', 'timeStamp', 'metrics'] },
);
/** Events written with any key order and JSON's optional whitespace. */
const eventJson = fc.tuple(fc.oneof({ weight: 1, arbitrary: eventObject }, { weight: 3, arbitrary: likelyValid }), fc.nat(), fc.constantFrom(undefined, 1, '\t', '\r\n ')).map(([e, seed, space]) => {
  const keys = Object.keys(e);
  const order = keys.map((k, i) => [k, (seed >> i) & 7] as const).sort((a, b) => a[1] - b[1]).map(([k]) => k);
  const o: Record<string, unknown> = {};
  for (const k of order) o[k] = (e as Record<string, unknown>)[k];
  return JSON.stringify(o, null, space as string | number | undefined);
});
const body = fc.array(eventJson, { maxLength: 6 }).map((events) => Buffer.from('[' + events.join(',') + ']'));

const expectSame = (scanned: NamedBatch, def: NamedBatch) => {
  expect(scanned.eventIds).toEqual(def.eventIds);
  expect(scanned.deviceIds).toEqual(def.deviceIds);
  expect([...scanned.ts]).toEqual([...def.ts]);
  expect([...scanned.metricEnds]).toEqual([...def.metricEnds]);
  expect(scanned.metricNames).toEqual(def.metricNames);
  expect(scanned.metricValues.length).toBe(def.metricValues.length);
  // Object.is: -0 and NaN kept apart, as the engine would see them.
  for (let i = 0; i < def.metricValues.length; i++) expect(Object.is(scanned.metricValues[i], def.metricValues[i])).toBe(true);
  expect([...scanned.tagEnds]).toEqual([...def.tagEnds]);
  expect(scanned.tags).toEqual(def.tags);
};

describe('scanEventBatch', () => {
  it('answers only what JSON.parse + fastEvent answer', () => {
    fc.assert(
      fc.property(body, (b) => {
        const scanned = scanEventBatch(b, limits);
        if (scanned === undefined) return;
        const def = definition(b);
        expect(def).toBeDefined();
        expectSame(named(scanned.packed), def!);
      }),
      { numRuns: 4000 },
    );
  });

  it('never answers for a damaged body unless the definition does, and then the same', () => {
    fc.assert(
      fc.property(body, fc.nat(), fc.nat(), fc.string({ maxLength: 3 }), (b, a, cut, insert) => {
        const s = b.toString('latin1');
        const at = a % (s.length + 1);
        const damaged = Buffer.concat([b.subarray(0, at), Buffer.from(insert), b.subarray(Math.min(b.length, at + (cut % 3)))]);
        const scanned = scanEventBatch(damaged, limits);
        const def = definition(damaged);
        if (scanned === undefined) return;
        expect(def).toBeDefined();
        expectSame(named(scanned.packed), def!);
      }),
      { numRuns: 4000 },
    );
  });

  it('reads any JSON number as JSON.parse does', () => {
    const digits = fc.stringMatching(/^[0-9]{1,25}$/);
    const literal = fc
      .tuple(fc.boolean(), digits, fc.option(digits), fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.stringMatching(/^[0-9]{1,3}$/))))
      .map(([neg, int, frac, exp]) => `${neg ? '-' : ''}${int}${frac === null ? '' : '.' + frac}${exp === null ? '' : exp.join('')}`);
    fc.assert(
      fc.property(literal, (lit) => {
        const b = Buffer.from(`[{"event_id":"e","device_id":"d","timeStamp":0,"metrics":{"m":${lit}}}]`);
        const scanned = scanEventBatch(b, limits);
        const def = definition(b);
        if (def === undefined) expect(scanned).toBeUndefined();
        else {
          expect(scanned).toBeDefined();
          expect(Object.is(scanned!.packed.metricValues[0], def.metricValues[0])).toBe(true);
        }
      }),
      { numRuns: 4000 },
    );
  });

  it('reads times as parseTimeMs does', () => {
    const two = (max: number) => fc.integer({ min: 0, max }).map((v) => String(v).padStart(2, '0'));
    const iso = fc
      .tuple(
        fc.oneof(fc.integer({ min: 1900, max: 2100 }), fc.integer({ min: 0, max: 9999 })).map((y) => String(y).padStart(4, '0')),
        two(13),
        two(32),
        fc.constantFrom('T', 't', ' ', 'X'),
        two(24),
        two(60),
        two(60),
        fc.constantFrom('', '.', '.1', '.12', '.123', '.1234', '.123456789', '.1234567890', ',5'),
        fc.constantFrom('', 'Z', 'z', '+02:00', '-00:30', ' ', 'ZZ', '+2'),
      )
      .map(([y, mo, d, t, h, mi, sec, frac, zone]) => `${y}-${mo}-${d}${t}${h}:${mi}:${sec}${frac}${zone}`);
    fc.assert(
      fc.property(fc.oneof({ weight: 8, arbitrary: iso }, { weight: 1, arbitrary: fc.string({ maxLength: 26 }) }), (t) => {
        const b = Buffer.from(`[{"event_id":"e","device_id":"d","timeStamp":${JSON.stringify(t)},"metrics":{}}]`);
        const scanned = scanEventBatch(b, limits);
        const def = definition(b);
        if (def === undefined) expect(scanned).toBeUndefined();
        else if (scanned !== undefined) expect(scanned.packed.ts[0]).toBe(def.ts[0]);
        else expect(/[^ -~]|\\|"/.test(t)).toBe(true); // only escapes and non-ASCII are left to the general path
      }),
      { numRuns: 5000 },
    );
  });

  it('answers for plainly written valid events', () => {
    const plainEvent = fc.record({
      event_id: plainText,
      device_id: plainText,
      timeStamp: fc.constantFrom('2025-01-15T10:00:00.000Z', '2025-01-15T10:00:00', 1_736_935_200_000),
      metrics: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/), fc.double({ noNaN: true, noDefaultInfinity: true }), { maxKeys: 3 }).filter((m) => !('constructor' in m && Object.hasOwn(m, 'constructor'))),
      tags: fc.array(plainText.filter((t) => t.length <= 5), { maxLength: 2 }),
    });
    fc.assert(
      fc.property(fc.array(plainEvent, { maxLength: 8 }), (events) => {
        const b = Buffer.from(JSON.stringify(events));
        const scanned = scanEventBatch(b, limits);
        expect(scanned).toBeDefined();
        expectSame(named(scanned!.packed), definition(b)!);
      }),
      { numRuns: 1000 },
    );
  });
});
