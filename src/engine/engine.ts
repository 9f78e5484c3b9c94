// The in-memory state of one shard: the devices it owns, each with its raw ring, minute rollups, tag
// postings and dedup keys, plus the alert rules of those devices. Pure: no I/O, no clock, no threads;
// every input arrives as arguments, so tests drive it directly.
//
// Retention is relative to each device's newest event time (as Prometheus' head is relative to its
// newest sample), never to the wall clock, so backfilled or historical data behaves like live data.
// For a device whose newest event time is T:
// - raw events: the newest `ringCapacity` by (time, event_id) among those with time >= T - rawRetentionMs;
// - rollup minutes: those starting at or after minuteOf(T - rollupRetentionMs);
// - dedup keys: exactly the event ids of the raw events held. So a repeat is recognised as long as
//   its original is held raw; an event too old to be held raw is applied to the rollups only and a
//   repeat of it is not recognised (documented in the README as the dedup window).
// Every one of these sets depends only on which events were accepted, not on their arrival order.
import { AlertRules, satisfies, type AlertRule, type FiredAlert } from './alerts.js';
import { BucketAccumulator, type Buckets } from './buckets.js';
import { DeviceRing, hashChars, hashId, type IdColumns, type RingParts } from './ring.js';
import { MINUTE_MS, MinuteRollup, minuteOf } from './rollups.js';
import { SortedColumns, type ColumnsParts } from './sorted-columns.js';
import { formatIso } from '../time.js';
import { charsString, type IdChars } from '../codec/id-column.js';

export interface EngineLimits {
  ringCapacity: number;
  rawRetentionMs: number;
  rollupRetentionMs: number;
}

export const STORED = 0;
export const DUPLICATE = 1;
export type IngestStatus = typeof STORED | typeof DUPLICATE;

/** Tag sets a device's events recently carried, checked before the shard-wide intern table. */
const RECENT_TAG_SETS = 4;

/**
 * Rows a device's postings may lag behind its ring before ingest adds them. Adding each event's
 * time to its tag set's list as it arrived was 14% of the shard thread's CPU under batch load
 * (bench/RESULTS.md, ninth session): a Map lookup and a list tail per event, both cold among a few
 * hundred devices. In one pass over a device's newest rows they stay in cache; a search adds
 * whatever is left first, so it never sees them behind.
 */
const POSTING_LAG = 256;

export class Device {
  /** Its raw rows; the event ids they hold (indexed by the ring) are the dedup window. */
  readonly ring: DeviceRing;
  /**
   * Tag set id -> times of this device's ring rows carrying exactly that tag set, ascending: one
   * entry per event (not one per tag), and a device usually carries a handful of tag sets. They
   * cover the ring's oldest `postedRows` rows; the rows after those are added in one pass when a
   * search needs them or POSTING_LAG rows wait (see ShardEngine.postRows).
   */
  readonly postings = new Map<number, SortedColumns>();
  postedRows = 0;
  readonly rollups = new Map<string, MinuteRollup>();
  maxTs = -Infinity;
  rollupHorizonMs = -Infinity;
  readonly idJson: string;
  // A device sends the same metrics, in the same order, event after event: the names of its last
  // event and what they resolved to (ring column numbers, rollups; -1/undefined until first used)
  // spare three map lookups per metric per event.
  lastNames: string[] = [];
  lastCols: number[] = [];
  lastRollups: (MinuteRollup | undefined)[] = [];
  /** Recently used tag set ids, newest first. */
  readonly recentTagSets: number[] = [];

  constructor(
    readonly id: string,
    capacity: number,
    ring?: DeviceRing,
  ) {
    // Initial sizes spread by the id's hash, the same on every run, so rings do not all grow at once.
    this.ring = ring ?? new DeviceRing(capacity, 16 + (hashId(id) & 15));
    this.idJson = JSON.stringify(id);
  }
}

/** One device in a snapshot: its raw rows oldest first, and its rollups. */
export interface DeviceState {
  id: string;
  maxTs: number;
  rollupHorizonMs: number;
  ts: Float64Array;
  /**
   * The event ids: their characters back to back and each one's length (two typed arrays pack,
   * transfer and unpack far faster than a million strings); snapshots of earlier versions hold
   * one string of ids joined by newlines, or a list.
   */
  ids: IdColumns | string | string[];
  tagSets: Uint32Array;
  columns: [string, Float64Array][];
  rollups: [string, Float64Array[]][];
}

