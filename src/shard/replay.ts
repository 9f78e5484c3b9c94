// Log replay: a shard's logged records applied to its engine at recovery, device by device. The
// devices may be split into parts, each replayed by a thread of its own from the same records
// (replay-thread.ts); part 0 is the shard's own thread, which also applies rule changes and
// keeps every device the engine held before the replay (from a snapshot).
import { ShardEngine, type EngineHandover, type EngineLimits } from '../engine/engine.js';
import { hashId } from '../engine/ring.js';
import { READ_CHUNK_BYTES, scanFramesChunked } from '../storage/framing.js';
import { decodeRecord, RecordType } from '../storage/records.js';
import type { LogRange } from '../storage/store.js';
import { applyEvents, DeviceGrouper } from './apply.js';
import type { EventBatch } from './protocol.js';
import type { ReplayHelper } from './replay-thread.js';

/** A device's events in the log to replay and their ids' code units (the survey's count), to size its ring. */
export type DeviceReserve = readonly [deviceId: string, events: number, idChars: number];

/** The replay part a device new to the engine belongs to. Not the shard routing's hash: with as many parts as shards, that one would put all of a shard's devices in one part. */
export const replayPartOf = (deviceId: string, parts: number): number => (hashId(deviceId) >>> 0) % parts;

export class LogReplay {
  /** Device -> whether this part applies its events (it changes once at most: see handOff). */
  private readonly mine = new Map<string, boolean>();
  private readonly held: ReadonlySet<string>;
  /** Part 0: the parts whose helper took over their devices (until then part 0 applies them). */
  private readonly handedOff: boolean[] = [];
  /** Devices new to the engine, all parts', in the order of their first event in the log (kept by part 0 only). */
  readonly appeared: string[] = [];
  private readonly grouper = new DeviceGrouper();

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
    this.held = new Set(held);
    for (const id of this.held) this.mine.set(id, part === 0);
  }

  /** True when this part applies the device's events. */
  owns(deviceId: string): boolean {
    let mine = this.mine.get(deviceId);
    if (mine === undefined) {
      const part = replayPartOf(deviceId, this.parts);
      mine = part === this.part || (this.part === 0 && this.handedOff[part] !== true);
      this.mine.set(deviceId, mine);
      if (this.part === 0) this.appeared.push(deviceId);
    }
    return mine;
  }

  /**
   * Part 0 only: part `part`'s helper takes over its devices from the next record on. Returns
   * those that appeared so far (part 0 applied their events until now, and hands them over as
   * they are); part 0 applies none of that part's events after.
   */
  handOff(part: number): string[] {
    if (this.part !== 0 || part <= 0 || part >= this.parts || this.handedOff[part] === true) throw new Error(`LogReplay.handOff: part ${part} cannot be handed off`);
    this.handedOff[part] = true;
    const ids: string[] = [];
    for (const [id, mine] of this.mine) {
      if (mine && !this.held.has(id) && replayPartOf(id, this.parts) === part) {
        this.mine.set(id, false);
        ids.push(id);
      }
    }
    return ids;
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

  /** Applies this part's events of a logged batch device by device (see DeviceGrouper). */
  private events(batch: EventBatch): void {
    const order = this.grouper.group(batch, this.ownsDevice);
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

  /**
   * Before the first record it reads: the devices part 0 keeps, this part's devices as part 0
   * replayed them until then (`handover`), and the events the rest of the log holds for each of
   * this part's.
   */
  begin(held: readonly string[], reserve: readonly DeviceReserve[], handover: EngineHandover): void {
    this.replay = new LogReplay(this.engine, this.part, this.parts, held);
    this.engine.adopt(handover);
    for (const [id, events, idChars] of reserve) this.engine.reserve(id, events, idChars);
  }

  /**
   * Applies this part's events of every record in `log` (the ranges the shard's survey found
   * whole), calling `progress` after each record. The ranges were checked already, so a range
   * that does not scan to its end means the file changed under the replay: that throws.
   */
  replayLog(readAt: ReadFileAt, log: readonly LogRange[], progress: () => void = () => {}): void {
    for (const { path, start = 0, end } of log) {
      const scan = scanFramesChunked(
        (buf, position) => (start + position >= end ? 0 : readAt(path, buf.subarray(0, Math.min(buf.length, end - start - position)), start + position)),
        (payload) => {
          this.replay.record(payload);
          progress();
        },
        READ_CHUNK_BYTES,
        // The survey checked these bytes' frames.
        end - start,
      );
      if (scan.stop.kind !== 'end' || start + scan.validEnd !== end) {
        throw new Error(`log segment ${path} does not read as it did in the survey (${scan.stop.kind} at byte ${start + scan.validEnd} of ${end})`);
      }
    }
  }

  /** Ends the replay (the id indexes of this part's devices) and gives the devices up. */
  handOver(): EngineHandover {
    return this.engine.handOver();
  }
}

/**
 * Part 0's side of a replay on several threads (the shard's own thread). A helper thread takes
 * 0.15–0.25 s to start here (a Node worker, then its modules), about as long as the survey of a
 * 1M-event log. A helper that started late used to start its part from the first record all the
 * same, and the shard's thread waited for it at the end (one that never started cost a 10 s
 * wait, then a second replay). So part 0 applies every part's events from the first record on,
 * and at the first record after a helper is ready hands it the devices of its part as they are,
 * with where the log goes on; the threads then split what is left, and a helper that is not
 * ready by the last record takes no part.
 */
export class ReplayHandOff {
  /** Numbers (in `helpers`) of the helpers that have not taken their part yet. */
  private readonly waiting: number[];
  /** The helpers that took their part, in the order they did. */
  readonly begun: ReplayHelper[] = [];

  /**
   * `reserves[k]`: the survey's count of each device of helper k's part (part k + 1); `log`: the
   * survey's ranges; `held`: the devices part 0 keeps whatever their part.
   */
  constructor(
    private readonly engine: ShardEngine,
    private readonly replay: LogReplay,
    private readonly helpers: readonly ReplayHelper[],
    private readonly reserves: readonly (readonly DeviceReserve[])[],
    private readonly log: readonly LogRange[],
    private readonly held: readonly string[],
  ) {
    this.waiting = helpers.map((_, k) => k);
  }

  /** Before the record whose frame is at `offset` in the segment file `path`: the helpers that are ready take their parts. */
  before(path: string, offset: number): void {
    if (this.waiting.length === 0) return;
    for (let w = this.waiting.length - 1; w >= 0; w--) {
      const k = this.waiting[w]!;
      if (!this.helpers[k]!.ready) continue;
      this.waiting.splice(w, 1);
      this.handOff(k, path, offset);
    }
  }

  private handOff(k: number, path: string, offset: number): void {
    const handover = this.engine.handOverDuringReplay(this.replay.handOff(k + 1));
    // What the rest of the log holds for each device: the survey's count less what was applied here (as far as the ring still holds it).
    const applied = new Map(handover.devices.map((d) => [d.id, d.ring.length]));
    const reserve = this.reserves[k]!.map(([id, events, idChars]): DeviceReserve => {
      const left = Math.max(0, events - (applied.get(id) ?? 0));
      return [id, left, events > 0 ? (idChars * left) / events : 0];
    });
    const at = this.log.findIndex((r) => r.path === path);
    if (at < 0) throw new Error(`ReplayHandOff: ${path} is not among the surveyed segments`);
    const rest: LogRange[] = [{ ...this.log[at]!, start: offset }, ...this.log.slice(at + 1)];
    this.helpers[k]!.begin(this.held, reserve, rest, handover);
    this.begun.push(this.helpers[k]!);
  }
}
