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

const INITIAL_ROWS = 16;

export class DeviceRing {
  ts: Float64Array;
  ids: string[];
  tagSets: Uint32Array;
  /** metric name -> column. A Map, so no metric name can reach an object prototype. */
  readonly columns = new Map<string, Float64Array>();
  private head = 0;
  length = 0;

  constructor(readonly capacity: number) {
    const rows = Math.min(capacity, INITIAL_ROWS);
    this.ts = new Float64Array(rows);
    this.ids = new Array<string>(rows);
    this.tagSets = new Uint32Array(rows);
  }

  /** A ring holding the given rows (oldest first, already in key order), as exportRows() gives them. */
  static fromRows(capacity: number, ts: Float64Array, ids: string[], tagSets: Uint32Array, columns: [string, Float64Array][]): DeviceRing {
    const n = ts.length;
    if (n > capacity) throw new Error(`DeviceRing.fromRows: ${n} rows exceed capacity ${capacity}`);
    const ring = new DeviceRing(capacity);
    const rows = Math.min(capacity, Math.max(INITIAL_ROWS, n));
    ring.ts = new Float64Array(rows);
    ring.ts.set(ts);
    ring.ids = new Array<string>(rows);
    for (let i = 0; i < n; i++) ring.ids[i] = ids[i]!;
    ring.tagSets = new Uint32Array(rows);
    ring.tagSets.set(tagSets);
    for (const [name, values] of columns) {
      const col = new Float64Array(rows).fill(NaN);
      col.set(values);
      ring.columns.set(name, col);
    }
    ring.length = n;
    return ring;
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
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const s = this.slot(mid);
      const t = this.ts[s]!;
      if (t < ts || (t === ts && this.ids[s]! < id)) lo = mid + 1;
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
    if (this.length === 0) return false;
    const s = this.head;
    const t = this.ts[s]!;
    return ts < t || (ts === t && id < this.ids[s]!);
  }

  /**
   * Inserts a row at its sorted place and returns its physical slot. The caller must have made
   * room (length < capacity) and fills the metric columns through `column()`.
   */
  insert(ts: number, id: string, tagSet: number): number {
    if (this.length === this.ts.length) this.grow();
    let at = this.length;
    if (at > 0) {
      const last = this.slot(at - 1);
      const lt = this.ts[last]!;
      if (ts < lt || (ts === lt && id < this.ids[last]!)) {
        at = this.lowerBoundKey(ts, id);
        this.shiftUp(at);
      }
    }
    const s = this.slot(at);
    this.ts[s] = ts;
    this.ids[s] = id;
    this.tagSets[s] = tagSet;
    for (const col of this.columns.values()) col[s] = NaN;
    this.length++;
    return s;
  }

  /** The column of a metric, created (all NaN) on first use. */
  column(name: string): Float64Array {
    let col = this.columns.get(name);
    if (col === undefined) {
      col = new Float64Array(this.ts.length).fill(NaN);
      this.columns.set(name, col);
    }
    return col;
  }

  /** Forgets the oldest row (the caller reads what it needs from slot(0) first). */
  dropOldest(): void {
    this.ids[this.head] = '';
    this.head = this.head + 1 === this.ts.length ? 0 : this.head + 1;
    this.length--;
    if (this.length === 0) this.head = 0;
  }

  /** The rows oldest first, as fresh arrays (for snapshots). */
  exportRows(): { ts: Float64Array; ids: string[]; tagSets: Uint32Array; columns: [string, Float64Array][] } {
    const n = this.length;
    const ts = new Float64Array(n);
    const ids = new Array<string>(n);
    const tagSets = new Uint32Array(n);
    const columns: [string, Float64Array][] = [];
    for (const [name] of this.columns) columns.push([name, new Float64Array(n)]);
    const cols = [...this.columns.values()];
    for (let i = 0; i < n; i++) {
      const s = this.slot(i);
      ts[i] = this.ts[s]!;
      ids[i] = this.ids[s]!;
      tagSets[i] = this.tagSets[s]!;
      for (let c = 0; c < cols.length; c++) columns[c]![1][i] = cols[c]![s]!;
    }
    return { ts, ids, tagSets, columns };
  }

  /** Bytes of the columns (not counting the event id strings themselves). */
  get bytes(): number {
    const rows = this.ts.length;
    return rows * (8 + 4 + 8) + this.columns.size * rows * 8;
  }

  /** Moves logical rows [at, length) one place up; the slot for `at` is then free. */
  private shiftUp(at: number): void {
    const cols = [...this.columns.values()];
    for (let i = this.length; i > at; i--) {
      const to = this.slot(i);
      const from = this.slot(i - 1);
      this.ts[to] = this.ts[from]!;
      this.ids[to] = this.ids[from]!;
      this.tagSets[to] = this.tagSets[from]!;
      for (const col of cols) col[to] = col[from]!;
    }
  }

  private grow(): void {
    const rows = this.ts.length;
    const next = Math.min(this.capacity, rows * 2);
    if (next <= rows) throw new Error(`DeviceRing.grow: ring is full (${rows} rows); caller must evict first`);
    const ts = new Float64Array(next);
    const ids = new Array<string>(next);
    const tagSets = new Uint32Array(next);
    for (let i = 0; i < this.length; i++) {
      const s = this.slot(i);
      ts[i] = this.ts[s]!;
      ids[i] = this.ids[s]!;
      tagSets[i] = this.tagSets[s]!;
    }
    for (const [name, col] of this.columns) {
      const grown = new Float64Array(next).fill(NaN);
      for (let i = 0; i < this.length; i++) grown[i] = col[this.slot(i)]!;
      this.columns.set(name, grown);
    }
    this.ts = ts;
    this.ids = ids;
    this.tagSets = tagSets;
    this.head = 0;
  }
}