/** The whole state of a ShardEngine, for snapshots. Postings and dedup keys are rebuilt from the rows. */
export interface EngineState {
  tagSets: string[][];
  devices: DeviceState[];
  /** eventsStored, eventsDuplicate, rawEvicted, rollupMinutesEvicted */
  counters: number[];
  rules: AlertRule[];
  ruleIdMax?: number;
}

/** One device as ShardEngine.handOver gives it: its own arrays, not copies. */
export interface DeviceParts {
  id: string;
  maxTs: number;
  rollupHorizonMs: number;
  ring: RingParts;
  /** Tag set number (of the handing engine) and its posting times, which cover the ring's oldest `postedRows` rows. */
  postings: [number, ColumnsParts][];
  postedRows: number;
  rollups: [string, ColumnsParts][];
}

/**
 * The devices of an engine that replayed part of a log on another thread, for the shard's engine
 * to adopt (ShardEngine.adopt). Every typed array in it is moved across, not copied.
 */
export interface EngineHandover {
  /** The intern key (tags joined by NUL) of each tag set number the devices use; index 0 is the empty set. */
  tagSetKeys: string[];
  devices: DeviceParts[];
  eventsStored: number;
  rawEvicted: number;
  rollupMinutesEvicted: number;
}

/** Search hits, columnar, in answer order (newest first). */
export interface SearchHits {
  ts: number[];
  deviceIds: string[];
  eventIds: string[];
  json: string[];
}

export interface EngineStats {
  devices: number;
  rawEvents: number;
  rawBytes: number;
  rollupSeries: number;
  rollupMinutes: number;
  rollupBytes: number;
  postingsLists: number;
  postingsEntries: number;
  alertRules: number;
  /** Highest alert rule id this shard ever held. */
  ruleIdMax: number;
  tagSets: number;
  eventsStored: number;
  eventsDuplicate: number;
  rawEvicted: number;
  rollupMinutesEvicted: number;
  /** Devices whose id index (dedup) recovery left to be built, not built yet (see endReplay). */
  idIndexesPending: number;
}

/** Newest first across devices: time, then device_id, then event_id, all descending. */
export function compareHitsDesc(
  tsA: number,
  devA: string,
  idA: string,
  tsB: number,
  devB: string,
  idB: string,
): number {
  if (tsA !== tsB) return tsB - tsA;
  if (devA !== devB) return devA < devB ? 1 : -1;
  if (idA !== idB) return idA < idB ? 1 : -1;
  return 0;
}

export class ShardEngine {
  readonly devices = new Map<string, Device>();
  readonly rules = new AlertRules();
  /** Interned tag lists: id 0 is the empty list. */
  private readonly tagSets: string[][] = [[]];
  private readonly tagSetJson: string[] = ['[]'];
  private readonly tagSetIds = new Map<string, number>([['', 0]]);
  private eventsStored = 0;
  private eventsDuplicate = 0;
  private rawEvicted = 0;
  private rollupMinutesEvicted = 0;
  /** Between beginReplay and endReplay: events come from the log, which holds no duplicates. */
  private replaying = false;
  /**
   * Devices whose ring's id index is still to be built (after a replay, an adoption or a
   * snapshot): by indexIds, between tasks, or at once by the device's next event.
   */
  private unindexed: Device[] = [];
  /** Rows found repeating an older row's id while indexes were built, not yet taken (takeIdRepeats). */
  private idRepeats = 0;

  constructor(readonly limits: EngineLimits) {
    // Aggregates read whole minutes from rollups and edges from raw events: that only agrees with
    // itself when rollups outlive raw events (the configuration enforces it for users).
    if (limits.rollupRetentionMs < limits.rawRetentionMs) {
      throw new RangeError(`rollupRetentionMs (${limits.rollupRetentionMs}) must be >= rawRetentionMs (${limits.rawRetentionMs})`);
    }
  }

