// The durable store of one shard: its log segments and snapshots under <DATA_DIR>/shard-<i>/.
//
// Group commit: records appended while the shard works through the tasks it has in hand are
// written together, with one write (and, with FSYNC=always, one fdatasync), on the next turn of
// the shard's event loop; every task waiting on them is answered after that. So under load one
// fsync covers many requests, and a lone request waits for one fsync. The fdatasync runs off the
// shard's thread (libuv's pool), one at a time: while it runs the shard applies and writes the
// next tasks, whose waiters go to the next fdatasync, started as soon as this one is done.
//
// A failed write or fsync is never retried (an fsync that failed may have dropped dirty pages
// without saying which: PostgreSQL's lesson). The store stops accepting records, every waiting and
// later append fails, and the shard answers writes with 503 until the service is restarted and
// recovers from what is really on disk.
//
// Snapshot: flush, rotate to a new segment, write the state as of the end of the closed segment,
// then keep the newest two snapshots and the segments after the older one, so a damaged newest
// snapshot still has an older one plus the log to fall back on.
import { emptyHistogram, observe, type HistogramData } from '../metrics/buckets.js';
import { frameHeaderOf, READ_CHUNK_BYTES, scanFramesChunked } from './framing.js';
import type { StorageIO } from './io.js';
import { pathIn } from './io.js';
import { listSegments, segmentName, SegmentLog } from './segments.js';
import { listSnapshots, readSnapshot, removeSnapshot, writeSnapshot, type SnapshotState } from './snapshots.js';

export type FsyncMode = 'always' | 'interval' | 'never';

export const FSYNC_INTERVAL_MS = 100;
const SNAPSHOTS_KEPT = 2;
/**
 * Replays of at least this much log are surveyed first (see recover). Reading the log a second
 * time cost more than sizing saved on 76 MB (1M events: 6-15% slower in three alternating runs)
 * and saved more than it cost on 768 MB (10M events: 5-10% faster in two).
 */
export const SURVEY_LOG_BYTES_MIN = 256 << 20;

export interface StoreOptions {
  dir: string;
  fsync: FsyncMode;
  segmentBytesMax: number;
  /** Take a snapshot once this many log bytes were written since the last one. */
  snapshotLogBytes: number;
  /** ... or once this long has passed with something written (0: only by bytes and at close). */
  snapshotIntervalMs: number;
  /** Survey a replay of this many log bytes or more first (SURVEY_LOG_BYTES_MIN; tests set 0). */
  surveyLogBytesMin?: number;
}

export interface StoreCounters {
  logBytes: number;
  fsyncs: number;
  fsyncSecondsTotal: number;
  fsyncSecondsMax: number;
  fsyncSeconds: HistogramData;
  snapshots: number;
  snapshotSecondsLast: number;
  snapshotBytesLast: number;
  snapshotAtMs: number;
  tornRecords: number;
  corruptSegments: number;
  replaySeconds: number;
  replayedRecords: number;
}

export interface RecoveryReport {
  snapshotSeq: number | null;
  snapshotsSkipped: number;
  segments: number;
  records: number;
  events: number;
  torn: number;
  corrupt: number;
  seconds: number;
}

export interface RecoverOptions {
  survey?: (payload: Buffer) => void;
  /** After the survey: where the replay's records are, segment by segment. */
  surveyed?: (ranges: LogRange[]) => void;
  surveyLogBytesMin?: number;
  finish?: () => void;
}

/** The bytes [start, end) of a log segment's file (start absent: 0): whole, checksummed frames that a replay applies. */
export interface LogRange {
  path: string;
  start?: number;
  end: number;
}

export type Logger = (level: 'info' | 'error', msg: string, fields?: Record<string, unknown>) => void;

/** Writes a snapshot elsewhere (another thread); resolves to its size in bytes. */
export type BackgroundSnapshotWriter = (dir: string, coversSeq: number, state: SnapshotState) => Promise<number>;

