// The hot-path validator accepts exactly what the event schema accepts, with the same result.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fastEvent } from '../../src/api/fast-event.js';
import { buildSchemas, type ApiLimits } from '../../src/api/schemas.js';

const limits: ApiLimits = { maxIdLength: 8, maxMetricsPerEvent: 3, maxMetricNameLength: 6, maxTagsPerEvent: 2, maxTagLength: 5, maxQueryLimit: 100 };
const schema = buildSchemas(limits).event;

const text = fc.oneof(
  fc.constantFrom('', 'a', 'dev-1', 'e\u0000x', 'tab\t', 'é', '\ud800', '12345678', '123456789', '__proto__', 'constructor', 'prototype', 'toString', 'x'.repeat(7)),
  fc.string({ maxLength: 10 }),
);
const number = fc.oneof(fc.double(), fc.integer(), fc.constantFrom(NaN, Infinity, -Infinity, -0, 2 ** 53 + 2, 8.64e15, 253_402_300_799_999, 253_402_300_800_000));
const time = fc.oneof(
  number,
  fc.constantFrom('2025-01-15T10:00:00', '2025-01-15T10:00:00Z', '2025-01-15 10:00:00.123+02:00', '2025-02-30', 'yesterday', '', '0050-06-01', '9999-12-31T23:59:59.999Z'),
  fc.string({ maxLength: 12 }),
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  text,
  number,
  fc.constantFrom(null, undefined, true, false, [], {}, new Date(0), new Uint8Array(2), Object.create(null) as object),
);
const metricsArb = fc.oneof(
  fc.dictionary(text, fc.oneof({ weight: 4, arbitrary: number }, { weight: 1, arbitrary: anyValue }), { maxKeys: 5 }),
  anyValue,
  fc.constant(JSON.parse('{"__proto__": 1, "a": 2}') as unknown),
  fc.constant(Object.assign(Object.create(null) as object, { a: 1 })),
);
const tagsArb = fc.oneof(fc.array(fc.oneof({ weight: 5, arbitrary: text }, { weight: 1, arbitrary: anyValue }), { maxLength: 4 }), anyValue);
const eventArb = fc.record(
  { event_id: fc.oneof(text, anyValue), device_id: fc.oneof(text, anyValue), timeStamp: time, metrics: metricsArb, tags: tagsArb, extra: anyValue },
  { requiredKeys: [] },
);
const inputArb = fc.oneof({ weight: 10, arbitrary: eventArb }, { weight: 1, arbitrary: anyValue });

describe('fastEvent', () => {
  it('accepts exactly what the zod event schema accepts, with the same result', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const zod = schema.safeParse(input);
        const fast = fastEvent(input, limits);
        if (!zod.success) {
          expect(fast).toBeUndefined();
          return;
        }
        expect(fast).toBeDefined();
        expect({ ...fast!, metrics: { ...fast!.metrics } }).toEqual({ ...zod.data, metrics: { ...zod.data.metrics } });
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts well-formed events (so the property above is not only about refusals)', () => {
    fc.assert(
      fc.property(
        fc.record({
          event_id: fc.constantFrom('e1', 'e-22'),
          device_id: fc.constantFrom('d', 'dev-1'),
          timeStamp: fc.constantFrom('2025-01-15T10:00:00', 1_736_935_200_000),
          metrics: fc.dictionary(fc.constantFrom('a', 'temp', 'cpu'), fc.double({ noNaN: true, noDefaultInfinity: true }), { maxKeys: 3 }),
          tags: fc.array(fc.constantFrom('x', 'room1'), { maxLength: 2 }),
        }),
        (e) => {
          expect(fastEvent(e, limits)).toBeDefined();
          expect(schema.safeParse(e).success).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