  /**
   * Applies one event: the single entry point for state changes from events. Its id is the code
   * units ids[idFrom..idTo) (copied; see codec/id-column.ts). Its metrics are the names
   * strings[names[k]] with the values values[k], for k in [mFrom, mTo); its tags strings[tags[k]]
   * for k in [tFrom, tTo) (an event batch's columns, as they come). Fired alerts are appended to
   * `alerts`. Returns STORED or DUPLICATE.
   */
  ingest(
    deviceId: string,
    ids: IdChars,
    idFrom: number,
    idTo: number,
    ts: number,
    strings: readonly string[],
    names: ArrayLike<number>,
    values: ArrayLike<number>,
    mFrom: number,
    mTo: number,
    tags: ArrayLike<number>,
    tFrom: number,
    tTo: number,
    alerts: FiredAlert[] | undefined,
  ): IngestStatus {
    const d = this.devices.get(deviceId) ?? this.newDevice(deviceId);
    // The id's hash, for the dedup lookup and the index entry of the insert (replay does neither).
    let h: number | undefined;
    if (!this.replaying) {
      this.ensureIdIndex(d);
      h = hashChars(ids, idFrom, idTo - idFrom);
      if (d.ring.hasIdChars(ids, idFrom, idTo, h)) {
        this.eventsDuplicate++;
        return DUPLICATE;
      }
    }
    this.eventsStored++;
    if (ts > d.maxTs) d.maxTs = ts;
    const ring = d.ring;
    const rawHorizon = d.maxTs - this.limits.rawRetentionMs;
    const metricNames = this.resolveNames(d, strings, names, mFrom, mTo);

    if (ts >= rawHorizon && !(ring.length === ring.capacity && ring.isBeforeOldestChars(ts, ids, idFrom, idTo))) {
      if (ring.length === ring.capacity) this.evictOldest(d);
      const tagSet = this.tagSetOf(d, strings, tags, tFrom, tTo);
      const s = ring.insertChars(ts, ids, idFrom, idTo, tagSet, h);
      const cols = ring.cols;
      const colOf = d.lastCols;
      for (let k = 0; k < metricNames; k++) {
        let c = colOf[k]!;
        if (c < 0) c = colOf[k] = ring.columnIndex(strings[names[mFrom + k]!]!);
        cols[c]![s] = values[mFrom + k]!;
      }
      if (ring.lastInsertAt < d.postedRows) {
        // A late event, placed among the rows the postings cover already.
        if (tagSet !== 0) this.postingOf(d, tagSet).insert(ts);
        d.postedRows++;
      } else if (ring.length - d.postedRows >= POSTING_LAG && !this.replaying) this.postRows(d);
    }
    while (ring.length > 0 && ring.ts[ring.slot(0)]! < rawHorizon) this.evictOldest(d);

    const rollupHorizon = minuteOf(d.maxTs - this.limits.rollupRetentionMs);
    if (rollupHorizon > d.rollupHorizonMs) {
      d.rollupHorizonMs = rollupHorizon;
      for (const r of d.rollups.values()) this.rollupMinutesEvicted += r.dropBefore(rollupHorizon);
    }
    if (ts >= rollupHorizon) {
      const rollupOf = d.lastRollups;
      for (let k = 0; k < metricNames; k++) {
        let r = rollupOf[k];
        if (r === undefined) {
          const name = strings[names[mFrom + k]!]!;
          r = d.rollups.get(name);
          if (r === undefined) {
            r = new MinuteRollup();
            d.rollups.set(name, r);
          }
          rollupOf[k] = r;
        }
        r.add(ts, values[mFrom + k]!);
      }
    }

    if (alerts !== undefined) {
      const rules = this.rules.forDevice(deviceId);
      if (rules !== undefined) this.evaluate(rules, deviceId, ids, idFrom, idTo, ts, strings, names, values, mFrom, mTo, alerts);
    }
    return STORED;
  }

  /**
   * Log replay starts: events are applied without dedup lookups and the rings' id indexes wait
   * for endReplay. Only for events that were accepted once already (a log's): anything else
   * could store a duplicate.
   */
  beginReplay(): void {
    this.replaying = true;
    for (const d of this.devices.values()) d.ring.suspendIdIndex();
  }

  /**
   * Sizes a device's ring for `events` more events whose ids hold `idChars` code units (creating
   * the device as its first event would) before a replay applies them. Only between beginReplay
   * and endReplay; endReplay gives back what retention or capacity left unused.
   */
  reserve(deviceId: string, events: number, idChars = 0): void {
    if (!this.replaying) throw new Error('ShardEngine.reserve: only during a replay');
    const d = this.devices.get(deviceId) ?? this.newDevice(deviceId);
    d.ring.reserve(d.ring.length + events, events > 0 ? idChars / events : 0);
  }

  /** A device's first event (or replay's sizing of it): its ring, indexing its ids unless a replay runs. */
  private newDevice(deviceId: string): Device {
    const d = new Device(deviceId, this.limits.ringCapacity);
    if (this.replaying) d.ring.suspendIdIndex();
    this.devices.set(deviceId, d);
    return d;
  }