export class StorageFailedError extends Error {
  readonly code = 'STORAGE_FAILED';
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

export class ShardStore {
  private log: SegmentLog;
  /** Frames waiting for the next flush, as chunks (header, then the record's parts): written with one writev, never copied together. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private waiters: Waiter[] = [];
  /** Written, waiting for the next fdatasync (FSYNC=always). */
  private unsynced: Waiter[] = [];
  /** Waiting for the fdatasync in flight, if one is. */
  private syncing: Waiter[] | undefined;
  private flushScheduled = false;
  private dirty = false;
  private failed: StorageFailedError | undefined;
  private bytesSinceSnapshot = 0;
  /** recover() ran to the end: the log is open for appends. */
  private recovered = false;
  private lastSnapshotMs = Date.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private snapshotInFlight: Promise<void> | undefined;
  readonly counters: StoreCounters = {
    logBytes: 0,
    fsyncs: 0,
    fsyncSecondsTotal: 0,
    fsyncSecondsMax: 0,
    fsyncSeconds: emptyHistogram(),
    snapshots: 0,
    snapshotSecondsLast: 0,
    snapshotBytesLast: 0,
    snapshotAtMs: Date.now(),
    tornRecords: 0,
    corruptSegments: 0,
    replaySeconds: 0,
    replayedRecords: 0,
  };

  constructor(
    private readonly options: StoreOptions,
    private readonly io: StorageIO,
    private readonly exportState: () => SnapshotState,
    private readonly logger: Logger = () => {},
    private readonly backgroundWriter?: BackgroundSnapshotWriter,
  ) {
    io.mkdirp(options.dir);
    this.log = new SegmentLog(options.dir, io, options.segmentBytesMax, options.fsync !== 'never');
  }

  get failure(): StorageFailedError | undefined {
    return this.failed;
  }

  /** Bytes of log a recovery will replay: the segments after the newest snapshot (more if that one turns out damaged). */
  replayBytes(): number {
    const dir = this.options.dir;
    const after = listSnapshots(this.io, dir)[0] ?? 0;
    return this.bytesOf(listSegments(this.io, dir).filter((seq) => seq > after));
  }

  private bytesOf(segments: readonly number[]): number {
    return segments.reduce((n, seq) => n + this.io.fileSize(pathIn(this.options.dir, segmentName(seq))), 0);
  }

