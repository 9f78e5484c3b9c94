// The raw events of one device, columnar, in a circular buffer kept sorted by (time, event_id).
//
// Invariants:
// - rows 0..length-1 (logical) are in ascending (ts, id) order, whatever order they arrived in; so
//   "newest first" is a backwards walk and the oldest row is always the one evicted;
// - length <= capacity; the allocation grows by doubling up to exactly `capacity`, so a full ring
//   holds no slack;
// - every metric column is as long as the allocation; NaN marks "this event has no such metric"
//   (NaN can never be a stored value: metrics are validated finite).
//
// An insert at the newest end is O(1); a late event shifts the newer rows by one (a late event is
// usually only a little late, so few rows move).
//
// Event ids are not JS strings here: their characters live in one arena per ring (a Uint8Array
// while every character fits a byte, a Uint16Array of UTF-16 code units once one does not), each
// row holding its id's start and length. A million id strings cost the collector dearly: every
// scavenge copied the newest (they all survive), which stalled the shard for up to 45 ms under
// load, and each string carried ~24 bytes of header. The arena is compacted, oldest row first,
// when it is full, so it holds at most about twice the live characters.
//
// The ring also indexes its event ids (the dedup window): an open-addressing hash table (linear
// probing) in an Int32Array, at most 2/3 full. An entry is the physical slot + 1 in its low bits
// and the id's hash in the bits above, so a probe compares numbers and reaches for an id's characters
// (a cache miss) only when the hashes agree. A JS Set of millions of strings cost about 0.6 µs per
// insert (mostly the garbage collector tending its growing tables) and ~28 bytes per id; this
// costs 6 to 12 bytes per row and is invisible to the collector.
//
// Ids come in as code units too (an event batch's id column, codec/id-column.ts): the methods that
// take an id take its characters as `chars[from..to)`. Those that take a string are for callers
// off the hot path (tests, mostly).

import { charsString, idColumn, type IdChars } from '../codec/id-column.js';

const INITIAL_ROWS = 16;
/** Longest event id a ring stores: its length column is 16-bit (the API allows far less). */
export const RING_ID_CHARS_MAX = 0xffff;
/** Arena characters per row of a new ring (event ids are often shorter). */
const INITIAL_ID_CHARS_PER_ROW = 16;

/** Event ids as snapshots hold them: their characters back to back (bytes, or UTF-16 code units), and each one's length. */
export interface IdColumns {
  chars: IdChars;
  lengths: Uint16Array;
}

