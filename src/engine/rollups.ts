// Minute rollups of one (device, metric) series: for each UTC minute that has samples, the count,
// sum, min and max of that metric's values. They are kept longer than raw events, so an aggregate at
// a whole-minute interval stays exact after the raw events of its range have aged out.
import { SortedColumns, type ColumnsParts } from './sorted-columns.js';

export const MINUTE_MS = 60_000;

const KEY = 0;
const COUNT = 1;
const SUM = 2;
const MIN = 3;
const MAX = 4;

export const minuteOf = (ts: number): number => Math.floor(ts / MINUTE_MS) * MINUTE_MS;

/** Receives a bucket's partial numbers; the caller owns the bucketing. */
export type BucketSink = (bucketStartMs: number, count: number, sum: number, min: number, max: number) => void;

export class MinuteRollup {
  // The newest minute's numbers while events keep landing in it: such an event then touches this
  // object alone instead of five columns (three metrics an event, every event). Its row exists in
  // the columns; settle() writes these numbers back into it before anything reads or moves rows.
  // openAt is that row, -1 when no minute is open.
  private openAt = -1;
  private openMinute = 0;
  private openCount = 0;
  private openSum = 0;
  private openMin = 0;
  private openMax = 0;

  constructor(private readonly rows = new SortedColumns(5)) {}

  /** minute start, count, sum, min, max columns (for snapshots). */
  exportColumns(): Float64Array[] {
    this.settle();
    return this.rows.exportColumns();
  }

  static fromColumns(cols: readonly Float64Array[]): MinuteRollup {
    return new MinuteRollup(SortedColumns.fromColumns(cols));
  }

  /** Its columns as they are (the open minute written back first), for another thread to take over. */
  handOver(): ColumnsParts {
    this.settle();
    return this.rows.parts();
  }

  static fromParts(p: ColumnsParts): MinuteRollup {
    if (p.cols.length !== 5) throw new Error(`MinuteRollup.fromParts: ${p.cols.length} columns, not 5`);
    return new MinuteRollup(SortedColumns.fromParts(p));
  }

  get minutes(): number {
    return this.rows.length;
  }

  get bytes(): number {
    return this.rows.bytes;
  }

  add(ts: number, value: number): void {
    const minute = minuteOf(ts);
    if (this.openAt >= 0 && minute === this.openMinute) {
      this.openCount += 1;
      this.openSum += value;
      if (value < this.openMin) this.openMin = value;
      if (value > this.openMax) this.openMax = value;
      return;
    }
    this.settle();
    const rows = this.rows;
    const cols = rows.cols;
    let at = rows.end - 1;
    // Fast path: the newest minute; otherwise look the minute up.
    if (at < rows.start || cols[KEY]![at] !== minute) {
      const lb = rows.lowerBound(minute);
      if (lb < rows.end && cols[KEY]![lb] === minute) at = lb;
      else {
        at = rows.insert(minute);
        cols[COUNT]![at] = 1;
        cols[SUM]![at] = value;
        cols[MIN]![at] = value;
        cols[MAX]![at] = value;
        this.open(at, minute);
        return;
      }
    }
    cols[COUNT]![at]! += 1;
    cols[SUM]![at]! += value;
    if (value < cols[MIN]![at]!) cols[MIN]![at] = value;
    if (value > cols[MAX]![at]!) cols[MAX]![at] = value;
    this.open(at, minute);
  }

  /** Keeps row `at` in the fields when it is the newest (a late event's older minute is not). */
  private open(at: number, minute: number): void {
    if (at !== this.rows.end - 1) return;
    const cols = this.rows.cols;
    this.openAt = at;
    this.openMinute = minute;
    this.openCount = cols[COUNT]![at]!;
    this.openSum = cols[SUM]![at]!;
    this.openMin = cols[MIN]![at]!;
    this.openMax = cols[MAX]![at]!;
  }

  /** Writes the open minute's numbers into its row and closes it. */
  private settle(): void {
    const at = this.openAt;
    if (at < 0) return;
    const cols = this.rows.cols;
    cols[COUNT]![at] = this.openCount;
    cols[SUM]![at] = this.openSum;
    cols[MIN]![at] = this.openMin;
    cols[MAX]![at] = this.openMax;
    this.openAt = -1;
  }

  /** Drops the minutes that start before horizonMs; returns how many went. */
  dropBefore(horizonMs: number): number {
    // The usual case, every minute of every series: nothing is that old. Answered from the oldest
    // key alone, without closing the open minute or searching.
    const rows = this.rows;
    if (rows.length === 0 || rows.keys[rows.start]! >= horizonMs) return 0;
    this.settle();
    const n = rows.lowerBound(horizonMs) - rows.start;
    if (n > 0) rows.dropFront(n);
    return n;
  }

  /** Feeds the minutes starting in [fromMs, toMs) to the sink, bucketed by intervalMs (a whole number of minutes). */
  collect(fromMs: number, toMs: number, intervalMs: number, sink: BucketSink): void {
    this.settle();
    const rows = this.rows;
    const cols = rows.cols;
    const keys = cols[KEY]!;
    const count = cols[COUNT]!;
    const sum = cols[SUM]!;
    const min = cols[MIN]!;
    const max = cols[MAX]!;
    const stop = rows.lowerBound(toMs);
    let i = rows.lowerBound(fromMs);
    while (i < stop) {
      // Fold every minute of one bucket before handing it on.
      const bucket = Math.floor(keys[i]! / intervalMs) * intervalMs;
      const bucketEnd = bucket + intervalMs;
      let c = 0;
      let s = 0;
      let lo = Infinity;
      let hi = -Infinity;
      while (i < stop && keys[i]! < bucketEnd) {
        c += count[i]!;
        s += sum[i]!;
        if (min[i]! < lo) lo = min[i]!;
        if (max[i]! > hi) hi = max[i]!;
        i++;
      }
      sink(bucket, c, s, lo, hi);
    }
  }
}