  /**
   * Loads the newest snapshot that checks out and replays the log after it, then opens a fresh
   * segment for appends. `importState` gets the snapshot's state; `apply` each record's payload,
   * with the segment file and the offset of its frame there, and returns how many events it held. Options:
   * - `survey` first sees every record that will be applied (and nothing after), so the caller
   *   can size its state before the replay; only for a log of `surveyLogBytesMin` or more (by
   *   default the store option's, else SURVEY_LOG_BYTES_MIN), since it reads the log twice;
   *   `surveyed` is then told where in the segments' files those records are (for other threads
   *   to read them; the replay cuts damaged segments only after those bytes);
   * - `finish` runs after the last record is applied and before the log is opened for appends
   *   (what completes the caller's state: other threads' parts). If it throws, recovery fails
   *   with the store still closed, so nothing can be appended or snapshotted from a state that
   *   is not whole.
   */
  recover(
    importState: (state: SnapshotState) => void,
    apply: (payload: Buffer, path: string, offset: number) => number,
    { survey, surveyed, surveyLogBytesMin = this.options.surveyLogBytesMin ?? SURVEY_LOG_BYTES_MIN, finish }: RecoverOptions = {},
  ): RecoveryReport {
    const started = performance.now();
    const dir = this.options.dir;
    const report: RecoveryReport = { snapshotSeq: null, snapshotsSkipped: 0, segments: 0, records: 0, events: 0, torn: 0, corrupt: 0, seconds: 0 };
    // A recovery that failed may be run again (replay helpers that failed): count afresh.
    this.bytesSinceSnapshot = 0;
    // A snapshot a crash interrupted before its rename: never complete, never read; clear it away.
    for (const name of this.io.list(dir)) if (name.endsWith('.snap.tmp')) this.io.remove(pathIn(dir, name));
    for (const seq of listSnapshots(this.io, dir)) {
      const snap = readSnapshot(this.io, dir, seq);
      if (snap.ok) {
        importState(snap.state);
        report.snapshotSeq = seq;
        break;
      }
      report.snapshotsSkipped++;
      this.logger('error', `snapshot ${seq} in ${dir} is damaged (${snap.why}); falling back to an older one or the log`);
    }
    const after = report.snapshotSeq ?? 0;
    const segments = listSegments(this.io, dir).filter((s) => s > after);
    let lastSeq = Math.max(after, ...listSegments(this.io, dir), 0);
    // Segment -> bytes the survey found whole (their frames' checksums are not checked twice).
    const checked = new Map<string, number>();
    if (survey && this.bytesOf(segments) >= surveyLogBytesMin) {
      // The same scan as the replay below, so it stops where the replay will: at the end of each
      // segment's valid records, and for good at a damaged one.
      const ranges: LogRange[] = [];
      for (const seq of segments) {
        const path = pathIn(dir, segmentName(seq));
        const scan = scanFramesChunked((buf, position) => this.io.readAt(path, buf, position), survey);
        ranges.push({ path, end: scan.validEnd });
        checked.set(path, scan.validEnd);
        if (scan.stop.kind === 'corrupt') break;
      }
      surveyed?.(ranges);
    }
    let stopped = false;
    for (let k = 0; k < segments.length; k++) {
      const seq = segments[k]!;
      const path = pathIn(dir, segmentName(seq));
      if (stopped) {
        // Replay stopped at damage in an earlier segment: what follows is kept aside, not applied.
        this.io.rename(path, `${path}.after-corrupt`);
        this.logger('error', `log segment ${path} follows a damaged one and was not replayed; kept as ${path}.after-corrupt`);
        continue;
      }
      const t0 = performance.now();
      let events = 0;
      let records = 0;
      const scan = scanFramesChunked(
        (buf, position) => this.io.readAt(path, buf, position),
        (payload, offset) => {
          events += apply(payload, path, offset);
          records++;
        },
        READ_CHUNK_BYTES,
        checked.get(path),
      );
      // Replayed bytes are not in any snapshot yet: the next snapshot (at the latest, at shutdown) covers them.
      this.bytesSinceSnapshot += scan.validEnd;
      report.segments++;
      report.records += records;
      report.events += events;
      const secs = (performance.now() - t0) / 1000;
      this.logger('info', `replayed log segment ${k + 1} of ${segments.length}`, {
        dir,
        segment: seq,
        records,
        events,
        eventsPerSec: secs > 0 ? Math.round(events / secs) : events,
      });
      if (scan.stop.kind === 'torn') {
        report.torn++;
        this.io.truncate(path, scan.validEnd);
        // The cut must be on disk before anything after it is acknowledged, or a second crash
        // could bring the damage back and stop a later replay in front of acknowledged records.
        this.io.syncFile(path);
        this.logger('info', `log segment ${path} ended in a torn record at byte ${scan.stop.offset} (${scan.stop.why}); cut off there`);
      } else if (scan.stop.kind === 'corrupt') {
        report.corrupt++;
        const copy = `${path}.corrupt`;
        this.io.copy(path, copy);
        this.io.syncFile(copy);
        this.io.truncate(path, scan.validEnd);
        this.io.syncFile(path);
        stopped = true;
        this.logger(
          'error',
          `log segment ${path} is damaged at byte ${scan.stop.offset} (${scan.stop.why}): replay stopped there with ${report.records} records applied; the damaged segment is kept as ${copy}`,
        );
      }
    }
    lastSeq = Math.max(lastSeq, ...segments);
    if (report.torn + report.corrupt > 0) this.io.fsyncDir(dir); // the copies and renames above
    finish?.();
    this.recovered = true;
    this.log.start(lastSeq);
    report.seconds = (performance.now() - started) / 1000;
    this.counters.tornRecords += report.torn;
    this.counters.corruptSegments += report.corrupt;
    this.counters.replaySeconds = report.seconds;
    this.counters.replayedRecords = report.records;
    this.startTimers();
    return report;
  }

