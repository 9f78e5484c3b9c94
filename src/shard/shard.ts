// One shard: the actor that owns a ShardEngine and its durable store. Every task for the devices
// this shard owns arrives here, one at a time, on the shard's own thread. Plain class: tests drive
// it without threads.
//
// A state change is applied to the engine, then its record is appended to the log, and the task is
// answered only once the log says the record is durable (group commit, see storage/store.ts).
// Duplicates are decided by the engine before the log, so a duplicate writes nothing.
import type { FiredAlert } from '../engine/alerts.js';
import { bucketsJson } from '../engine/buckets.js';
import { DUPLICATE, ShardEngine, type DeviceState, type EngineLimits, type EngineState } from '../engine/engine.js';
import { ApiError, toWire } from '../errors.js';
import type { StorageIO } from '../storage/io.js';
import { nodeIO } from '../storage/io.js';
import { encodeEvents, encodeRuleAdded, encodeRuleRemoved, packedEventsRecord, RecordType } from '../storage/records.js';
import { SnapshotWriterThread } from '../storage/snapshot-writer.js';
import type { SnapshotState } from '../storage/snapshots.js';
import { ShardStore, type LogRange, type Logger, type StoreOptions } from '../storage/store.js';
import { applyEvents, DeviceGrouper } from './apply.js';
import { countDevices, unpackBatch, type DeviceCount, type EventBatch, type IngestResult, type Reply, type ResultOf, type ShardStats, type Task } from './protocol.js';
import { LogReplay, ReplayHandOff, replayPartOf, type DeviceReserve } from './replay.js';
import { ReplayHelperError, type ReplayHelper, type ReplayHelperFactory } from './replay-thread.js';

/** The shard's store settings; `dir` is this shard's own directory. */
export type ShardStorageOptions = StoreOptions;

export interface ShardOptions {
  index: number;
  limits: EngineLimits;
  /** Tests only: the thread may be told to die. */
  testHooks?: boolean;
  /** Devices this shard may hold; events of new devices past it are refused (429). */
  maxDevices?: number;
  /** Absent: memory only (unit tests). */
  storage?: ShardStorageOptions;
  /** Shared with the front, which writes batches into it for `ingestShared` tasks (shard/batch-slab.ts). */
  batchSlab?: SharedArrayBuffer;
  /** Shared with the front: changes[index] counts this shard's state changes (the query cache's freshness). */
  changes?: Int32Array;
  logLevel?: string;
  /**
   * Threads that replay the log at recovery (the shard's own and helpers; absent: 1), when its
   * segments hold at least `logBytesMin` bytes (a shorter log replays faster alone than a helper
   * takes to start).
   */
  replay?: { threads: number; logBytesMin: number };
  /** Young generation of the shard thread's heap and its replay helpers', in MB (absent or 0: V8's default). */
  youngGenerationMb?: number;
}

type Outcome<T> = T | Promise<T>;

export class Shard {
  private _engine: ShardEngine;
  readonly store: ShardStore | undefined;
  private opened: ResultOf['open'] | undefined;
  private readonly snapshotWriter: SnapshotWriterThread | undefined;

  /**
   * `backgroundSnapshots`: write scheduled snapshots on a thread of their own (real disks only).
   * `replayHelpers`: starts the helpers of a replay on several threads (options.replay).
   */
  constructor(
    readonly options: ShardOptions,
    io: StorageIO = nodeIO,
    private readonly logger: Logger = () => {},
    backgroundSnapshots = false,
    private readonly replayHelpers?: ReplayHelperFactory,
  ) {
    this._engine = new ShardEngine(options.limits);
    if (backgroundSnapshots && options.storage) this.snapshotWriter = new SnapshotWriterThread();
    const writer = this.snapshotWriter;
    this.store = options.storage
      ? new ShardStore(options.storage, io, () => this.snapshotState(), logger, writer ? (dir, seq, state) => writer.write(dir, seq, state) : undefined)
      : undefined;
  }

  /** The shard's state (a recovery that had to start over replaced it). */
  get engine(): ShardEngine {
    return this._engine;
  }