/** FNV-1a over UTF-16 code units, then murmur3's finalizer: FNV's low bits (the ones masked into a place) mix poorly. */
export function hashId(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The code units of a string, in an array of its own (for the methods that take ids as strings). */
const charsOf = (id: string): IdChars => idColumn([id]).chars;

/** hashId of the string whose code units are chars[from..from+n). */
export function hashChars(chars: IdChars, from: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = from, end = from + n; i < end; i++) h = Math.imul(h ^ chars[i]!, 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A ring's own arrays and positions as they are (no copy), for another thread to take over: see ShardEngine.handOver. */
export interface RingParts {
  ts: Float64Array;
  tagSets: Uint32Array;
  idChars: IdChars;
  idCharsEnd: number;
  idCharsLive: number;
  idStart: Uint32Array;
  idLen: Uint16Array;
  names: string[];
  cols: Float64Array[];
  head: number;
  length: number;
  /** False when the id index was suspended (then idIndex and idAt are empty): the taker builds it when it needs it. */
  indexed: boolean;
  idIndex: Int32Array;
  idAt: Int32Array;
}

export class DeviceRing {
  ts: Float64Array;
  tagSets: Uint32Array;
  /** Characters of the ids held (code units; one byte each until a wider one arrives). */
  private idChars: IdChars;
  private wide = false;
  /** idChars[0..idCharsEnd) is used (live or not yet reclaimed); idCharsLive of it is live. */
  private idCharsEnd = 0;
  private idCharsLive = 0;
  /** Per physical slot: where its id's characters start in idChars, and how many. */
  private idStart: Uint32Array;
  private idLen: Uint16Array;
  /** Metric columns: names[c] is the metric of cols[c]. Columns are only ever added. */
  readonly names: string[] = [];
  /** `"name":` of each column, as answers write it. */
  readonly keysJson: string[] = [];
  readonly cols: Float64Array[] = [];
  /** metric name -> column number. A Map, so no metric name can reach an object prototype. */
  private readonly index = new Map<string, number>();
  private head = 0;
  length = 0;
  /** Where the last insert put its row (0 = the oldest): whether it went before rows already there. */
  lastInsertAt = 0;
  /** Id index: hash bits | physical slot + 1, 0 for an empty place; a power of two >= 1.5 * allocation. */
  private idIndex: Int32Array;
  private idMask: number;
  /** Per physical slot: where its entry is in idIndex, so a row that moves moves its entry in O(1). */
  private idAt: Int32Array;
  /** Entry bits holding slot + 1; the bits above hold the hash. */
  private readonly slotMask: number;
  /**
   * False while a log replays (see suspendIdIndex): the index is left alone until resumeIdIndex
   * builds it whole.
   */
  private indexing = true;

  /**
   * `initialRows` (16 to 31) staggers growth: devices fed evenly would otherwise all double at the
   * same moment, and the shard would stall for all their copies at once.
   */
  constructor(
    readonly capacity: number,
    initialRows = INITIAL_ROWS,
  ) {
    const rows = Math.min(capacity, initialRows);
    this.ts = new Float64Array(rows);
    this.tagSets = new Uint32Array(rows);
    this.idStart = new Uint32Array(rows);
    this.idLen = new Uint16Array(rows);
    this.idChars = new Uint8Array(rows * INITIAL_ID_CHARS_PER_ROW);
    this.idIndex = new Int32Array(indexSizeFor(rows));
    this.idMask = this.idIndex.length - 1;
    this.idAt = new Int32Array(rows);
    this.slotMask = 2 ** (32 - Math.clz32(capacity)) - 1;
  }

  /**
   * A ring holding the given rows (oldest first, already in key order), as exportRows() gives them.
   * `ids`: id columns (exportRows), one string of ids joined by newlines (snapshots of format 1), or a list.
   * `indexed` false: the id index is left suspended (see suspendIdIndex), for the caller to build later.
   */
  static fromRows(capacity: number, ts: Float64Array, ids: IdColumns | string | readonly string[], tagSets: Uint32Array, columns: [string, Float64Array][], indexed = true): DeviceRing {
    const n = ts.length;
    if (n > capacity) throw new Error(`DeviceRing.fromRows: ${n} rows exceed capacity ${capacity}`);
    const ring = new DeviceRing(capacity);
    const rows = Math.min(capacity, Math.max(INITIAL_ROWS, n));
    ring.ts = new Float64Array(rows);
    ring.ts.set(ts);
    ring.idStart = new Uint32Array(rows);
    ring.idLen = new Uint16Array(rows);
    ring.tagSets = new Uint32Array(rows);
    ring.tagSets.set(tagSets);
    for (const [name, values] of columns) ring.columnFrom(name, values, rows);
    if (typeof ids === 'string') ring.idsFromJoined(ids, n);
    else if (!isIdList(ids)) ring.idsFromColumns(ids, n);
    else {
      for (let i = 0; i < n; i++) {
        ring.idStart[i] = ring.appendId(charsOf(ids[i]!), 0, ids[i]!.length);
        ring.idLen[i] = ids[i]!.length;
        ring.length = i + 1;
      }
    }
    if (indexed) ring.rebuildIdIndex();
    else ring.suspendIdIndex();
    return ring;
  }

  /**
   * Its arrays and positions as they are, for another thread to take over (this ring must not be
   * used after): replay on several threads hands rings over instead of copying them. A suspended
   * id index is not handed over (it is out of date): the taker's ring is suspended too.
   */
  handOver(): RingParts {
    const { ts, tagSets, idChars, idCharsEnd, idCharsLive, idStart, idLen, names, cols, head, length, indexing } = this;
    const idIndex = indexing ? this.idIndex : new Int32Array(0);
    const idAt = indexing ? this.idAt : new Int32Array(0);
    return { ts, tagSets, idChars, idCharsEnd, idCharsLive, idStart, idLen, names, cols, head, length, indexed: indexing, idIndex, idAt };
  }

  /** Takes over handOver() output of a ring of the same capacity. */
  static fromParts(capacity: number, p: RingParts): DeviceRing {
    const rows = p.ts.length;
    const sized = [p.tagSets, p.idStart, p.idLen, ...(p.indexed ? [p.idAt] : []), ...p.cols].every((a) => a.length === rows);
    const indexSize = p.idIndex.length;
    const index = !p.indexed || (indexSize >= 1.5 * rows && (indexSize & (indexSize - 1)) === 0);
    if (!sized || rows > capacity || p.length > rows || p.head >= Math.max(rows, 1) || p.names.length !== p.cols.length || !index || p.idCharsEnd > p.idChars.length) {
      throw new Error(`DeviceRing.fromParts: inconsistent parts (${p.length} of ${rows} rows, capacity ${capacity})`);
    }
    const ring = new DeviceRing(capacity, 1);
    ring.ts = p.ts;
    ring.tagSets = p.tagSets;
    ring.idChars = p.idChars;
    ring.wide = p.idChars.BYTES_PER_ELEMENT === 2;
    ring.idCharsEnd = p.idCharsEnd;
    ring.idCharsLive = p.idCharsLive;
    ring.idStart = p.idStart;
    ring.idLen = p.idLen;
    for (let c = 0; c < p.cols.length; c++) ring.addColumn(p.names[c]!, p.cols[c]!);
    ring.head = p.head;
    ring.length = p.length;
    if (p.indexed) {
      ring.idIndex = p.idIndex;
      ring.idMask = indexSize - 1;
      ring.idAt = p.idAt;
    } else ring.suspendIdIndex();
    return ring;
  }

  /** Renumbers the held rows' tag sets: `to[old]` is each one's new number. */
  renumberTagSets(to: Uint32Array): void {
    const tagSets = this.tagSets;
    for (let i = 0; i < this.length; i++) {
      const s = this.slot(i);
      tagSets[s] = to[tagSets[s]!]!;
    }
  }

  /** Fills an empty ring's arena from id columns, rows 0..n-1. */
  private idsFromColumns({ chars, lengths }: IdColumns, n: number): void {
    if (lengths.length !== n) throw new Error(`DeviceRing.fromRows: ${n} rows but ${lengths.length} id lengths`);
    let total = 0;
    for (let i = 0; i < n; i++) {
      this.idStart[i] = total;
      total += this.idLen[i] = lengths[i]!;
    }
    if (total !== chars.length) throw new Error(`DeviceRing.fromRows: id lengths add up to ${total}, but ${chars.length} characters`);
    this.wide = chars.BYTES_PER_ELEMENT === 2;
    const size = Math.max(INITIAL_ID_CHARS_PER_ROW, total + (total >> 2));
    this.idChars = this.wide ? new Uint16Array(size) : new Uint8Array(size);
    this.idChars.set(chars);
    this.idCharsEnd = this.idCharsLive = total;
    this.length = n;
  }

  /** Fills an empty ring's arena with n ids joined by newlines (as format-1 snapshots hold them), rows 0..n-1. */
  private idsFromJoined(joined: string, n: number): void {
    const total = n === 0 ? 0 : joined.length - (n - 1);
    this.idChars = new Uint8Array(Math.max(INITIAL_ID_CHARS_PER_ROW, total + (total >> 2)));
    let chars: IdChars = this.idChars;
    let row = 0;
    let start = 0;
    let at = 0;
    for (let k = 0; k < joined.length; k++) {
      const c = joined.charCodeAt(k);
      if (c === 10) {
        this.idStart[row] = start;
        this.idLen[row++] = at - start;
        start = at;
        continue;
      }
      if (c > 0xff && !this.wide) chars = this.widen();
      chars[at++] = c;
    }
    if (n > 0) {
      this.idStart[row] = start;
      this.idLen[row++] = at - start;
    }
    if (row !== n) throw new Error(`DeviceRing.fromRows: ${n} rows but ${row} ids`);
    this.idCharsEnd = this.idCharsLive = at;
    this.length = n;
  }

  /** False while the id index is suspended (resumeIdIndex builds it). */
  get indexed(): boolean {
    return this.indexing;
  }

  /** True when a row with this event id is held. */
  hasId(id: string): boolean {
    return this.hasIdChars(charsOf(id), 0, id.length);
  }

  /**
   * True when a row with the event id chars[from..to) is held. `h` is its hashChars, when the
   * caller has it already (it passes the same to the insert that follows).
   */
  hasIdChars(chars: IdChars, from: number, to: number, h = hashChars(chars, from, to - from)): boolean {
    if (!this.indexing) throw new Error('DeviceRing.hasId: the id index is suspended (resumeIdIndex builds it)');
    return this.idPosition(chars, from, to, h) >= 0;
  }

  /**
   * Stops maintaining the id index until resumeIdIndex. For log replay: the log holds no event
   * twice within a dedup window (duplicates are refused before anything is logged), so replay
   * need not look ids up; and building one ring's index at the end touches only that ring's
   * table, where inserting as events arrive, device after device, misses the cache on every one.
   */
  suspendIdIndex(): void {
    this.indexing = false;
  }

  /**
   * Builds the id index from the rows held and maintains it again. Returns how many rows repeat
   * an id held by an older row, which a log that keeps its promise never gives (they stay rows
   * of their own; the index finds the oldest).
   */
  resumeIdIndex(): number {
    this.indexing = true;
    return this.rebuildIdIndex();
  }

  /** Entries in the id index (equal to length when the index is right; for tests). */
  get indexedIds(): number {
    let n = 0;
    for (const v of this.idIndex) if (v !== 0) n++;
    return n;
  }

  /** Where the index holds the id chars[from..to) (whose hash is h), or -1. */
  private idPosition(chars: IdChars, from: number, to: number, h: number): number {
    const index = this.idIndex;
    const mask = this.idMask;
    const slotMask = this.slotMask;
    for (let p = h & mask; ; p = (p + 1) & mask) {
      const v = index[p]!;
      if (v === 0) return -1;
      if (((v ^ h) & ~slotMask) === 0 && this.compareIdChars((v & slotMask) - 1, chars, from, to) === 0) return p;
    }
  }

  /** The event id held at a physical slot. */
  idOf(slot: number): string {
    const from = this.idStart[slot]!;
    return charsString(this.idChars, from, from + this.idLen[slot]!);
  }

  /** The order of the id at a physical slot against the id chars[from..to), as JS compares strings (code units): < 0, 0 or > 0. */
  compareIdChars(slot: number, chars: IdChars, from: number, to: number): number {
    const n = this.idLen[slot]!;
    const m = to - from;
    const at = this.idStart[slot]!;
    const held = this.idChars;
    for (let k = 0, l = n < m ? n : m; k < l; k++) {
      const d = held[at + k]! - chars[from + k]!;
      if (d !== 0) return d;
    }
    return n - m;
  }

  /** The order of the ids at two physical slots: < 0, 0 or > 0. */
  compareIds(a: number, b: number): number {
    const n = this.idLen[a]!;
    const m = this.idLen[b]!;
    const fa = this.idStart[a]!;
    const fb = this.idStart[b]!;
    const chars = this.idChars;
    for (let k = 0, l = n < m ? n : m; k < l; k++) {
      const d = chars[fa + k]! - chars[fb + k]!;
      if (d !== 0) return d;
    }
    return n - m;
  }

  /**
   * Copies the id chars[from..to) into the arena; returns where it starts. Compaction may move
   * every held row's characters, so rows [0, length) must be whole when this runs.
   */
  private appendId(chars: IdChars, from: number, to: number): number {
    const n = to - from;
    if (n > RING_ID_CHARS_MAX) throw new RangeError(`DeviceRing: event id of ${n} characters (at most ${RING_ID_CHARS_MAX})`);
    if (this.idCharsEnd + n > this.idChars.length) this.compactIds(n);
    let arena = this.idChars;
    const at = this.idCharsEnd;
    if (chars.BYTES_PER_ELEMENT === 1 || this.wide) for (let k = 0; k < n; k++) arena[at + k] = chars[from + k]!;
    else {
      for (let k = 0; k < n; k++) {
        const c = chars[from + k]!;
        if (c > 0xff && !this.wide) arena = this.widen();
        arena[at + k] = c;
      }
    }
    this.idCharsEnd = at + n;
    this.idCharsLive += n;
    return at;
  }

  /** A character that needs two bytes arrived: the arena holds UTF-16 code units from now on. */
  private widen(): IdChars {
    const wider = new Uint16Array(this.idChars.length);
    wider.set(this.idChars);
    this.wide = true;
    return (this.idChars = wider);
  }

  /**
   * Makes room for `extra` more characters: the live ids, oldest first, into an arena at least
   * twice what they and `extra` need, so the copying is amortized over as many inserts as there
   * are live characters.
   */
  private compactIds(extra: number): void {
    const need = this.idCharsLive + extra;
    let size = INITIAL_ID_CHARS_PER_ROW;
    while (size < 2 * need) size *= 2;
    this.moveIds(size);
  }

  /** The live ids, oldest first, into an arena of `size` (at least idCharsLive) characters. */
  private moveIds(size: number): void {
    const from = this.idChars;
    const to = this.wide ? new Uint16Array(size) : new Uint8Array(size);
    const start = this.idStart;
    const len = this.idLen;
    let at = 0;
    for (let i = 0; i < this.length; i++) {
      const s = this.slot(i);
      const f = start[s]!;
      const n = len[s]!;
      for (let k = 0; k < n; k++) to[at + k] = from[f + k]!;
      start[s] = at;
      at += n;
    }
    this.idChars = to;
    this.idCharsEnd = at;
  }

  /** Indexes the id held at a physical slot (not yet indexed), whose hash is h. */
  private indexSlot(slot: number, h: number): void {
    const index = this.idIndex;
    const mask = this.idMask;
    let p = h & mask;
    while (index[p] !== 0) p = (p + 1) & mask;
    index[p] = (h & ~this.slotMask) | (slot + 1);
    this.idAt[slot] = p;
  }

  /** As indexSlot, unless an indexed row holds the same id: then false, and the slot is not indexed. */
  private indexSlotUnique(slot: number): boolean {
    const index = this.idIndex;
    const mask = this.idMask;
    const slotMask = this.slotMask;
    const h = hashChars(this.idChars, this.idStart[slot]!, this.idLen[slot]!);
    let p = h & mask;
    for (let v = index[p]!; v !== 0; v = index[p]!) {
      if (((v ^ h) & ~slotMask) === 0 && this.compareIds((v & slotMask) - 1, slot) === 0) return false;
      p = (p + 1) & mask;
    }
    index[p] = (h & ~slotMask) | (slot + 1);
    this.idAt[slot] = p;
    return true;
  }

  /** Removes a physical slot's id from the index, shifting back the entries after it that probed past its place. */
  private unindexSlot(slot: number): void {
    const index = this.idIndex;
    const mask = this.idMask;
    let hole = this.idAt[slot]!;
    index[hole] = 0;
    for (let q = (hole + 1) & mask; index[q] !== 0; q = (q + 1) & mask) {
      const other = (index[q]! & this.slotMask) - 1;
      const home = hashChars(this.idChars, this.idStart[other]!, this.idLen[other]!) & mask;
      // The entry at q may fill the hole unless its home lies cyclically in (hole, q].
      const stays = hole < q ? home > hole && home <= q : home > hole || home <= q;
      if (stays) continue;
      index[hole] = index[q]!;
      this.idAt[(index[q]! & this.slotMask) - 1] = hole;
      index[q] = 0;
      hole = q;
    }
  }

  /** Returns how many rows repeat the id of an older row (left out of the index). */
  private rebuildIdIndex(): number {
    this.idIndex = new Int32Array(indexSizeFor(this.ts.length));
    this.idMask = this.idIndex.length - 1;
    this.idAt = new Int32Array(this.ts.length);
    let repeats = 0;
    for (let i = 0; i < this.length; i++) if (!this.indexSlotUnique(this.slot(i))) repeats++;
    return repeats;
  }

  get allocated(): number {
    return this.ts.length;
  }

  /** Physical slot of logical row i (0 = oldest). */
  slot(i: number): number {
    const s = this.head + i;
    return s >= this.ts.length ? s - this.ts.length : s;
  }

  /** Logical index of the first row whose key is >= (ts, id). */
  lowerBoundKey(ts: number, id: string): number {
    return this.lowerBoundChars(ts, charsOf(id), 0, id.length);
  }

  /** lowerBoundKey with the id chars[from..to). */
  private lowerBoundChars(ts: number, chars: IdChars, from: number, to: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.slot(mid);
      const t = this.ts[s]!;
      if (t < ts || (t === ts && this.compareIdChars(s, chars, from, to) < 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Logical index of the first row with time >= ts. */
  lowerBound(ts: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ts[this.slot(mid)]! < ts) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Logical index of the first row with time > ts. */
  upperBound(ts: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ts[this.slot(mid)]! <= ts) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when (ts, id) sorts before the oldest row. */
  isBeforeOldest(ts: number, id: string): boolean {
    return this.isBeforeOldestChars(ts, charsOf(id), 0, id.length);
  }

  /** isBeforeOldest with the id chars[from..to). */
  isBeforeOldestChars(ts: number, chars: IdChars, from: number, to: number): boolean {
    if (this.length === 0) return false;
    const s = this.head;
    const t = this.ts[s]!;
    return ts < t || (ts === t && this.compareIdChars(s, chars, from, to) > 0);
  }

  /**
   * Inserts a row at its sorted place and returns its physical slot. The caller must have made
   * room (length < capacity) and fills the metric columns through `column()`.
   */
  insert(ts: number, id: string, tagSet: number): number {
    return this.insertChars(ts, charsOf(id), 0, id.length, tagSet);
  }

  /**
   * insert with the id chars[from..to) (copied: the ring keeps no reference to `chars`); `h` is
   * its hashChars, when the caller has it already.
   */
  insertChars(ts: number, chars: IdChars, from: number, to: number, tagSet: number, h?: number): number {
    if (this.length === this.ts.length) this.grow();
    // Before any row moves: a compaction of the arena walks the rows as they are.
    const idFrom = this.appendId(chars, from, to);
    let at = this.length;
    if (at > 0) {
      const last = this.slot(at - 1);
      const lt = this.ts[last]!;
      if (ts < lt || (ts === lt && this.compareIdChars(last, chars, from, to) > 0)) {
        at = this.lowerBoundChars(ts, chars, from, to);
        this.shiftUp(at);
      }
    }
    this.lastInsertAt = at;
    const s = this.slot(at);
    this.ts[s] = ts;
    this.idStart[s] = idFrom;
    this.idLen[s] = to - from;
    if (this.indexing) this.indexSlot(s, h ?? hashChars(chars, from, to - from));
    this.tagSets[s] = tagSet;
    const cols = this.cols;
    for (let c = 0; c < cols.length; c++) cols[c]![s] = NaN;
    this.length++;
    return s;
  }

  /** The number of a metric's column, created (all NaN) on first use. Stable for the ring's life. */
  columnIndex(name: string): number {
    const c = this.index.get(name);
    return c === undefined ? this.columnFrom(name, undefined, this.ts.length) : c;
  }

  /** The column of a metric, created (all NaN) on first use (cols[c] is replaced when the ring grows). */
  column(name: string): Float64Array {
    return this.cols[this.columnIndex(name)]!;
  }

  /** The column of a metric, if any event of the ring ever had it. */
  columnOf(name: string): Float64Array | undefined {
    const c = this.index.get(name);
    return c === undefined ? undefined : this.cols[c];
  }

  private columnFrom(name: string, values: Float64Array | undefined, rows: number): number {
    const col = new Float64Array(rows);
    if (values) col.set(values);
    col.fill(NaN, values ? values.length : 0);
    return this.addColumn(name, col);
  }

  /** Registers a metric's column (as long as the allocation); returns its number. */
  private addColumn(name: string, col: Float64Array): number {
    this.names.push(name);
    this.keysJson.push(JSON.stringify(name) + ':');
    this.cols.push(col);
    this.index.set(name, this.cols.length - 1);
    return this.cols.length - 1;
  }

  /** Forgets the oldest row (the caller reads what it needs from slot(0) first). */
  dropOldest(): void {
    if (this.length === 0) throw new Error('DeviceRing.dropOldest: the ring is empty (a capacity of 0?)');
    if (this.indexing) this.unindexSlot(this.head);
    this.idCharsLive -= this.idLen[this.head]!;
    this.head = this.head + 1 === this.ts.length ? 0 : this.head + 1;
    this.length--;
    if (this.length === 0) this.head = 0;
  }

  /** The rows oldest first, as fresh arrays (for snapshots). */
  exportRows(): { ts: Float64Array; ids: IdColumns; tagSets: Uint32Array; columns: [string, Float64Array][] } {
    const n = this.length;
    return {
      ts: this.ordered(this.ts, new Float64Array(n)),
      ids: { chars: this.orderedIdChars(), lengths: this.ordered(this.idLen, new Uint16Array(n)) },
      tagSets: this.ordered(this.tagSets, new Uint32Array(n)),
      columns: this.names.map((name, c) => [name, this.ordered(this.cols[c]!, new Float64Array(n))]),
    };
  }

  /** A column's rows in logical order: physical [head, head + length) wraps at the allocation, so at most two copies. */
  private ordered<T extends Float64Array | Uint32Array | Uint16Array>(from: T, to: T): T {
    const n = this.length;
    const first = Math.min(n, from.length - this.head);
    to.set(from.subarray(this.head, this.head + first), 0);
    if (first < n) to.set(from.subarray(0, n - first), first);
    return to;
  }

  /**
   * The held ids' characters back to back, oldest row first. Rows that arrived in order lie back
   * to back in the arena already, so this copies a few long runs rather than a million ids.
   */
  private orderedIdChars(): IdChars {
    const n = this.length;
    const out = this.wide ? new Uint16Array(this.idCharsLive) : new Uint8Array(this.idCharsLive);
    const start = this.idStart;
    const len = this.idLen;
    let at = 0;
    for (let i = 0; i < n; ) {
      const s = this.slot(i++);
      const from = start[s]!;
      let end = from + len[s]!;
      for (; i < n; i++) {
        const next = this.slot(i);
        if (start[next] !== end) break;
        end += len[next]!;
      }
      out.set(this.idChars.subarray(from, end), at);
      at += end - from;
    }
    return out;
  }

  /** Bytes of the columns, the id index and the id arena. */
  get bytes(): number {
    const rows = this.ts.length;
    return rows * (8 + 4 + 4 + 2 + 4) + this.idIndex.byteLength + this.idChars.byteLength + this.cols.length * rows * 8;
  }

  /** Moves logical rows [at, length) one place up; the slot for `at` is then free. */
  private shiftUp(at: number): void {
    const first = this.slot(at);
    const last = this.slot(this.length); // the free slot the newest row moves into
    if (first < last) {
      // One run without wrapping: the typed columns move with memmove.
      this.ts.copyWithin(first + 1, first, last);
      this.tagSets.copyWithin(first + 1, first, last);
      this.idStart.copyWithin(first + 1, first, last);
      this.idLen.copyWithin(first + 1, first, last);
      for (const col of this.cols) col.copyWithin(first + 1, first, last);
      if (this.indexing) for (let s = last - 1; s >= first; s--) this.moveIdEntry(s, s + 1);
      return;
    }
    const cols = this.cols;
    for (let i = this.length; i > at; i--) {
      const to = this.slot(i);
      const from = this.slot(i - 1);
      this.ts[to] = this.ts[from]!;
      if (this.indexing) this.moveIdEntry(from, to);
      this.idStart[to] = this.idStart[from]!;
      this.idLen[to] = this.idLen[from]!;
      this.tagSets[to] = this.tagSets[from]!;
      for (const col of cols) col[to] = col[from]!;
    }
  }

  /** The row at slot `from` moves to slot `to`: so does its index entry. */
  private moveIdEntry(from: number, to: number): void {
    const p = this.idAt[from]!;
    this.idIndex[p] = (this.idIndex[p]! & ~this.slotMask) | (to + 1);
    this.idAt[to] = p;
  }

  private grow(): void {
    const rows = this.ts.length;
    const next = Math.min(this.capacity, rows * 2);
    if (next <= rows) throw new Error(`DeviceRing.grow: ring is full (${rows} rows); caller must evict first`);
    this.reallocate(next);
  }

  /**
   * Makes room for at least `rows` rows (at most capacity) in one step, and in the id arena for
   * `idCharsPerRow` characters a new row on average. Replay sizes each ring for the events the log
   * holds for it before applying them, so it never grows them row by row:
   * doubling copies every row again and faults in fresh memory at each step (growth and its
   * copies were a sixth of a 10M-event replay's profile).
   */
  reserve(rows: number, idCharsPerRow = 0): void {
    const want = Math.min(this.capacity, rows);
    if (want > this.ts.length) this.reallocate(want);
    // The id arena for the rows to come, in one step too (the characters of the rows a full ring
    // evicts meanwhile are reclaimed by compaction as it fills).
    const chars = Math.ceil((want - this.length) * idCharsPerRow);
    if (chars > 0 && this.idCharsEnd + chars > this.idChars.length) this.moveIds(this.idCharsLive + chars);
  }

  /** Gives back an allocation more than twice what the rows need (a reserve that overestimated). */
  fit(): void {
    const rows = this.ts.length;
    if (rows <= INITIAL_ROWS || rows <= 2 * this.length) return;
    let next = INITIAL_ROWS;
    while (next < this.length) next *= 2;
    this.reallocate(Math.min(rows, next));
  }

  /** Moves the rows into an allocation of `next` rows (>= length), oldest row first at 0. */
  private reallocate(next: number): void {
    const rows = this.ts.length;
    const n = this.length;
    if (next < n) throw new Error(`DeviceRing.reallocate: ${next} rows cannot hold ${n}`);
    // The rows are [head, head + n) modulo the allocation; they go to [0, n).
    const head = this.head;
    const first = Math.min(n, rows - head);
    const unwrap = <T extends Float64Array | Uint32Array | Uint16Array>(from: T, to: T): T => {
      to.set(from.subarray(head, head + first), 0);
      if (first < n) to.set(from.subarray(0, n - first), first);
      return to;
    };
    const ts = unwrap(this.ts, new Float64Array(next));
    const tagSets = unwrap(this.tagSets, new Uint32Array(next));
    const idStart = unwrap(this.idStart, new Uint32Array(next));
    const idLen = unwrap(this.idLen, new Uint16Array(next));
    // NaN ("no such metric") only where no row was copied: a second pass over fresh memory costs.
    for (let c = 0; c < this.cols.length; c++) this.cols[c] = unwrap(this.cols[c]!, new Float64Array(next).fill(NaN, n));
    this.ts = ts;
    this.idStart = idStart;
    this.idLen = idLen;
    this.tagSets = tagSets;
    this.head = 0;
    if (this.indexing) this.rebuildIdIndex();
  }
}

const isIdList = (ids: IdColumns | readonly string[]): ids is readonly string[] => Array.isArray(ids);

/** Index places for an allocation of `rows`: a power of two, at most 2/3 full. */
function indexSizeFor(rows: number): number {
  let size = 16;
  while (size < 1.5 * rows) size *= 2;
  return size;
}
