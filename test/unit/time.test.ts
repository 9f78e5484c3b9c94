import { describe, expect, it } from 'vitest';
import { formatIso, parseIntervalMs, parseIsoMs, parseQueryTimeMs, parseTimeMs, TIME_MS_MAX, TIME_MS_MIN } from '../../src/time.js';

const utc = (...a: [number, number, number?, number?, number?, number?, number?]) => Date.UTC(...a);

describe('parseIsoMs', () => {
  it('reads a date-time with Z as UTC', () => {
    expect(parseIsoMs('2025-01-15T10:00:00Z')).toBe(utc(2025, 0, 15, 10));
    expect(parseIsoMs('2025-01-15t10:00:00z')).toBe(utc(2025, 0, 15, 10));
  });

  it('reads a date-time without an offset as UTC, whatever the machine time zone', () => {
    expect(parseIsoMs('2025-07-15T10:00:00')).toBe(utc(2025, 6, 15, 10));
    expect(parseIsoMs('2025-07-15T10:00')).toBe(utc(2025, 6, 15, 10));
  });

  it('applies an explicit offset, with or without the colon', () => {
    expect(parseIsoMs('2025-01-15T10:00:00+02:00')).toBe(utc(2025, 0, 15, 8));
    expect(parseIsoMs('2025-01-15T10:00:00-05:30')).toBe(utc(2025, 0, 15, 15, 30));
    expect(parseIsoMs('2025-01-15T10:00:00+0200')).toBe(utc(2025, 0, 15, 8));
    expect(parseIsoMs('2025-01-15T00:30:00+01:00')).toBe(utc(2025, 0, 14, 23, 30));
  });

  it('reads a date alone as midnight UTC', () => {
    expect(parseIsoMs('2025-01-15')).toBe(utc(2025, 0, 15));
  });

  it('accepts a space instead of T', () => {
    expect(parseIsoMs('2025-01-15 10:11:12')).toBe(utc(2025, 0, 15, 10, 11, 12));
    expect(parseIsoMs('2025-01-15 10:11:12.5+00:00')).toBe(utc(2025, 0, 15, 10, 11, 12, 500));
  });

  it('keeps milliseconds and truncates finer fractions of a second', () => {
    expect(parseIsoMs('2025-01-15T10:00:00.1Z')).toBe(utc(2025, 0, 15, 10, 0, 0, 100));
    expect(parseIsoMs('2025-01-15T10:00:00.123Z')).toBe(utc(2025, 0, 15, 10, 0, 0, 123));
    expect(parseIsoMs('2025-01-15T10:00:00.123456Z')).toBe(utc(2025, 0, 15, 10, 0, 0, 123));
    expect(parseIsoMs('2025-01-15T10:00:00.999999999')).toBe(utc(2025, 0, 15, 10, 0, 0, 999));
    expect(parseIsoMs('2025-01-15T10:00:00,25Z')).toBe(utc(2025, 0, 15, 10, 0, 0, 250));
  });

  it('knows leap years', () => {
    expect(parseIsoMs('2024-02-29')).toBe(utc(2024, 1, 29));
    expect(parseIsoMs('2000-02-29')).toBe(utc(2000, 1, 29));
    expect(parseIsoMs('2025-02-29')).toBeUndefined();
    expect(parseIsoMs('1900-02-29')).toBeUndefined();
  });

  it.each([
    '2025-02-30',
    '2025-04-31',
    '2025-13-01',
    '2025-00-10',
    '2025-01-00',
    '2025-01-15T25:00',
    '2025-01-15T24:00',
    '2025-01-15T10:60',
    '2025-01-15T10:00:60',
    '2025-01-15T10:00:00+24:00',
    '2025-01-15T10:00:00+01:60',
    '2025-1-15',
    '2025-01-15T10',
    '15/01/2025',
    'yesterday',
    '',
    '2025-01-15T10:00:00.Z',
    ' 2025-01-15',
    '2025-01-15T10:00:00.123456789012Z',
  ])('rejects %j', (s) => {
    expect(parseIsoMs(s)).toBeUndefined();
  });

  it('rejects strings longer than 40 characters without running the pattern', () => {
    expect(parseIsoMs('2025-01-15T10:00:00Z' + ' '.repeat(30))).toBeUndefined();
  });

  it('reads years 0000-0099 as those years, not as 1900-1999', () => {
    expect(parseIsoMs('0050-06-01T00:00:00Z')).toBe(new Date('0050-06-01T00:00:00Z').getTime());
    expect(parseIsoMs('0000-01-01')).toBe(new Date('0000-01-01T00:00:00Z').getTime());
  });
});