  /** Recovers from the store (snapshot, then log replay). Must run before any other task. */
  /** Idempotent: the worker opens its shard as soon as it starts; later calls answer the same report. */
  open(): ResultOf['open'] {
    if (this.opened) return this.opened;
    const store = this.store;
    if (!store) return (this.opened = { snapshotSeq: null, snapshotsSkipped: 0, segments: 0, records: 0, events: 0, torn: 0, corrupt: 0, seconds: 0 });
    const started = performance.now();
    // Started before the snapshot is read, so their start overlaps it.
    const helpers = this.startReplayHelpers(store.replayBytes());
    let outcome: ReturnType<Shard['recover']> | undefined;
    try {
      outcome = this.recover(store, helpers);
    } catch (e) {
      if (!(e instanceof ReplayHelperError)) throw e;
      this.logger('error', `${e.message}; replaying again on the shard's thread alone`, { shard: this.options.index });
    } finally {
      // Done with (a helper that answered ends by itself), never needed, or failed.
      for (const h of helpers) h.cancel();
    }
    if (outcome === undefined) {
      // A helper failed. Nothing was written (the log opens only after the helpers' parts are
      // in): start over on this thread alone rather than fail start-up, possibly at every restart.
      this._engine = new ShardEngine(this.options.limits);
      outcome = this.recover(store, []);
    }
    const { report, threads } = outcome;
    // The whole recovery: the store's replay, then the helpers' devices (the id indexes come after: indexIds).
    report.seconds = (performance.now() - started) / 1000;
    const waited = helpers.reduce((t, h) => t + h.waitedSeconds, 0);
    this.logger('info', 'shard recovered', { ...report, replayThreads: threads, ...(threads > 1 ? { helperWaitSeconds: Number(waited.toFixed(3)) } : {}) });
    // A replacement thread's state is what the disk held: answers cached before it are not trusted.
    this.changed();
    return (this.opened = report);
  }

  /**
   * Builds the id indexes recovery left to be built (ShardEngine.endReplay) for about `budgetMs`;
   * true while some are left. The shard's thread calls it between tasks until it is done; a
   * device whose events arrive first gets its own at once.
   */
  indexIds(budgetMs: number): boolean {
    const more = this.engine.indexIds(performance.now() + budgetMs);
    const repeats = this.engine.takeIdRepeats();
    if (repeats > 0) {
      // Never expected: duplicates are refused before the log. The rows stay (they are in the rollups too).
      this.logger('error', `the log held ${repeats} events whose event_id an older held event of the same device already has`, { shard: this.options.index });
    }
    return more;
  }

  /** One recovery of the engine from the store, its devices split with `helpers`. */
  private recover(store: ShardStore, helpers: ReplayHelper[]): { report: ResultOf['open']; threads: number } {
    const engine = this.engine;
    let replay: LogReplay | undefined;
    let handOff: ReplayHandOff | undefined;
    // Events (and id code units) per device in the log to replay, so each ring is sized once instead of doubling.
    const counts = new Map<string, DeviceCount>();
    // Where the records are, for the helpers to read them on their own.
    let log: LogRange[] = [];
    const report = store.recover(
      (state) => this.importSnapshot(state),
      (payload, path, offset) => {
        if (replay === undefined) [replay, handOff] = this.beginReplay(counts, helpers, log);
        handOff?.before(path, offset);
        return replay.record(payload);
      },
      {
        survey: (payload) => {
          if (payload[0] === RecordType.EVENTS) countDevices(payload.subarray(1), counts);
        },
        surveyed: (ranges) => {
          log = ranges;
        },
        // Replaying on several threads, whose rings would all grow at once, always pays for the survey.
        surveyLogBytesMin: helpers.length > 0 ? 0 : undefined,
        // Before the log opens for appends: a helper that fails leaves the store closed.
        finish: () => {
          engine.endReplay();
          if (replay !== undefined && handOff !== undefined) {
            // A helper that was not ready before the last record took no part: its devices were all replayed here.
            for (const h of handOff.begun) engine.adopt(h.take());
            engine.moveToEnd(replay.appeared);
          }
        },
      },
    );
    return { report, threads: 1 + (handOff?.begun.length ?? 0) };
  }

