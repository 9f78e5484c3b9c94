// The hand-written reader of canonical ISO times must agree with the pattern on every string it
// accepts, and must not accept anything the pattern refuses.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { daysFromCivil, formatIso, parseCanonicalIsoMs, parseIsoMs, parseIsoMsByPattern, TIME_MS_MAX, TIME_MS_MIN } from '../../src/time.js';

const pad = (n: number, w: number) => String(n).padStart(w, '0');
// Out-of-range fields on purpose (month 13, day 31 of a 30-day month, hour 24...).
const canonical = fc
  .record({
    y: fc.integer({ min: 0, max: 9999 }),
    mo: fc.integer({ min: 0, max: 13 }),
    d: fc.integer({ min: 0, max: 32 }),
    h: fc.integer({ min: 0, max: 24 }),
    mi: fc.integer({ min: 0, max: 60 }),
    s: fc.integer({ min: 0, max: 60 }),
    frac: fc.option(fc.stringMatching(/^[0-9]{0,11}$/)),
    zone: fc.oneof(fc.constantFrom('', 'Z', 'z', '+00:00', '-23:59', '+24:00', '+05:60', '+0200', ' Z', 'ZZ', '+1:00'), fc.string({ maxLength: 3 })),
    sep: fc.constantFrom('T', 'T', 'T', ' ', 't', 'X'),
  })
  .map(({ y, mo, d, h, mi, s, frac, zone, sep }) => `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}${sep}${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${frac === null ? '' : '.' + frac}${zone}`);

describe('canonical ISO time reader', () => {
  it('agrees with the pattern wherever it answers, and answers for the canonical shape', () => {
    fc.assert(
      fc.property(fc.oneof(canonical, fc.string({ maxLength: 30 })), (s) => {
        const fast = parseCanonicalIsoMs(s);
        const slow = parseIsoMsByPattern(s);
        if (fast !== undefined) expect(fast).toBe(slow);
        expect(parseIsoMs(s)).toBe(slow);
      }),
      { numRuns: 20_000 },
    );
  });

  it('is the one that reads the common shape (not the pattern behind it)', () => {
    expect(parseCanonicalIsoMs('2025-01-15T10:00:00.123Z')).toBe(Date.UTC(2025, 0, 15, 10, 0, 0, 123));
    expect(parseCanonicalIsoMs('2025-01-15T10:00:00')).toBe(Date.UTC(2025, 0, 15, 10));
    expect(parseCanonicalIsoMs('2025-01-15T10:00:00-02:30')).toBe(Date.UTC(2025, 0, 15, 12, 30));
    expect(parseCanonicalIsoMs('2025-01-15 10:00:00')).toBeUndefined();
  });

  it('counts days like the proleptic Gregorian calendar of Date', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), (y, m, d) => {
        const date = new Date(0);
        date.setUTCFullYear(y, m - 1, d);
        expect(daysFromCivil(y, m, d) * 86_400_000).toBe(date.getTime());
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('formatIso', () => {
  it('writes what toISOString writes, for every accepted time', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: TIME_MS_MIN, max: TIME_MS_MAX }), fc.integer({ min: -1e12, max: 4e12 }), fc.constantFrom(TIME_MS_MIN, TIME_MS_MAX, TIME_MS_MIN - 1, TIME_MS_MAX + 1, TIME_MS_MIN - 7 * 86_400_000, 0, -1, 86_399_999, 86_400_000)), (ms) => {
        expect(formatIso(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });
});