describe('parseTimeMs (request body times)', () => {
  it('takes epoch milliseconds as a number', () => {
    expect(parseTimeMs(1_736_935_200_000)).toBe(1_736_935_200_000);
    expect(parseTimeMs(0)).toBe(0);
    expect(parseTimeMs(-1000)).toBe(-1000);
  });

  it('truncates a fractional number of milliseconds', () => {
    expect(parseTimeMs(1.9)).toBe(1);
  });

  it('rejects non-finite numbers and times outside the years 0000-9999', () => {
    expect(parseTimeMs(NaN)).toBeUndefined();
    expect(parseTimeMs(Infinity)).toBeUndefined();
    expect(parseTimeMs(TIME_MS_MAX + 1)).toBeUndefined();
    expect(parseTimeMs(TIME_MS_MAX)).toBe(TIME_MS_MAX);
    expect(parseTimeMs(TIME_MS_MIN - 1)).toBeUndefined();
    expect(parseTimeMs(TIME_MS_MIN)).toBe(TIME_MS_MIN);
    expect(parseTimeMs(8.64e15)).toBeUndefined();
    expect(parseQueryTimeMs(String(TIME_MS_MAX + 1))).toBeUndefined();
    expect(parseIsoMs('9999-12-31T23:59:59.999Z')).toBe(TIME_MS_MAX);
    expect(parseIsoMs('9999-12-31T23:59:59-01:00')).toBeUndefined(); // past year 9999 in UTC
  });

  it('every accepted time writes as an ISO string that parses back to it', () => {
    for (const ms of [TIME_MS_MIN, TIME_MS_MAX, 0, -1, 1_736_935_200_123]) expect(parseIsoMs(formatIso(ms))).toBe(ms);
  });

  it('takes ISO strings, and refuses other types', () => {
    expect(parseTimeMs('2025-01-15T10:00:00Z')).toBe(utc(2025, 0, 15, 10));
    expect(parseTimeMs(null)).toBeUndefined();
    expect(parseTimeMs(true)).toBeUndefined();
    expect(parseTimeMs({})).toBeUndefined();
    expect(parseTimeMs(undefined)).toBeUndefined();
  });
});

describe('parseQueryTimeMs (query-string times)', () => {
  it('reads an integer as epoch milliseconds and anything else as ISO 8601', () => {
    expect(parseQueryTimeMs('1736935200000')).toBe(1_736_935_200_000);
    expect(parseQueryTimeMs('-5')).toBe(-5);
    expect(parseQueryTimeMs('2025-01-15T10:00:00')).toBe(utc(2025, 0, 15, 10));
    expect(parseQueryTimeMs('2025-01-15 10:00:00+01:00')).toBe(utc(2025, 0, 15, 9));
  });

  it('rejects out-of-range integers, decimals and garbage', () => {
    expect(parseQueryTimeMs('9999999999999999')).toBeUndefined();
    expect(parseQueryTimeMs('1.5')).toBeUndefined();
    expect(parseQueryTimeMs('now')).toBeUndefined();
    expect(parseQueryTimeMs('')).toBeUndefined();
  });
});

describe('formatIso', () => {
  it('writes ISO 8601 UTC with milliseconds and Z', () => {
    expect(formatIso(utc(2025, 0, 15, 10, 0, 0, 7))).toBe('2025-01-15T10:00:00.007Z');
    expect(formatIso(0)).toBe('1970-01-01T00:00:00.000Z');
  });

  it('round-trips with parseIsoMs', () => {
    for (const ms of [0, 1, -1, 1_736_935_200_123, 253_402_300_799_999]) expect(parseIsoMs(formatIso(ms))).toBe(ms);
  });
});

describe('parseIntervalMs', () => {
  it.each([
    ['10s', 10_000],
    ['1s', 1000],
    ['1m', 60_000],
    ['5m', 300_000],
    ['90m', 5_400_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['7d', 604_800_000],
  ])('%s is %d ms', (s, ms) => {
    expect(parseIntervalMs(s)).toBe(ms);
  });

  it.each(['7x', '0m', '0s', '-1m', '1.5m', 'm', '1', '', '1 m', '1M', ' 1m', '1m ', '1w', '1ms', '999999999d'])('rejects %j', (s) => {
    expect(parseIntervalMs(s)).toBeUndefined();
  });
});
