// Time on the wire. Internally every time is epoch milliseconds (a float64 that holds an integer).
// Inputs: ISO 8601 (`2025-01-15`, `2025-01-15T10:00`, `...T10:00:00.123456`, `...Z`, `...+02:00`,
// space instead of `T`), where a date-time without an offset is UTC, whatever the machine's zone
// (`Date.parse` would read it as local time); or epoch milliseconds as a number.
// Outputs: ISO 8601 UTC with milliseconds and `Z`.

/**
 * Accepted times: years 0000 to 9999, the range an ISO 8601 date-time writes with four digits, so
 * every time the service answers can be sent back to it as from_time/to_time.
 */
export const TIME_MS_MIN = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
export const TIME_MS_MAX = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

const inRange = (ms: number) => ms >= TIME_MS_MIN && ms <= TIME_MS_MAX;

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** Epoch ms of an ISO 8601 string, or undefined when it is not one (or names an impossible date). */
export function parseIsoMs(s: string): number | undefined {
  if (s.length > 40) return undefined;
  const m = ISO.exec(s);
  if (m === null) return undefined;
  const year = +m[1]!;
  const month = +m[2]!;
  const day = +m[3]!;
  const hour = m[4] === undefined ? 0 : +m[4];
  const minute = m[5] === undefined ? 0 : +m[5];
  const second = m[6] === undefined ? 0 : +m[6];
  if (month < 1 || month > 12 || day < 1) return undefined;
  const dim = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!;
  if (day > dim || hour > 23 || minute > 59 || second > 59) return undefined;
  // Sub-millisecond digits are truncated: the engine keeps milliseconds.
  const ms = m[7] === undefined ? 0 : +m[7].slice(0, 3).padEnd(3, '0');
  let offsetMin = 0;
  if (m[9] !== undefined) {
    const oh = +m[10]!;
    const om = +m[11]!;
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear takes the year as given.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  const t = d.getTime() - offsetMin * 60_000;
  return inRange(t) ? t : undefined;
}

/** Epoch ms of a request time: an ISO string, or epoch ms as a number. */
export function parseTimeMs(v: unknown): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return undefined;
    const ms = Math.trunc(v);
    return inRange(ms) ? ms : undefined;
  }
  if (typeof v === 'string') return parseIsoMs(v);
  return undefined;
}

/** A query-string time: ISO 8601, or an integer of epoch milliseconds. */
export function parseQueryTimeMs(s: string): number | undefined {
  if (/^-?\d{1,16}$/.test(s)) {
    const n = Number(s);
    return inRange(n) ? n : undefined;
  }
  return parseIsoMs(s);
}

export const formatIso = (ms: number): string => new Date(ms).toISOString();

const INTERVAL = /^(\d{1,9})([smhd])$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `10s`, `1m`, `5m`, `1h`, `1d` ... -> milliseconds; undefined when not an interval. */
export function parseIntervalMs(s: string): number | undefined {
  const m = INTERVAL.exec(s);
  if (m === null) return undefined;
  const ms = +m[1]! * UNIT_MS[m[2]!]!;
  if (ms <= 0 || ms > 366 * 86_400_000 * 100) return undefined;
  return ms;
}