  /** Helper threads for a replay of up to `logBytes` (none when one thread is configured, or the log is short). */
  private startReplayHelpers(logBytes: number): ReplayHelper[] {
    const threads = this.options.replay?.threads ?? 1;
    const min = this.options.replay?.logBytesMin ?? 0;
    if (threads <= 1 || !this.replayHelpers || logBytes < min || logBytes === 0) return [];
    const helpers: ReplayHelper[] = [];
    try {
      for (let part = 1; part < threads; part++) helpers.push(this.replayHelpers(this.options.limits, part, threads));
    } catch (e) {
      for (const h of helpers) h.cancel();
      this.logger('error', `could not start a replay helper thread; replaying on one thread (${(e as Error).message})`, { shard: this.options.index });
      return [];
    }
    return helpers;
  }

  /**
   * The first record is about to replay (after the snapshot and the survey): the devices are split
   * into parts, and this thread's rings sized from the survey. The helpers take their parts of the
   * records in `log` as each is ready (ReplayHandOff), their rings sized by them.
   */
  private beginReplay(counts: Map<string, DeviceCount>, helpers: ReplayHelper[], log: LogRange[]): [LogReplay, ReplayHandOff | undefined] {
    const engine = this.engine;
    const parts = helpers.length + 1;
    const held = [...engine.devices.keys()];
    engine.beginReplay();
    const replay = new LogReplay(engine, 0, parts, held);
    const reserves: DeviceReserve[][] = helpers.map(() => []);
    for (const [deviceId, { events, idChars }] of counts) {
      const part = engine.devices.has(deviceId) ? 0 : replayPartOf(deviceId, parts);
      if (part === 0) engine.reserve(deviceId, events, idChars);
      else reserves[part - 1]!.push([deviceId, events, idChars]);
    }
    counts.clear();
    return [replay, helpers.length > 0 ? new ReplayHandOff(engine, replay, helpers, reserves, log, held) : undefined];
  }

  /** The engine's state as a snapshot holds it: each device a part of its own, written and read one at a time. */
  private snapshotState(): SnapshotState {
    const { devices, ...head } = this.engine.exportState();
    return { head: { ...head, devices: [] }, parts: devices };
  }

  private importSnapshot(state: SnapshotState): void {
    // Snapshots of earlier versions hold their devices in the head.
    const head = state.head as EngineState;
    const devices = head.devices.length === 0 ? (state.parts as DeviceState[]) : [...head.devices, ...(state.parts as DeviceState[])];
    this.engine.importState({ ...head, devices });
  }

  private async close(): Promise<true> {
    await this.store?.close();
    await this.snapshotWriter?.close();
    return true;
  }

  /**
   * Applies a batch of events, collecting the alerts they fire (no log: see ingest): device by
   * device (see DeviceGrouper), which ends in the state batch order gives; the alerts are put
   * back in batch order.
   */
  applyBatch(batch: EventBatch): IngestResult {
    const alerts: FiredAlert[] = [];
    const order = this.grouper.group(batch);
    if (order === undefined) return { statuses: applyEvents(this.engine, batch, alerts), alerts };
    const alertAt: number[] = [];
    const statuses = applyEvents(this.engine, batch, alerts, order, alertAt);
    if (alerts.length < 2) return { statuses, alerts };
    // Stable: one event's alerts keep their rule order.
    const byEvent = alerts.map((_, k) => k).sort((a, b) => alertAt[a]! - alertAt[b]! || a - b);
    return { statuses, alerts: byEvent.map((k) => alerts[k]!) };
  }

  private readonly grouper = new DeviceGrouper();

  handle(task: Task): Outcome<Reply<ResultOf[Task['op']]>> {
    try {
      const out = this.dispatch(task);
      if (out instanceof Promise) return out.then((value) => ({ ok: true as const, value }), (e: unknown) => this.failure(e));
      return { ok: true, value: out };
    } catch (e) {
      return this.failure(e);
    }
  }

  stats(): ShardStats {
    return {
      engine: this.engine.stats(),
      store: this.store ? { ...this.store.counters } : null,
      failed: this.store?.failure?.message ?? null,
    };
  }

  private failure(e: unknown): Reply<never> {
    if (e instanceof ApiError) return { ok: false, error: toWire(e) };
    if ((e as { code?: unknown })?.code === 'STORAGE_FAILED') {
      return { ok: false, error: { code: 'SHARD_UNAVAILABLE', message: (e as Error).message } };
    }
    throw e;
  }