  /**
   * Queues one record; resolves once it is as durable as FSYNC says, and never before its bytes
   * were written: its parts are checksummed now and written as they are then, so they must not
   * change until the promise settles (the front's batch slab reuses a block once it has).
   */
  append(record: Uint8Array | readonly Uint8Array[]): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const parts = record instanceof Uint8Array ? [record] : record;
    const header = frameHeaderOf(parts);
    this.pending.push(header);
    this.pendingBytes += header.length;
    for (const p of parts) {
      this.pending.push(p);
      this.pendingBytes += p.length;
    }
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return done;
  }

  /**
   * Resolves once everything appended so far is as durable as FSYNC says: an answer that depends
   * on earlier records (a duplicate of an event still being committed) must not overtake them.
   */
  barrier(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const queue = this.pending.length > 0 ? this.waiters : this.unsynced.length > 0 ? this.unsynced : this.syncing;
    if (queue === undefined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => queue.push({ resolve, reject }));
  }

  /** Writes (and, per FSYNC, syncs) everything queued, then answers its waiters. */
  flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const chunks = this.pending;
    const bytes = this.pendingBytes;
    const waiters = this.waiters;
    this.pending = [];
    this.pendingBytes = 0;
    this.waiters = [];
    if (this.failed) {
      for (const w of waiters) w.reject(this.failed);
      return;
    }
    try {
      this.log.append(chunks);
      this.counters.logBytes += bytes;
      this.bytesSinceSnapshot += bytes;
    } catch (e) {
      this.fail(e as Error);
      for (const w of waiters) w.reject(this.failed!);
      return;
    }
    if (this.options.fsync === 'always') {
      for (const w of waiters) this.unsynced.push(w);
      this.startSync();
    } else {
      this.dirty = true;
      for (const w of waiters) w.resolve();
    }
    try {
      if (this.bytesSinceSnapshot >= this.options.snapshotLogBytes) this.requestSnapshot();
      else if (this.log.full) this.rotate();
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** Starts an fdatasync for everything written so far, unless one is in flight (it starts the next). */
  private startSync(): void {
    if (this.syncing || this.unsynced.length === 0 || this.failed) return;
    const batch = this.unsynced;
    this.unsynced = [];
    this.syncing = batch;
    const t0 = performance.now();
    this.log.syncLater().then(
      () => {
        this.syncing = undefined;
        this.countSync(t0);
        for (const w of batch) w.resolve();
        this.startSync();
      },
      (e: unknown) => {
        this.syncing = undefined;
        this.fail(e as Error);
        for (const w of batch) w.reject(this.failed!);
      },
    );
  }

  /** Syncs and closes the segment, starts the next; what was waiting for a sync is durable now. */
  private rotate(): number {
    const closed = this.log.rotate();
    const durable = this.unsynced;
    this.unsynced = [];
    for (const w of durable) w.resolve();
    return closed;
  }

  /** A scheduled snapshot: on the writer thread when there is one, so ingestion pauses only for the state copy. */
  requestSnapshot(): void {
    if (this.backgroundWriter) this.snapshotInBackground(this.backgroundWriter);
    else this.snapshot();
  }

  private snapshotInBackground(writer: BackgroundSnapshotWriter): void {
    if (this.failed || this.snapshotInFlight) return;
    this.flush();
    if (this.failed) return;
    const t0 = performance.now();
    let covers: number;
    let state: SnapshotState;
    const bytesBefore = this.bytesSinceSnapshot;
    try {
      covers = this.rotate();
      state = this.exportState();
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    const copySecs = (performance.now() - t0) / 1000;
    this.bytesSinceSnapshot = 0;
    this.snapshotInFlight = writer(this.options.dir, covers, state).then(
      (bytes) => {
        this.snapshotInFlight = undefined;
        try {
          this.snapshotWritten(covers, bytes, t0, copySecs);
        } catch (e) {
          this.fail(e as Error);
        }
      },
      (e: unknown) => {
        this.snapshotInFlight = undefined;
        // The log still holds everything: a failed snapshot costs a longer replay, not data.
        this.bytesSinceSnapshot += bytesBefore;
        this.logger('error', `snapshot of ${this.options.dir} failed (${(e as Error).message}); the log still has everything, will try again`);
      },
    );
  }

  /** After a snapshot file is in place: prune what it makes unnecessary, count it. */
  private snapshotWritten(covers: number, bytes: number, t0: number, pausedSecs: number): void {
    const snaps = listSnapshots(this.io, this.options.dir);
    for (const old of snaps.slice(SNAPSHOTS_KEPT)) removeSnapshot(this.io, this.options.dir, old);
    // Segments after the older kept snapshot stay, so it can stand in for a damaged newer one;
    // with a single snapshot every segment stays.
    const oldestKept = snaps[SNAPSHOTS_KEPT - 1];
    if (oldestKept !== undefined) this.log.removeThrough(oldestKept);
    const secs = (performance.now() - t0) / 1000;
    this.counters.snapshots++;
    this.counters.snapshotSecondsLast = secs;
    this.counters.snapshotBytesLast = bytes;
    this.counters.snapshotAtMs = Date.now();
    this.lastSnapshotMs = Date.now();
    this.logger('info', 'snapshot written', {
      dir: this.options.dir,
      coversSegment: covers,
      bytes,
      seconds: Number(secs.toFixed(3)),
      ingestPausedSeconds: Number(pausedSecs.toFixed(3)),
    });
  }

  /** Flush, rotate, write the state, prune old snapshots and segments. */
  snapshot(): void {
    if (this.failed) return;
    this.flush();
    if (this.failed) return;
    const t0 = performance.now();
    try {
      const covers = this.rotate();
      const bytes = writeSnapshot(this.io, this.options.dir, covers, this.exportState());
      this.bytesSinceSnapshot = 0;
      const secs = (performance.now() - t0) / 1000;
      this.snapshotWritten(covers, bytes, t0, secs);
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** Waits for a snapshot being written, then flushes, syncs, snapshots (if anything changed) and closes. */
  async close(): Promise<void> {
    // A recovery that failed opened nothing: there is nothing to flush, and a snapshot of a
    // state that is not whole must never be written.
    if (!this.recovered) return;
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    if (this.snapshotInFlight) await this.snapshotInFlight;
    this.flush();
    // The waiters of the fdatasync in flight are answered before the shard closes.
    await this.log.settled();
    if (!this.failed && this.bytesSinceSnapshot > 0) this.snapshot();
    try {
      // After a failed write or fsync, never fsync again: close without it.
      this.log.close(!this.failed);
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private sync(): void {
    const t0 = performance.now();
    this.log.sync();
    this.countSync(t0);
    this.dirty = false;
  }

  private countSync(t0: number): void {
    const secs = (performance.now() - t0) / 1000;
    this.counters.fsyncs++;
    this.counters.fsyncSecondsTotal += secs;
    if (secs > this.counters.fsyncSecondsMax) this.counters.fsyncSecondsMax = secs;
    observe(this.counters.fsyncSeconds, secs);
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = new StorageFailedError(`the log in ${this.options.dir} could not be written (${e.message}); this shard no longer accepts writes until the service is restarted`);
    this.logger('error', this.failed.message);
    // Written but never to be synced: nothing can be promised about them.
    const stranded = this.unsynced;
    this.unsynced = [];
    for (const w of stranded) w.reject(this.failed);
  }

  private startTimers(): void {
    if (this.options.fsync === 'interval') {
      const t = setInterval(() => {
        if (!this.dirty || this.failed) return;
        try {
          this.sync();
        } catch (e) {
          this.fail(e as Error);
        }
      }, FSYNC_INTERVAL_MS);
      t.unref();
      this.timers.push(t);
    }
    if (this.options.snapshotIntervalMs > 0) {
      const t = setInterval(() => {
        if (this.bytesSinceSnapshot > 0 && Date.now() - this.lastSnapshotMs >= this.options.snapshotIntervalMs) this.requestSnapshot();
      }, Math.min(this.options.snapshotIntervalMs, 60_000));
      t.unref();
      this.timers.push(t);
    }
  }
}
