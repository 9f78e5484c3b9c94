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
  return parseCanonicalIsoMs(s) ?? parseIsoMsByPattern(s);
}

/** The decimal digit at s[i], or -1 (also past the end). */
const digitAt = (s: string, i: number): number => {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
};

const twoDigits = (s: string, i: number): number => {
  const a = digitAt(s, i);
  const b = digitAt(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
};

/** Days from 1970-01-01 to a proleptic Gregorian date (any year, month 1-12). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}

/**
 * The hot path of event times: the shape clients send almost always,
 * `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]`, read with character checks instead of the pattern
 * (several times faster, and it runs once per ingested event). Undefined for any other shape,
 * and for an impossible date, which the pattern then decides; a property test holds the two equal.
 */
export function parseCanonicalIsoMs(s: string): number | undefined {
  const n = s.length;
  if (n < 19 || n > 40 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return undefined;
  const yHi = twoDigits(s, 0);
  const yLo = twoDigits(s, 2);
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  const hour = twoDigits(s, 11);
  const minute = twoDigits(s, 14);
  const second = twoDigits(s, 17);
  if (yHi < 0 || yLo < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  const year = yHi * 100 + yLo;
  if (day > (month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!)) return undefined;
  let i = 19;
  let ms = 0;
  if (s.charCodeAt(i) === 46) {
    i++;
    const from = i;
    for (let d = digitAt(s, i); d >= 0; d = digitAt(s, ++i)) if (i - from < 3) ms = ms * 10 + d;
    const digits = i - from;
    if (digits === 0 || digits > 9) return undefined;
    if (digits === 1) ms *= 100;
    else if (digits === 2) ms *= 10;
  }
  let offsetMin = 0;
  if (i < n) {
    const c = s.charCodeAt(i);
    if (c === 90 && i + 1 === n) {
      // Z
    } else if ((c === 43 || c === 45) && i + 6 === n && s.charCodeAt(i + 3) === 58) {
      const oh = twoDigits(s, i + 1);
      const om = twoDigits(s, i + 4);
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
      offsetMin = (c === 45 ? -1 : 1) * (oh * 60 + om);
    } else return undefined;
  }
  const t = daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms - offsetMin * 60_000;
  return inRange(t) ? t : undefined;
}

/** Every accepted shape, by the pattern: the definition the fast path is held to. */
export function parseIsoMsByPattern(s: string): number | undefined {
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

const TWO_DIGITS = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
let cachedDay = NaN;
let cachedDayPrefix = '';

/**
 * ISO 8601 UTC with milliseconds, exactly as Date.prototype.toISOString writes it. It runs for
 * every event and bucket of a query answer: the date part is kept for the last day seen (answers
 * walk one device's days in order), the time part is table lookups. A property test holds it
 * equal to toISOString.
 */
export function formatIso(ms: number): string {
  // A bucket start can fall just outside 0000-9999, where toISOString writes six-digit years.
  if (!inRange(ms)) return new Date(ms).toISOString();
  const day = Math.floor(ms / 86_400_000);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDayPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
  }
  let t = ms - day * 86_400_000;
  const milli = t % 1000;
  t = (t - milli) / 1000;
  const sec = t % 60;
  t = (t - sec) / 60;
  const min = t % 60;
  const hour = (t - min) / 60;
  return `${cachedDayPrefix}${TWO_DIGITS[hour]}:${TWO_DIGITS[min]}:${TWO_DIGITS[sec]}.${THREE_DIGITS[milli]}Z`;
}

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