  /**
   * Replay is over. The rings' id indexes are not built here: the engine answers everything
   * without them, and only a device's next event needs its own (dedup), so they are built by
   * indexIds between tasks, or for a device when its next event arrives, whichever comes first.
   * Recovery is then ready sooner by their build (0.03–0.09 s a million events on one thread, in process).
   */
  endReplay(): void {
    if (!this.replaying) return;
    this.replaying = false;
    this.unindexed = [];
    for (const d of this.devices.values()) {
      d.ring.fit();
      if (!d.ring.indexed) this.unindexed.push(d);
    }
  }

  /**
   * Builds waiting id indexes, a device at a time, until `deadline` (performance.now() time; by
   * default all). Returns true while some are still waiting.
   */
  indexIds(deadline = Infinity): boolean {
    const waiting = this.unindexed;
    while (waiting.length > 0) {
      const d = waiting.pop()!;
      this.ensureIdIndex(d);
      // Its postings too (recovery leaves them to be built as well), while its rows are at hand.
      this.postRows(d);
      if (performance.now() >= deadline) break;
    }
    return waiting.length > 0;
  }

  /** Builds the device's id index if it waits for one (counting the repeats it finds). */
  private ensureIdIndex(d: Device): void {
    if (!d.ring.indexed) this.idRepeats += d.ring.resumeIdIndex();
  }

  /** Adds the rows the device's postings do not cover yet (the newest ones: see Device.postings). */
  private postRows(d: Device): void {
    const ring = d.ring;
    const n = ring.length;
    let tagSetBefore = 0;
    let p: SortedColumns | undefined;
    for (let i = d.postedRows; i < n; i++) {
      const s = ring.slot(i);
      const tagSet = ring.tagSets[s]!;
      if (tagSet === 0) continue;
      if (tagSet !== tagSetBefore) {
        p = this.postingOf(d, tagSet);
        tagSetBefore = tagSet;
      }
      // Rows are in time order, and these are the newest: each time goes at the end of its list.
      p!.insert(ring.ts[s]!);
    }
    d.postedRows = n;
  }

  private postingOf(d: Device, tagSet: number): SortedColumns {
    let p = d.postings.get(tagSet);
    if (p === undefined) {
      p = new SortedColumns(1);
      d.postings.set(tagSet, p);
    }
    return p;
  }

  /**
   * Rows found, since the last call, to repeat an older row's id of the same device as indexes
   * were built: a log that keeps its promise never has any (they stay rows of their own).
   */
  takeIdRepeats(): number {
    const n = this.idRepeats;
    this.idRepeats = 0;
    return n;
  }

  /**
   * Ends a replay and gives up every device, as they are, for another engine to adopt: the part
   * of a log replayed on a helper thread. This engine is empty after.
   */
  handOver(): EngineHandover {
    this.endReplay();
    this.unindexed = [];
    const out = { ...this.partsOf([...this.devices.keys()]), eventsStored: this.eventsStored, rawEvicted: this.rawEvicted, rollupMinutesEvicted: this.rollupMinutesEvicted };
    this.eventsStored = this.rawEvicted = this.rollupMinutesEvicted = 0;
    return out;
  }

  /**
   * Gives up the named devices in the middle of a replay, as they are, for another engine to adopt
   * and go on replaying (a helper thread that started after this one: see ReplayHandOff). The
   * counters of the events applied so far stay here.
   */
  handOverDuringReplay(deviceIds: readonly string[]): EngineHandover {
    if (!this.replaying) throw new Error('ShardEngine.handOverDuringReplay: only during a replay');
    return { ...this.partsOf(deviceIds), eventsStored: 0, rawEvicted: 0, rollupMinutesEvicted: 0 };
  }

  /** The devices' own arrays (they leave this engine) and the tag set keys their numbers refer to. */
  private partsOf(deviceIds: readonly string[]): Pick<EngineHandover, 'tagSetKeys' | 'devices'> {
    const tagSetKeys: string[] = [];
    for (const [key, id] of this.tagSetIds) tagSetKeys[id] = key;
    const devices: DeviceParts[] = [];
    for (const id of deviceIds) {
      const d = this.devices.get(id);
      if (d === undefined) continue;
      const postings: [number, ColumnsParts][] = [];
      for (const [tagSet, p] of d.postings) postings.push([tagSet, p.parts()]);
      const rollups: [string, ColumnsParts][] = [];
      for (const [name, r] of d.rollups) rollups.push([name, r.handOver()]);
      devices.push({ id: d.id, maxTs: d.maxTs, rollupHorizonMs: d.rollupHorizonMs, ring: d.ring.handOver(), postings, postedRows: d.postedRows, rollups });
      this.devices.delete(id);
    }
    return { tagSetKeys, devices };
  }

