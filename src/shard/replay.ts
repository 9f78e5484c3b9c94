// Log replay: a shard's logged records applied to its engine at recovery, device by device. The
// devices may be split into parts, each replayed by a thread of its own from the same records
// (replay-thread.ts); part 0 is the shard's own thread, which also applies rule changes and
// keeps every device the engine held before the replay (from a snapshot).
import { ShardEngine, type EngineHandover, type EngineLimits } from '../engine/engine.js';
import { hashId } from '../engine/ring.js';
import { scanFramesChunked } from '../storage/framing.js';
import { decodeRecord, RecordType } from '../storage/records.js';
import type { LogRange } from '../storage/store.js';
import { applyEvents, groupByDevice } from './apply.js';
import type { EventBatch } from './protocol.js';

/** A device's events in the log to replay and their ids' code units (the survey's count), to size its ring. */
export type DeviceReserve = readonly [deviceId: string, events: number, idChars: number];

/** The replay part a device new to the engine belongs to. Not the shard routing's hash: with as many parts as shards, that one would put all of a shard's devices in one part. */
export const replayPartOf = (deviceId: string, parts: number): number => (hashId(deviceId) >>> 0) % parts;

export class LogReplay {
  /** Device -> whether this part applies its events (a device's part never changes). */
  private readonly mine = new Map<string, boolean>();
  /** Devices new to the engine, all parts', in the order of their first event in the log (kept by part 0 only). */
  readonly appeared: string[] = [];
  private readonly groupOf = new Map<string, number>();

  /**
   * `held`: the devices the shard's engine held before the replay (part 0's, whatever their
   * hash). The engine must be between beginReplay and endReplay.
   */
  constructor(
    private readonly engine: ShardEngine,
    readonly part = 0,
    readonly parts = 1,
    held: Iterable<string> = [],
  ) {
    for (const id of held) this.mine.set(id, part === 0);
  }

  /** True when this part applies the device's events. */
  owns(deviceId: string): boolean {
    let mine = this.mine.get(deviceId);
    if (mine === undefined) {
      mine = replayPartOf(deviceId, this.parts) === this.part;
      this.mine.set(deviceId, mine);
      if (this.part === 0) this.appeared.push(deviceId);
    }
    return mine;
  }

  /**
   * Applies one logged record: the events of this part's devices, and (part 0) rule changes.
   * Returns how many events the record held, all parts'.
   */
  record(payload: Uint8Array): number {
    const rec = decodeRecord(payload, true);
    switch (rec.type) {
      case RecordType.EVENTS:
        this.events(rec.batch);
        return rec.batch.ts.length;
      case RecordType.RULE_ADDED:
        if (this.part === 0) this.engine.rules.add(rec.rule);
        return 0;
      case RecordType.RULE_REMOVED:
        if (this.part === 0) this.engine.rules.remove(rec.id);
        return 0;
    }
  }

  /** Applies this part's events of a logged batch device by device (see groupByDevice). */
  private events(batch: EventBatch): void {
    const order = groupByDevice(batch, this.groupOf, this.ownsDevice);
    if (order === undefined) applyEvents(this.engine, batch, undefined);
    else if (order.length > 0) applyEvents(this.engine, batch, undefined, order);
  }

  private readonly ownsDevice = (deviceId: string): boolean => this.owns(deviceId);
}

/** Reads `length` bytes of a file at `position` into buf (as StorageIO.readAt). */
export type ReadFileAt = (path: string, buf: Uint8Array, position: number) => number;

/**
 * A helper's part of a replay: an engine of its own that applies the events of part `part` of
 * `parts` from the log, read on its own, then hands its devices over (replay-worker.ts runs one on
 * a thread of its own).
 */
export class ReplayPart {
  private readonly engine: ShardEngine;
  private replay: LogReplay;

  constructor(
    limits: EngineLimits,
    private readonly part: number,
    private readonly parts: number,
  ) {
    this.engine = new ShardEngine(limits);
    this.engine.beginReplay();
    this.replay = new LogReplay(this.engine, part, parts);
  }

  /** Before the first record: the devices part 0 keeps, and what the log holds for each of this part's. */
  begin(held: readonly string[], reserve: readonly DeviceReserve[]): void {
    this.replay = new LogReplay(this.engine, this.part, this.parts, held);
    for (const [id, events, idChars] of reserve) this.engine.reserve(id, events, idChars);
  }

  /**
   * Applies this part's events of every record in `log` (the ranges the shard's survey found
   * whole), calling `progress` after each record. The ranges were checked already, so a range
   * that does not scan to its end means the file changed under the replay: that throws.
   */
  replayLog(readAt: ReadFileAt, log: readonly LogRange[], progress: () => void = () => {}): void {
    for (const { path, end } of log) {
      const scan = scanFramesChunked(
        (buf, position) => (position >= end ? 0 : readAt(path, buf.subarray(0, Math.min(buf.length, end - position)), position)),
        (payload) => {
          this.replay.record(payload);
          progress();
        },
      );
      if (scan.stop.kind !== 'end' || scan.validEnd !== end) {
        throw new Error(`log segment ${path} does not read as it did in the survey (${scan.stop.kind} at byte ${scan.validEnd} of ${end})`);
      }
    }
  }

  /** Ends the replay (the id indexes of this part's devices) and gives the devices up. */
  handOver(): EngineHandover {
    return this.engine.handOver();
  }
}
