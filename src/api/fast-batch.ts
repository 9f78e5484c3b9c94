// The hot path of JSON batch ingest. A batch body is almost always an array of events written the
// same plain way (ASCII, no escapes, the five known fields): for those, the bytes are read straight
// into the columnar batch the shards take, instead of JSON.parse building an object, a metrics
// object and a tag array per event, which fastEvent then walks and the batch builder takes apart
// again (together about half the HTTP thread's time per event, garbage collection included).
//
// The definition stays JSON.parse + fastEvent: this answers only when its result is exactly theirs
// (a property test holds the two equal), and gives up on anything else (escapes, non-ASCII text,
// unknown or repeated keys, invalid events, malformed JSON), leaving the body to the general path,
// which also explains refusals.
import { latin1 } from '../codec/latin1.js';
import { ScannedBatch } from '../shard/protocol.js';
import { daysFromCivil, parseTimeMs, TIME_MS_MAX, TIME_MS_MIN } from '../time.js';
import type { ApiLimits } from './schemas.js';
import { RESERVED_NAMES } from './schemas.js';

const EMPTY: Uint8Array = Buffer.alloc(0);

/**
 * Device ids, metric names and tags repeat across a batch and across batches: a direct-mapped
 * cache by a hash of their bytes gives back the same string object, so the scan makes no string
 * per event (its id's bytes are copied as they are), and the batch's dictionary hashes each string once.
 */
const INTERN_SLOTS = 4096;

/** Exact powers of ten: a decimal of at most 15 digits divided by one is correctly rounded. */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Lengths of the reserved names (1 where one has that length): the set is only asked about those. */
const RESERVED_LENGTH = new Uint8Array(Math.max(...[...RESERVED_NAMES].map((r) => r.length)) + 1);
for (const r of RESERVED_NAMES) RESERVED_LENGTH[r.length] = 1;

const quoted = (name: string): Uint8Array => Buffer.from(`"${name}"`, 'latin1');
const QUOTED_EVENT_ID = quoted('event_id');
const QUOTED_DEVICE_ID = quoted('device_id');
const QUOTED_TIME_STAMP = quoted('timeStamp');
const QUOTED_METRICS = quoted('metrics');
const QUOTED_TAGS = quoted('tags');

const EVENT_ID = 1;
const DEVICE_ID = 2;
const TIME_STAMP = 4;
const METRICS = 8;
const TAGS = 16;
const REQUIRED = EVENT_ID | DEVICE_ID | TIME_STAMP | METRICS;
const EMPTY_DICTIONARY = new Map<string, number>();

// One reusable scanner: its cursor and outputs are fields (module-level `let`s cost a hole check
// on every access, which made the byte loops several times slower).
class Scanner {
  b: Uint8Array = EMPTY;
  n = 0;
  p = 0;
  /** The last simple string read: its bytes b[strStart..strEnd) and a hash of them. */
  strStart = 0;
  strEnd = 0;
  strHash = 0;
  maxIdLength = 0;
  maxMetricsPerEvent = 0;
  maxMetricNameLength = 0;
  maxTagsPerEvent = 0;
  maxTagLength = 0;
  // The batch's columns, written in place and kept (grown as needed) from scan to scan: `events`
  // entries of the per-event ones are this scan's, `metricCount` of the metric ones, `tagCount`
  // of `tags`. Arrays pushed to afresh for each body grew by reallocation and were most of the
  // scan's garbage; the batch gets exact copies of what it holds.
  events = 0;
  devices = new Uint32Array(1024);
  ts = new Float64Array(1024);
  metricEnds = new Uint32Array(1024);
  tagEnds = new Uint32Array(1024);
  idEnds = new Uint32Array(1024);
  metricCount = 0;
  metricNames = new Uint32Array(4096);
  metricValues = new Float64Array(4096);
  tagCount = 0;
  tags = new Uint32Array(4096);
  /** The event ids' bytes back to back (grown, kept between scans), idLength of them this scan's. */
  idBytes = new Uint8Array(1 << 16);
  idLength = 0;
  readonly interned: string[] = new Array<string>(INTERN_SLOTS).fill('');
  /** The scan (generation) in which each slot's string got its place in the dictionary, and that place. */
  readonly internedIn = new Int32Array(INTERN_SLOTS);
  readonly internedRef = new Int32Array(INTERN_SLOTS);
  generation = 0;
  strings: string[] = [];
  dictionary = new Map<string, number>();