  /**
   * Takes over the devices another engine handed over (handOver), none of which this one holds:
   * their tag sets are interned here and the rows and postings renumbered to match.
   */
  adopt(h: EngineHandover): void {
    const to = new Uint32Array(h.tagSetKeys.length);
    for (let id = 1; id < h.tagSetKeys.length; id++) {
      const key = h.tagSetKeys[id];
      if (key !== undefined) {
        const tags = key.split('\u0000');
        to[id] = this.internTags(tags, Uint32Array.from(tags.keys()), 0, tags.length);
      }
    }
    const capacity = this.limits.ringCapacity;
    for (const dp of h.devices) {
      if (this.devices.has(dp.id)) throw new Error(`ShardEngine.adopt: device ${JSON.stringify(dp.id)} is held already`);
      const ring = DeviceRing.fromParts(capacity, dp.ring);
      ring.renumberTagSets(to);
      const d = new Device(dp.id, capacity, ring);
      d.maxTs = dp.maxTs;
      d.rollupHorizonMs = dp.rollupHorizonMs;
      for (const [tagSet, p] of dp.postings) d.postings.set(to[tagSet]!, SortedColumns.fromParts(p));
      d.postedRows = dp.postedRows;
      for (const [name, p] of dp.rollups) d.rollups.set(name, MinuteRollup.fromParts(p));
      this.devices.set(dp.id, d);
      if (!ring.indexed) this.unindexed.push(d);
    }
    this.eventsStored += h.eventsStored;
    this.rawEvicted += h.rawEvicted;
    this.rollupMinutesEvicted += h.rollupMinutesEvicted;
  }

  /**
   * Moves the given devices, in the given order, after all others: replay on several threads
   * restores the order in which the devices first appeared in the log, which is the order
   * cross-device answers (sums over all devices) add them in.
   */
  moveToEnd(deviceIds: Iterable<string>): void {
    for (const id of deviceIds) {
      const d = this.devices.get(id);
      if (d === undefined) continue;
      this.devices.delete(id);
      this.devices.set(id, d);
    }
  }

  /**
   * Points the device's metric cache at the names strings[names[mFrom..mTo)] (kept when its last
   * event had the same names in the same order); returns how many there are.
   */
  private resolveNames(d: Device, strings: readonly string[], names: ArrayLike<number>, mFrom: number, mTo: number): number {
    const n = mTo - mFrom;
    const last = d.lastNames;
    let same = last.length === n;
    for (let k = 0; same && k < n; k++) same = last[k] === strings[names[mFrom + k]!];
    if (!same) {
      d.lastNames = new Array<string>(n);
      for (let k = 0; k < n; k++) d.lastNames[k] = strings[names[mFrom + k]!]!;
      d.lastCols = new Array<number>(n).fill(-1);
      d.lastRollups = new Array<MinuteRollup | undefined>(n).fill(undefined);
    }
    return n;
  }

  /** The tag set id of the tags strings[tags[from..to)]: one of the device's recent ones, else from the intern table. */
  private tagSetOf(d: Device, strings: readonly string[], tags: ArrayLike<number>, from: number, to: number): number {
    if (from === to) return 0;
    const recent = d.recentTagSets;
    for (let r = 0; r < recent.length; r++) {
      const id = recent[r]!;
      const set = this.tagSets[id]!;
      if (set.length !== to - from) continue;
      let same = true;
      for (let k = 0; same && k < set.length; k++) same = set[k] === strings[tags[from + k]!];
      if (same) return id;
    }
    // An event's tag list with repeats interns to its own id; either id names the same tags.
    const id = this.internTags(strings, tags, from, to);
    if (recent.length === RECENT_TAG_SETS) recent.pop();
    recent.unshift(id);
    return id;
  }

  /** Events of one device with time in [fromMs, toMs], newest first, as a JSON array. */
  recentJson(deviceId: string, fromMs: number, toMs: number, limit: number): string {
    const d = this.devices.get(deviceId);
    if (d === undefined) return '[]';
    const ring = d.ring;
    const lo = ring.lowerBound(fromMs);
    let out = '[';
    for (let i = ring.upperBound(toMs) - 1, n = 0; i >= lo && n < limit; i--, n++) {
      if (n > 0) out += ',';
      out += this.eventJson(d, ring.slot(i));
    }
    return out + ']';
  }