  /** Writes are refused once the store failed: nothing could be acknowledged. */
  private writable(): void {
    const failed = this.store?.failure;
    if (failed) throw new ApiError('SHARD_UNAVAILABLE', failed.message);
    if (!this.opened) throw new ApiError('NOT_READY', `shard ${this.options.index} has not finished recovering`);
  }

  private durable<T>(record: Uint8Array | readonly Uint8Array[], value: T): Outcome<T> {
    if (!this.store) return value;
    return this.store.append(record).then(() => value);
  }

  private dispatch(task: Task): Outcome<ResultOf[Task['op']]> {
    const engine = this.engine;
    switch (task.op) {
      case 'ingest':
        return this.ingest(task.batch);
      case 'ingestShared': {
        const slab = this.options.batchSlab;
        if (slab === undefined) throw new Error('ingestShared: this shard was given no batch slab');
        return this.ingest(new Uint8Array(slab, task.at, task.bytes));
      }
      case 'recent':
        return engine.recentJson(task.deviceId, task.fromMs, task.toMs, task.limit);
      case 'aggregate':
        return engine.aggregate(task.metric, task.deviceId, task.fromMs, task.toMs, task.intervalMs, task.maxBuckets);
      case 'search':
        return engine.search(task.tags, task.fromMs, task.toMs, task.limit);
      case 'aggregateJson':
        return bucketsJson(engine.aggregate(task.metric, task.deviceId, task.fromMs, task.toMs, task.intervalMs, task.maxBuckets));
      case 'searchJson':
        return '[' + engine.search(task.tags, task.fromMs, task.toMs, task.limit).json.join(',') + ']';
      case 'addRule':
        this.writable();
        engine.rules.add(task.rule);
        return this.durable(encodeRuleAdded(task.rule), true as const);
      case 'removeRule': {
        this.writable();
        const removed = engine.rules.remove(task.id);
        return removed ? this.durable(encodeRuleRemoved(task.id), true) : false;
      }
      case 'listRules':
        return engine.rules.list();
      case 'stats':
        return this.stats();
      case 'open':
        return this.open();
      case 'close':
        return this.close();
    }
  }

  /** `packed`: a transferred batch, or a view of the slab's block, which nothing may keep past the answer. */
  private ingest(packed: ArrayBuffer | Uint8Array): Outcome<IngestResult> {
    this.writable();
    const batch = unpackBatch(packed);
    this.checkDeviceRoom(batch);
    const result = this.applyBatch(batch);
    const statuses = result.statuses;
    let stored = 0;
    for (let i = 0; i < statuses.length; i++) if (statuses[i] !== DUPLICATE) stored++;
    // Counted before the answer can leave: a read after an acknowledged write sees the change.
    if (stored > 0) this.changed();
    if (!this.store) return result;
    // All duplicates: nothing to write, but the originals may still be on their way to the disk.
    if (stored === 0) return this.store.barrier().then(() => result);
    const record =
      stored === statuses.length ? packedEventsRecord(packed instanceof Uint8Array ? packed : new Uint8Array(packed)) : encodeEvents(batch, (i) => statuses[i] !== DUPLICATE);
    return this.durable(record, result);
  }

  private changed(): void {
    if (this.options.changes) Atomics.add(this.options.changes, this.options.index, 1);
  }

  /**
   * Refuses the whole task (nothing applied) when its new devices would not fit: existing devices
   * keep working once the shard is full, new ones get 429.
   */
  private checkDeviceRoom(batch: EventBatch): void {
    const max = this.options.maxDevices;
    if (max === undefined) return;
    const devices = this.engine.devices;
    if (devices.size < max - batch.devices.length) return; // room for all, even if every one were new
    const fresh = new Set<string>();
    for (const r of batch.devices) if (!devices.has(batch.strings[r]!)) fresh.add(batch.strings[r]!);
    if (devices.size + fresh.size > max) {
      throw new ApiError(
        'TOO_MANY_DEVICES',
        `device limit reached: a shard holds ${devices.size} devices (MAX_DEVICES spread over the shards) and this request has ${fresh.size} new ones. ` +
          'Nothing of its part was stored; parts on other shards may have been, so resending the request later is safe (it is idempotent)',
      );
    }
  }
}