  latin1(from: number, to: number): string {
    // The scan only decodes ASCII, where latin1 and UTF-8 agree.
    return latin1(this.b, from, to);
  }

  /** The last simple string's place in this batch's dictionary (added on first sight). */
  ref(): number {
    const slot = this.strHash & (INTERN_SLOTS - 1);
    const s = this.interned[slot]!;
    const from = this.strStart;
    const len = this.strEnd - from;
    if (s.length === len) {
      const b = this.b;
      let i = 0;
      while (i < len && s.charCodeAt(i) === b[from + i]) i++;
      if (i === len) {
        if (this.internedIn[slot] === this.generation) return this.internedRef[slot]!;
        return this.enter(slot, s);
      }
    }
    const fresh = this.latin1(from, this.strEnd);
    // Two names sharing a slot in one batch must still get one place each in the dictionary.
    const known = this.dictionary.get(fresh);
    this.interned[slot] = fresh;
    if (known !== undefined) {
      this.internedIn[slot] = this.generation;
      this.internedRef[slot] = known;
      return known;
    }
    return this.enter(slot, fresh);
  }

  private enter(slot: number, s: string): number {
    const r = this.strings.length;
    this.strings.push(s);
    this.dictionary.set(s, r);
    this.internedIn[slot] = this.generation;
    this.internedRef[slot] = r;
    return r;
  }

  ws(): void {
    const b = this.b;
    const n = this.n;
    let p = this.p;
    while (p < n) {
      const c = b[p]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      p++;
    }
    this.p = p;
  }

  /** Whether the byte at p is c (false past the end). */
  at(c: number): boolean {
    return this.p < this.n && this.b[this.p] === c;
  }

  /**
   * A string of printable ASCII without escapes at p (for those, the bytes are the string, and
   * fastEvent's printable check holds); false for any other string, or no string.
   */
  simpleString(): boolean {
    const b = this.b;
    const n = this.n;
    let p = this.p;
    if (p >= n || b[p] !== 0x22) return false;
    const start = ++p;
    let h = 0;
    for (;;) {
      if (p >= n) return false;
      const c = b[p]!;
      if (c === 0x22) break;
      if (c < 0x20 || c >= 0x7f || c === 0x5c) return false;
      h = (Math.imul(h, 31) + c) | 0;
      p++;
    }
    this.strStart = start;
    this.strEnd = p;
    this.p = p + 1;
    this.strHash = h ^ (h >>> 15);
    return true;
  }