  /**
   * Buckets of one metric over [fromMs, toMs] (one device, or all of this shard's). Whole minutes
   * inside the range come from rollups when the interval is a whole number of minutes; minutes the
   * range edges cut through, and every sub-minute interval, come from raw events.
   */
  aggregate(metric: string, deviceId: string | undefined, fromMs: number, toMs: number, intervalMs: number, maxBuckets: number): Buckets {
    const acc = new BucketAccumulator(maxBuckets);
    if (deviceId !== undefined) {
      const d = this.devices.get(deviceId);
      if (d !== undefined) this.aggregateDevice(d, metric, fromMs, toMs, intervalMs, acc);
    } else {
      for (const d of this.devices.values()) this.aggregateDevice(d, metric, fromMs, toMs, intervalMs, acc);
    }
    return acc.sorted();
  }

  /** Events carrying every one of `tags` with time in [fromMs, toMs], newest first, at most `limit`. */
  search(tags: readonly string[], fromMs: number, toMs: number, limit: number): SearchHits {
    const hits: SearchHits = { ts: [], deviceIds: [], eventIds: [], json: [] };
    if (tags.length === 0 || limit <= 0) return hits;
    const heap: SearchCursor[] = [];
    // Per tag set (shard-wide, few): 1 when it holds every tag asked for, 2 when not, 0 not yet known.
    const verdict = new Uint8Array(this.tagSets.length);
    for (const d of this.devices.values()) {
      if (d.postedRows < d.ring.length) this.postRows(d);
      for (const [tagSet, list] of d.postings) {
        if (verdict[tagSet] === 0) verdict[tagSet] = tags.every((t) => this.tagSets[tagSet]!.includes(t)) ? 1 : 2;
        if (verdict[tagSet] !== 1) continue;
        const c = new SearchCursor(d, list, tagSet, fromMs, toMs);
        if (c.advance()) heapPush(heap, c);
      }
    }
    while (heap.length > 0 && hits.ts.length < limit) {
      const c = heap[0]!;
      const ring = c.device.ring;
      hits.ts.push(c.ts);
      hits.deviceIds.push(c.device.id);
      hits.eventIds.push(ring.idOf(c.slot));
      hits.json.push(this.eventJson(c.device, c.slot));
      if (c.advance()) heapSiftDown(heap, 0);
      else {
        const last = heap.pop()!;
        if (heap.length > 0) {
          heap[0] = last;
          heapSiftDown(heap, 0);
        }
      }
    }
    return hits;
  }

  stats(): EngineStats {
    let rawEvents = 0;
    let rawBytes = 0;
    let rollupSeries = 0;
    let rollupMinutes = 0;
    let rollupBytes = 0;
    let postingsLists = 0;
    let postingsEntries = 0;
    let idIndexesPending = 0;
    for (const d of this.devices.values()) {
      if (!d.ring.indexed) idIndexesPending++;
      rawEvents += d.ring.length;
      rawBytes += d.ring.bytes;
      for (const r of d.rollups.values()) {
        rollupSeries++;
        rollupMinutes += r.minutes;
        rollupBytes += r.bytes;
      }
      for (const p of d.postings.values()) {
        postingsLists++;
        postingsEntries += p.length;
      }
    }
    return {
      devices: this.devices.size,
      rawEvents,
      rawBytes,
      rollupSeries,
      rollupMinutes,
      rollupBytes,
      postingsLists,
      postingsEntries,
      alertRules: this.rules.size,
      ruleIdMax: this.rules.idMax,
      tagSets: this.tagSets.length,
      eventsStored: this.eventsStored,
      eventsDuplicate: this.eventsDuplicate,
      rawEvicted: this.rawEvicted,
      rollupMinutesEvicted: this.rollupMinutesEvicted,
      idIndexesPending,
    };
  }

  exportState(): EngineState {
    const devices: DeviceState[] = [];
    for (const d of this.devices.values()) {
      const rows = d.ring.exportRows();
      const rollups: [string, Float64Array[]][] = [];
      for (const [name, r] of d.rollups) rollups.push([name, r.exportColumns()]);
      devices.push({ id: d.id, maxTs: d.maxTs, rollupHorizonMs: d.rollupHorizonMs, ...rows, rollups });
    }
    return {
      tagSets: this.tagSets,
      devices,
      counters: [this.eventsStored, this.eventsDuplicate, this.rawEvicted, this.rollupMinutesEvicted],
      rules: this.rules.list(),
      ruleIdMax: this.rules.idMax,
    };
  }

