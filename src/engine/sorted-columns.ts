// Parallel Float64Array columns kept sorted by column 0 (the key), with cheap removal from the front
// and cheap appends at the back: the shape of both tag postings (key: event time) and minute rollups
// (key: minute start). Data arrives mostly in time order, so an insert is almost always an append;
// a late one is placed by binary search and shifts the tail with copyWithin (a memmove).
//
// Storage is linear: live rows are [start, end). Removing from the front moves `start`; when `end`
// reaches the allocation, the rows are slid back to 0 if at least a quarter of it is free at the
// front, otherwise the allocation doubles. So memory stays within twice the live rows plus a quarter.

const INITIAL_ROWS = 8;

/** The arrays and bounds of a SortedColumns, as they are (no copy): see ShardEngine.handOver. */
export interface ColumnsParts {
  cols: Float64Array[];
  start: number;
  end: number;
}

export class SortedColumns {
  readonly cols: Float64Array[];
  start = 0;
  end = 0;

  constructor(columnCount: number, initialRows = INITIAL_ROWS) {
    this.cols = [];
    for (let c = 0; c < columnCount; c++) this.cols.push(new Float64Array(initialRows));
  }

  get length(): number {
    return this.end - this.start;
  }

  get keys(): Float64Array {
    return this.cols[0]!;
  }

  /** Absolute row of the first key >= k. */
  lowerBound(k: number): number {
    const keys = this.cols[0]!;
    let lo = this.start;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Absolute row of the first key > k. */
  upperBound(k: number): number {
    const keys = this.cols[0]!;
    let lo = this.start;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! <= k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Opens a row for key k after any equal keys and returns its absolute index; callers fill the other columns. */
  insert(k: number): number {
    if (this.end === this.cols[0]!.length) this.makeRoom();
    const keys = this.cols[0]!;
    let at = this.end;
    if (this.end > this.start && keys[this.end - 1]! > k) {
      at = this.upperBound(k);
      for (const col of this.cols) col.copyWithin(at + 1, at, this.end);
    }
    keys[at] = k;
    this.end++;
    return at;
  }

  /** Removes the first n rows. */
  dropFront(n: number): void {
    this.start += n;
    if (this.start >= this.end) this.start = this.end = 0;
  }

  /** Copies of the live rows of every column (for snapshots). */
  exportColumns(): Float64Array[] {
    return this.cols.map((c) => c.slice(this.start, this.end));
  }

  /** Rebuilds from exportColumns() output (rows already sorted). */
  static fromColumns(cols: readonly Float64Array[]): SortedColumns {
    const rows = Math.max(INITIAL_ROWS, cols[0]?.length ?? 0);
    const out = new SortedColumns(cols.length, rows);
    for (let c = 0; c < cols.length; c++) out.cols[c]!.set(cols[c]!);
    out.end = cols[0]?.length ?? 0;
    return out;
  }

  /** Its own arrays and bounds, for another thread to take over (this one must not be used after). */
  parts(): ColumnsParts {
    return { cols: this.cols, start: this.start, end: this.end };
  }

  /** Takes over parts() output as it is. */
  static fromParts(p: ColumnsParts): SortedColumns {
    const alloc = p.cols[0]?.length ?? 0;
    if (p.cols.some((c) => c.length !== alloc) || !(p.start >= 0 && p.start <= p.end && p.end <= alloc)) {
      throw new Error(`SortedColumns.fromParts: rows [${p.start}, ${p.end}) do not fit columns of ${p.cols.map((c) => c.length).join('/')}`);
    }
    const out = new SortedColumns(0);
    out.cols.push(...p.cols);
    out.start = p.start;
    out.end = p.end;
    return out;
  }

  /** Bytes held by the allocation. */
  get bytes(): number {
    return this.cols.length * this.cols[0]!.byteLength;
  }

  private makeRoom(): void {
    const alloc = this.cols[0]!.length;
    if (this.start > 0 && this.start >= alloc >>> 2) {
      for (const col of this.cols) col.copyWithin(0, this.start, this.end);
    } else {
      for (let c = 0; c < this.cols.length; c++) {
        const grown = new Float64Array(alloc * 2);
        grown.set(this.cols[c]!.subarray(this.start, this.end));
        this.cols[c] = grown;
      }
    }
    this.end -= this.start;
    this.start = 0;
  }
}