  /** A JSON number at p, as JSON.parse reads it; NaN when the bytes are not one. */
  number(): number {
    const b = this.b;
    const n = this.n;
    let p = this.p;
    const start = p;
    const neg = p < n && b[p] === 0x2d;
    if (neg) p++;
    let m = 0;
    let digits = 0;
    let c = p < n ? b[p]! : -1;
    if (c === 0x30) p++;
    else if (c >= 0x31 && c <= 0x39) {
      while (p < n && (c = b[p]!) >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30);
        digits++;
        p++;
      }
    } else return NaN;
    let frac = 0;
    if (p < n && b[p] === 0x2e) {
      const from = ++p;
      while (p < n && (c = b[p]!) >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30);
        digits++;
        p++;
      }
      frac = p - from;
      if (frac === 0) return NaN;
    }
    let exponent = false;
    if (p < n && (b[p] === 0x65 || b[p] === 0x45)) {
      exponent = true;
      p++;
      if (p < n && (b[p] === 0x2b || b[p] === 0x2d)) p++;
      const from = p;
      while (p < n && (c = b[p]!) >= 0x30 && c <= 0x39) p++;
      if (p === from) return NaN;
    }
    this.p = p;
    if (!exponent && digits <= 15 && frac <= 22) {
      const v = frac === 0 ? m : m / POW10[frac]!;
      return neg ? -v : v;
    }
    // Long mantissas and exponents: V8's own correctly rounded conversion, as JSON.parse uses.
    return Number(this.latin1(start, p));
  }

  /** Two digits at i, or -1. */
  twoDigits(i: number): number {
    const a = this.b[i]! - 0x30;
    const c = this.b[i + 1]! - 0x30;
    return a >= 0 && a <= 9 && c >= 0 && c <= 9 ? a * 10 + c : -1;
  }

  /**
   * The last simple string as a time when it reads `YYYY-MM-DDTHH:MM:SS[.fraction][Z]` from 1970
   * on (what clients send almost always), read from the bytes; -1 for anything else, which then
   * goes to parseTimeMs as a string (a property test holds the two equal).
   */
  isoTime(): number {
    const b = this.b;
    const f = this.strStart;
    const n = this.strEnd - f;
    if (n < 19 || b[f + 4] !== 0x2d || b[f + 7] !== 0x2d || b[f + 10] !== 0x54 || b[f + 13] !== 0x3a || b[f + 16] !== 0x3a) return -1;
    const yHi = this.twoDigits(f);
    const yLo = this.twoDigits(f + 2);
    const month = this.twoDigits(f + 5);
    const day = this.twoDigits(f + 8);
    const hour = this.twoDigits(f + 11);
    const minute = this.twoDigits(f + 14);
    const second = this.twoDigits(f + 17);
    if (yHi < 19 || yLo < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return -1;
    const year = yHi * 100 + yLo;
    if (year < 1970 || day > (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : DAYS_IN_MONTH[month - 1]!)) return -1;
    let i = 19;
    let ms = 0;
    if (i < n && b[f + i] === 0x2e) {
      const from = ++i;
      for (; i < n; i++) {
        const d = b[f + i]! - 0x30;
        if (d < 0 || d > 9) break;
        if (i - from < 3) ms = ms * 10 + d;
      }
      const digits = i - from;
      if (digits === 0 || digits > 9) return -1;
      if (digits === 1) ms *= 100;
      else if (digits === 2) ms *= 10;
    }
    if (i < n && !(i + 1 === n && b[f + i] === 0x5a)) return -1;
    const t = daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms;
    return t >= TIME_MS_MIN && t <= TIME_MS_MAX ? t : -1;
  }

  /** Whether the last simple string is `word` (ASCII). */
  strIs(word: string): boolean {
    const from = this.strStart;
    if (this.strEnd - from !== word.length) return false;
    for (let i = 0; i < word.length; i++) if (this.b[from + i] !== word.charCodeAt(i)) return false;
    return true;
  }

  /**
   * A field name at p whose bytes are exactly one of the five quoted names (so it is that name: a
   * JSON string spelled that way has no escape), skipped; 0 for anything else, left to keyOf.
   */
  literalKey(): number {
    const b = this.b;
    const p = this.p;
    let word: Uint8Array;
    let key: number;
    switch (p + 1 < this.n ? b[p + 1] : 0) {
      case 0x65: // e
        word = QUOTED_EVENT_ID;
        key = EVENT_ID;
        break;
      case 0x64: // d
        word = QUOTED_DEVICE_ID;
        key = DEVICE_ID;
        break;
      case 0x74: // t
        if (p + 2 < this.n && b[p + 2] === 0x61) {
          word = QUOTED_TAGS;
          key = TAGS;
        } else {
          word = QUOTED_TIME_STAMP;
          key = TIME_STAMP;
        }
        break;
      case 0x6d: // m
        word = QUOTED_METRICS;
        key = METRICS;
        break;
      default:
        return 0;
    }
    const len = word.length;
    if (p + len > this.n) return 0;
    for (let i = 0; i < len; i++) if (b[p + i] !== word[i]) return 0;
    this.p = p + len;
    return key;
  }

  keyOf(): number {
    switch (this.strEnd - this.strStart) {
      case 8:
        return this.strIs('event_id') ? EVENT_ID : 0;
      case 9:
        return this.strIs('device_id') ? DEVICE_ID : this.strIs('timeStamp') ? TIME_STAMP : 0;
      case 7:
        return this.strIs('metrics') ? METRICS : 0;
      case 4:
        return this.strIs('tags') ? TAGS : 0;
      default:
        return 0;
    }
  }

  /** One separator after a member or element: true for `more`, false for `close`, undefined for anything else. */
  next(close: number): boolean | undefined {
    this.ws();
    if (this.p >= this.n) return undefined;
    const c = this.b[this.p++];
    if (c === 0x2c) {
      this.ws();
      return true;
    }
    return c === close ? false : undefined;
  }

  /**
   * Steps into the bracket `open` at p: true when `close` follows at once (the empty value, stepped
   * over whole), false when items follow, undefined when p is not at `open`.
   */
  opens(open: number, close: number): boolean | undefined {
    if (!this.at(open)) return undefined;
    this.p++;
    this.ws();
    if (!this.at(close)) return false;
    this.p++;
    return true;
  }

  metrics(): boolean {
    const empty = this.opens(0x7b, 0x7d);
    if (empty !== false) return empty === true;
    const first = this.metricCount;
    for (;;) {
      if (!this.simpleString()) return false;
      const len = this.strEnd - this.strStart;
      const c0 = this.b[this.strStart]!;
      // A name starting with a digit may be an array index, which Object.keys lists first.
      if (len > this.maxMetricNameLength || (c0 >= 0x30 && c0 <= 0x39) || this.metricCount - first >= this.maxMetricsPerEvent) return false;
      if (len === 0) return false;
      const name = this.ref();
      if (len < RESERVED_LENGTH.length && RESERVED_LENGTH[len] === 1 && RESERVED_NAMES.has(this.strings[name]!)) return false;
      // A repeated name: JSON.parse keeps the last value at the first one's place; left to it.
      for (let k = first; k < this.metricCount; k++) if (this.metricNames[k] === name) return false;
      this.ws();
      if (!this.at(0x3a)) return false;
      this.p++;
      this.ws();
      const v = this.number();
      if (!Number.isFinite(v)) return false;
      if (this.metricCount === this.metricNames.length) this.growMetrics();
      this.metricNames[this.metricCount] = name;
      this.metricValues[this.metricCount++] = v;
      const more = this.next(0x7d);
      if (more === undefined) return false;
      if (!more) return true;
    }
  }

  tagList(): boolean {
    const empty = this.opens(0x5b, 0x5d);
    if (empty !== false) return empty === true;
    let count = 0;
    for (;;) {
      if (!this.simpleString()) return false;
      const len = this.strEnd - this.strStart;
      if (len < 1 || len > this.maxTagLength || ++count > this.maxTagsPerEvent) return false;
      const tag = this.ref();
      if (this.tagCount === this.tags.length) this.tags = grown(this.tags, this.tagCount);
      this.tags[this.tagCount++] = tag;
      const more = this.next(0x5d);
      if (more === undefined) return false;
      if (!more) return true;
    }
  }

  event(): boolean {
    if (!this.at(0x7b)) return false;
    this.p++;
    let seen = 0;
    let idStart = 0;
    let idEnd = 0;
    let device = 0;
    let ts: number | undefined;
    this.ws();
    for (;;) {
      let key = this.literalKey();
      if (key === 0) {
        if (!this.simpleString()) return false;
        key = this.keyOf();
      }
      if (key === 0 || (seen & key) !== 0) return false;
      seen |= key;
      this.ws();
      if (!this.at(0x3a)) return false;
      this.p++;
      this.ws();
      switch (key) {
        case EVENT_ID:
        case DEVICE_ID: {
          if (!this.simpleString()) return false;
          const len = this.strEnd - this.strStart;
          if (len < 1 || len > this.maxIdLength) return false;
          if (key === EVENT_ID) {
            idStart = this.strStart;
            idEnd = this.strEnd;
          } else device = this.ref();
          break;
        }
        case TIME_STAMP:
          if (this.at(0x22)) {
            if (!this.simpleString()) return false;
            ts = this.isoTime();
            if (ts < 0) ts = parseTimeMs(this.latin1(this.strStart, this.strEnd));
          } else {
            const v = this.number();
            if (Number.isNaN(v)) return false;
            ts = parseTimeMs(v);
          }
          if (ts === undefined) return false;
          break;
        case METRICS:
          if (!this.metrics()) return false;
          break;
        default:
          if (!this.tagList()) return false;
      }
      const more = this.next(0x7d);
      if (more === undefined) return false;
      if (!more) break;
    }
    if ((seen & REQUIRED) !== REQUIRED) return false;
    const e = this.events;
    if (e === this.ts.length) this.growEvents();
    this.addId(e, idStart, idEnd);
    this.devices[e] = device;
    this.ts[e] = ts!;
    this.metricEnds[e] = this.metricCount;
    this.tagEnds[e] = this.tagCount;
    this.events = e + 1;
    return true;
  }

  private growEvents(): void {
    const n = this.events;
    this.devices = grown(this.devices, n);
    this.ts = grown(this.ts, n);
    this.metricEnds = grown(this.metricEnds, n);
    this.tagEnds = grown(this.tagEnds, n);
    this.idEnds = grown(this.idEnds, n);
  }

  private growMetrics(): void {
    this.metricNames = grown(this.metricNames, this.metricCount);
    this.metricValues = grown(this.metricValues, this.metricCount);
  }

  /** Appends event e's id b[from..to) to the batch's (printable ASCII: one byte a code unit). */
  private addId(e: number, from: number, to: number): void {
    let at = this.idLength;
    if (at + (to - from) > this.idBytes.length) this.idBytes = grown(this.idBytes, at, at + (to - from));
    const out = this.idBytes;
    const b = this.b;
    for (let k = from; k < to; k++) out[at++] = b[k]!;
    this.idLength = at;
    this.idEnds[e] = at;
  }

  scan(): boolean {
    this.ws();
    if (!this.at(0x5b)) return false;
    this.p++;
    this.ws();
    if (this.at(0x5d)) this.p++;
    else {
      for (;;) {
        if (!this.event()) return false;
        const more = this.next(0x5d);
        if (more === undefined) return false;
        if (!more) break;
      }
    }
    this.ws();
    return this.p === this.n;
  }

  run(body: Uint8Array, limits: ApiLimits): ScannedBatch | undefined {
    this.b = body;
    this.n = body.length;
    this.p = 0;
    this.maxIdLength = limits.maxIdLength;
    this.maxMetricsPerEvent = limits.maxMetricsPerEvent;
    this.maxMetricNameLength = limits.maxMetricNameLength;
    this.maxTagsPerEvent = limits.maxTagsPerEvent;
    this.maxTagLength = limits.maxTagLength;
    // Slots stamped with a generation from ~2^31 scans ago must not pass for this scan's.
    if (++this.generation === 0x7fffffff) {
      this.generation = 1;
      this.internedIn.fill(0);
    }
    this.strings = [];
    this.dictionary = new Map();
    this.events = this.metricCount = this.tagCount = this.idLength = 0;
    const ok = this.scan();
    this.b = EMPTY; // a body can be large; the scan must not keep the last one alive
    this.dictionary = EMPTY_DICTIONARY;
    if (!ok) return undefined;
    const n = this.events;
    return new ScannedBatch({
      strings: this.strings,
      devices: this.devices.slice(0, n),
      ids: { chars: this.idBytes.slice(0, this.idLength), ends: this.idEnds.slice(0, n) },
      ts: this.ts.slice(0, n),
      metricEnds: this.metricEnds.slice(0, n),
      metricNames: this.metricNames.slice(0, this.metricCount),
      metricValues: this.metricValues.slice(0, this.metricCount),
      tagEnds: this.tagEnds.slice(0, n),
      tags: this.tags.slice(0, this.tagCount),
    });
  }
}

/** A column twice as long as `a` (or as `need`, if longer), holding the first `used` entries of `a`. */
function grown<T extends Uint8Array | Uint32Array | Float64Array>(a: T, used: number, need = 0): T {
  const next = new (a.constructor as new (n: number) => T)(2 * Math.max(a.length, need));
  next.set(a.subarray(0, used));
  return next;
}

const scanner = new Scanner();

/**
 * The events of a JSON batch body, when it is an array of events all valid and all written
 * plainly; undefined otherwise (the body then takes the general path, whatever is wrong with it).
 */
export function scanEventBatch(body: Uint8Array, limits: ApiLimits): ScannedBatch | undefined {
  return scanner.run(body, limits);
}