  /** Replaces this (empty) engine's state with a snapshot's. */
  importState(s: EngineState): void {
    if (this.devices.size > 0 || this.tagSets.length > 1) throw new Error('importState: engine is not empty');
    for (let id = 1; id < s.tagSets.length; id++) {
      const tags = s.tagSets[id]!;
      this.tagSets.push(tags);
      this.tagSetJson.push(JSON.stringify(tags));
      this.tagSetIds.set(tags.join('\u0000'), id);
    }
    for (const ds of s.devices) {
      // Unindexed, as after a replay (a replay that follows would only have to build it again).
      const d = new Device(ds.id, this.limits.ringCapacity, DeviceRing.fromRows(this.limits.ringCapacity, ds.ts, ds.ids, ds.tagSets, ds.columns, false));
      this.unindexed.push(d);
      d.maxTs = ds.maxTs;
      d.rollupHorizonMs = ds.rollupHorizonMs;
      // Postings are built from the rows later, with the id index (indexIds), or by the first search.
      for (const [name, rc] of ds.rollups) d.rollups.set(name, MinuteRollup.fromColumns(rc));
      this.devices.set(ds.id, d);
    }
    [this.eventsStored, this.eventsDuplicate, this.rawEvicted, this.rollupMinutesEvicted] = s.counters as [number, number, number, number];
    for (const r of s.rules) this.rules.add(r);
    this.rules.idMax = Math.max(this.rules.idMax, s.ruleIdMax ?? 0);
  }

  /** The tags of an interned tag set. */
  tagsOf(tagSet: number): readonly string[] {
    return this.tagSets[tagSet]!;
  }

  /** The JSON object of one raw event, as the API answers it. */
  eventJson(d: Device, slot: number): string {
    const ring = d.ring;
    let metrics = '';
    const cols = ring.cols;
    for (let c = 0; c < cols.length; c++) {
      const v = cols[c]![slot]!;
      if (v !== v) continue; // NaN: this event has no such metric
      metrics += (metrics === '' ? '' : ',') + ring.keysJson[c] + v;
    }
    return (
      '{"event_id":' +
      JSON.stringify(ring.idOf(slot)) +
      ',"device_id":' +
      d.idJson +
      ',"timeStamp":"' +
      formatIso(ring.ts[slot]!) +
      '","metrics":{' +
      metrics +
      '},"tags":' +
      this.tagSetJson[ring.tagSets[slot]!] +
      '}'
    );
  }

  private aggregateDevice(d: Device, metric: string, fromMs: number, toMs: number, intervalMs: number, acc: BucketAccumulator): void {
    if (intervalMs % MINUTE_MS === 0) {
      const rollup = d.rollups.get(metric);
      if (rollup === undefined) return;
      const fullFrom = Math.ceil(fromMs / MINUTE_MS) * MINUTE_MS;
      const fullTo = Math.floor((toMs + 1) / MINUTE_MS) * MINUTE_MS; // exclusive
      if (fullFrom < fullTo) {
        rollup.collect(fullFrom, fullTo, intervalMs, (b, c, s, lo, hi) => acc.add(b, c, s, lo, hi));
        this.aggregateRaw(d, metric, fromMs, fullFrom - 1, intervalMs, acc);
        this.aggregateRaw(d, metric, fullTo, toMs, intervalMs, acc);
        return;
      }
    }
    this.aggregateRaw(d, metric, fromMs, toMs, intervalMs, acc);
  }

  /** Raw samples with time in [fromMs, toMs]. */
  private aggregateRaw(d: Device, metric: string, fromMs: number, toMs: number, intervalMs: number, acc: BucketAccumulator): void {
    if (fromMs > toMs) return;
    const ring = d.ring;
    const col = ring.columnOf(metric);
    if (col === undefined) return;
    const end = ring.upperBound(toMs);
    let i = ring.lowerBound(fromMs);
    while (i < end) {
      const s0 = ring.slot(i);
      const bucket = Math.floor(ring.ts[s0]! / intervalMs) * intervalMs;
      const bucketEnd = bucket + intervalMs;
      let c = 0;
      let sum = 0;
      let lo = Infinity;
      let hi = -Infinity;
      for (; i < end; i++) {
        const s = ring.slot(i);
        if (ring.ts[s]! >= bucketEnd) break;
        const v = col[s]!;
        if (v !== v) continue;
        c++;
        sum += v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (c > 0) acc.add(bucket, c, sum, lo, hi);
    }
  }

  private evictOldest(d: Device): void {
    const ring = d.ring;
    const s = ring.slot(0);
    const tagSet = ring.tagSets[s]!;
    if (d.postedRows > 0) {
      d.postedRows--;
      if (tagSet !== 0) {
        // The oldest row of the device is the oldest of its tag set: its time is the list's first.
        const p = d.postings.get(tagSet)!;
        p.dropFront(1);
        if (p.length === 0) d.postings.delete(tagSet);
      }
    }
    ring.dropOldest();
    this.rawEvicted++;
  }

  private internTags(strings: readonly string[], tags: ArrayLike<number>, from: number, to: number): number {
    if (from === to) return 0;
    // Tags are validated free of control characters, so NUL cannot occur inside one.
    let key = strings[tags[from]!]!;
    for (let i = from + 1; i < to; i++) key += '\u0000' + strings[tags[i]!]!;
    let id = this.tagSetIds.get(key);
    if (id === undefined) {
      const unique: string[] = [];
      for (let i = from; i < to; i++) if (!unique.includes(strings[tags[i]!]!)) unique.push(strings[tags[i]!]!);
      id = this.tagSets.length;
      this.tagSets.push(unique);
      this.tagSetJson.push(JSON.stringify(unique));
      this.tagSetIds.set(key, id);
    }
    return id;
  }

  private evaluate(
    rules: readonly AlertRule[],
    deviceId: string,
    ids: IdChars,
    idFrom: number,
    idTo: number,
    ts: number,
    strings: readonly string[],
    names: ArrayLike<number>,
    values: ArrayLike<number>,
    mFrom: number,
    mTo: number,
    alerts: FiredAlert[],
  ): void {
    for (const rule of rules) {
      for (let i = mFrom; i < mTo; i++) {
        if (strings[names[i]!] !== rule.metric) continue;
        const value = values[i]!;
        if (!satisfies(rule.op, value, rule.threshold)) break;
        const metrics: [string, number][] = [];
        for (let j = mFrom; j < mTo; j++) metrics.push([strings[names[j]!]!, values[j]!]);
        const fired: FiredAlert = {
          device_id: deviceId,
          event_id: charsString(ids, idFrom, idTo),
          time: ts,
          metrics,
          alert_id: rule.id,
          metric: rule.metric,
          op: rule.op,
          threshold: rule.threshold,
          value,
        };
        if (rule.callback_url !== undefined) fired.callback_url = rule.callback_url;
        alerts.push(fired);
        break;
      }
    }
  }
}

/** Walks one device's rows of one matching tag set newest first, driven by that tag set's postings. */
class SearchCursor {
  ts = 0;
  slot = 0;
  private pos: number;
  private runLo = 0;
  private j = 0;

  constructor(
    readonly device: Device,
    private readonly driver: SortedColumns,
    private readonly tagSet: number,
    private readonly fromMs: number,
    toMs: number,
  ) {
    this.pos = driver.upperBound(toMs) - 1;
  }

  advance(): boolean {
    const ring = this.device.ring;
    for (;;) {
      while (this.j > this.runLo) {
        this.j--;
        const s = ring.slot(this.j);
        if (ring.tagSets[s] === this.tagSet) {
          this.ts = ring.ts[s]!;
          this.slot = s;
          return true;
        }
      }
      if (this.pos < this.driver.start) return false;
      const t = this.driver.keys[this.pos]!;
      if (t < this.fromMs) return false;
      this.runLo = ring.lowerBound(t);
      this.j = ring.upperBound(t);
      this.pos = this.driver.lowerBound(t) - 1;
    }
  }
}

/** compareHitsDesc(a, b) < 0, without making id strings: the ids decide only between two rows of one device. */
function before(a: SearchCursor, b: SearchCursor): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  if (a.device !== b.device) return a.device.id > b.device.id;
  return a.device.ring.compareIds(a.slot, b.slot) > 0;
}

function heapPush(heap: SearchCursor[], c: SearchCursor): void {
  heap.push(c);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i]!, heap[parent]!)) break;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function heapSiftDown(heap: SearchCursor[], i: number): void {
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let top = i;
    if (l < heap.length && before(heap[l]!, heap[top]!)) top = l;
    if (r < heap.length && before(heap[r]!, heap[top]!)) top = r;
    if (top === i) return;
    [heap[i], heap[top]] = [heap[top]!, heap[i]!];
    i = top;
  }
}
