// The only definition of what crosses the thread boundary between the HTTP front and a shard.
//
// Events travel columnar, one batch per shard per request (never one message per event), packed
// (see encodePacked) into an ArrayBuffer that is transferred, not cloned. In memory (EventBatch):
//   deviceIds[i], eventIds[i], ts[i]                      for event i
//   metricNames/metricValues[metricEnds[i-1] .. metricEnds[i])   its metrics
//   tags[tagEnds[i-1] .. tagEnds[i])                      its tags
// On the wire (and in the log, which stores the bytes the front sent) device ids, metric names and
// tags are indexes into the batch's list of distinct strings: a batch names a few hundred devices,
// metrics and tags thousands of times. So the shard decodes a few hundred strings instead of
// thousands, and every event of a device or metric shares one string object, which the engine's
// per-device caches compare by identity.
// Everything else is a small task object (its schema: tasks.ts), structured-cloned; replies are { ok, value } or
// { ok: false, error } with a WireError, because classes do not survive the boundary.
import type { AlertRule, FiredAlert } from '../engine/alerts.js';
import type { Buckets } from '../engine/buckets.js';
import type { EngineStats, SearchHits } from '../engine/engine.js';
import type { WireError } from '../errors.js';
import { pack, unpack } from '../codec/msgpack.js';
import type { RecoveryReport, StoreCounters } from '../storage/store.js';

export interface EventBatch {
  deviceIds: string[];
  eventIds: string[];
  ts: Float64Array;
  metricEnds: Uint32Array;
  metricNames: string[];
  metricValues: Float64Array;
  tagEnds: Uint32Array;
  tags: string[];
}

/** The wire form of an EventBatch: names as indexes into `strings`. */
export interface PackedBatch {
  strings: string[];
  devices: Uint32Array;
  eventIds: string[];
  ts: Float64Array;
  metricEnds: Uint32Array;
  metricNames: Uint32Array;
  metricValues: Float64Array;
  tagEnds: Uint32Array;
  tags: Uint32Array;
}

/** Accumulates events for one shard; `finish()` packs them for transfer. */
export class BatchBuilder {
  readonly eventIds: string[] = [];
  /** Position of each event in the request, to put the shard's answers back in order. */
  readonly positions: number[] = [];
  readonly strings: string[] = [];
  private readonly stringIndex = new Map<string, number>();
  readonly devices: number[] = [];
  readonly ts: number[] = [];
  readonly metricEnds: number[] = [];
  readonly metricNames: number[] = [];
  readonly metricValues: number[] = [];
  readonly tagEnds: number[] = [];
  readonly tags: number[] = [];

  get length(): number {
    return this.eventIds.length;
  }

  private ref(s: string): number {
    let i = this.stringIndex.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.stringIndex.set(s, i);
    }
    return i;
  }

  add(position: number, deviceId: string, eventId: string, ts: number, metrics: Record<string, number>, tags: readonly string[]): void {
    this.positions.push(position);
    this.devices.push(this.ref(deviceId));
    this.eventIds.push(eventId);
    this.ts.push(ts);
    for (const name of Object.keys(metrics)) {
      this.metricNames.push(this.ref(name));
      this.metricValues.push(metrics[name]!);
    }
    this.metricEnds.push(this.metricNames.length);
    for (const tag of tags) this.tags.push(this.ref(tag));
    this.tagEnds.push(this.tags.length);
  }

  /** Event i of an in-memory batch; `position` is its place in the request (its place in this builder's batch by default). */
  addFrom(batch: EventBatch, i: number, position = this.eventIds.length): void {
    this.positions.push(position);
    this.devices.push(this.ref(batch.deviceIds[i]!));
    this.eventIds.push(batch.eventIds[i]!);
    this.ts.push(batch.ts[i]!);
    for (let m = i === 0 ? 0 : batch.metricEnds[i - 1]!; m < batch.metricEnds[i]!; m++) {
      this.metricNames.push(this.ref(batch.metricNames[m]!));
      this.metricValues.push(batch.metricValues[m]!);
    }
    this.metricEnds.push(this.metricNames.length);
    for (let t = i === 0 ? 0 : batch.tagEnds[i - 1]!; t < batch.tagEnds[i]!; t++) this.tags.push(this.ref(batch.tags[t]!));
    this.tagEnds.push(this.tags.length);
  }

  private packed(): PackedBatch {
    return packColumns(this);
  }

  /** The batch as the shard will see it. */
  build(): EventBatch {
    return expand(this.packed());
  }

  /** The wire bytes, in an ArrayBuffer of their own (to transfer). */
  finish(): ArrayBuffer {
    return finishPacked(this.packed());
  }

  /** The wire bytes. */
  finishBytes(): Uint8Array {
    return encodePacked(this.packed());
  }
}

/**
 * A batch already in its wire form, dictionary included (from the JSON batch scan), so a request
 * whose events all go to one shard is packed as it is, without a BatchBuilder.
 */
export class ScannedBatch {
  private expanded: EventBatch | undefined;

  constructor(readonly packed: PackedBatch) {}

  get length(): number {
    return this.packed.eventIds.length;
  }

  get eventIds(): string[] {
    return this.packed.eventIds;
  }

  deviceId(i: number): string {
    return this.packed.strings[this.packed.devices[i]!]!;
  }

  /** The batch as the shard will see it. */
  events(): EventBatch {
    return (this.expanded ??= expand(this.packed));
  }

  /** The wire bytes, in an ArrayBuffer of their own (to transfer). */
  finish(): ArrayBuffer {
    return finishPacked(this.packed);
  }

  /**
   * The batch cut into one part per shard (undefined for a shard it has no event for), column by
   * column, without expanding it to strings and building it again: `shardOfDevice` is asked once
   * per distinct device. Each part gets its own string list (only the strings its events name,
   * renumbered as they are met): a part, and so its shard's log, never carries the others' names.
   * Events keep their order within a part.
   */
  split(shards: number, shardOfDevice: (deviceId: string) => number): (ScannedPart | undefined)[] {
    const p = this.packed;
    const n = p.eventIds.length;
    const shardOfString = new Int32Array(p.strings.length).fill(-1);
    const shardOfEvent = new Uint32Array(n);
    const events = new Uint32Array(shards);
    const metrics = new Uint32Array(shards);
    const tags = new Uint32Array(shards);
    for (let i = 0, m = 0, t = 0; i < n; i++) {
      const d = p.devices[i]!;
      let s = shardOfString[d]!;
      if (s < 0) s = shardOfString[d] = shardOfDevice(p.strings[d]!);
      shardOfEvent[i] = s;
      events[s]!++;
      metrics[s]! += p.metricEnds[i]! - m;
      tags[s]! += p.tagEnds[i]! - t;
      m = p.metricEnds[i]!;
      t = p.tagEnds[i]!;
    }
    const parts: (ScannedPart | undefined)[] = [];
    for (let s = 0; s < shards; s++) {
      const k = events[s]!;
      parts.push(
        k === 0
          ? undefined
          : {
              positions: new Uint32Array(k),
              packed: {
                strings: [],
                devices: new Uint32Array(k),
                eventIds: new Array<string>(k),
                ts: new Float64Array(k),
                metricEnds: new Uint32Array(k),
                metricNames: new Uint32Array(metrics[s]!),
                metricValues: new Float64Array(metrics[s]!),
                tagEnds: new Uint32Array(k),
                tags: new Uint32Array(tags[s]!),
              },
            },
      );
    }
    // Each part's number for each string of the batch (-1: not yet in its list).
    const renumbered = parts.map((part) => (part === undefined ? undefined : new Int32Array(p.strings.length).fill(-1)));
    const ref = (s: number, r: number): number => {
      const map = renumbered[s]!;
      let to = map[r]!;
      if (to < 0) {
        const list = parts[s]!.packed.strings;
        to = map[r] = list.length;
        list.push(p.strings[r]!);
      }
      return to;
    };
    // Where the next event, metric and tag of each part go.
    events.fill(0);
    metrics.fill(0);
    tags.fill(0);
    for (let i = 0, m = 0, t = 0; i < n; i++) {
      const s = shardOfEvent[i]!;
      const q = parts[s]!.packed;
      const k = events[s]!++;
      parts[s]!.positions[k] = i;
      q.devices[k] = ref(s, p.devices[i]!);
      q.eventIds[k] = p.eventIds[i]!;
      q.ts[k] = p.ts[i]!;
      let to = metrics[s]!;
      for (const mEnd = p.metricEnds[i]!; m < mEnd; m++, to++) {
        q.metricNames[to] = ref(s, p.metricNames[m]!);
        q.metricValues[to] = p.metricValues[m]!;
      }
      q.metricEnds[k] = metrics[s] = to;
      to = tags[s]!;
      for (const tEnd = p.tagEnds[i]!; t < tEnd; t++, to++) q.tags[to] = ref(s, p.tags[t]!);
      q.tagEnds[k] = tags[s] = to;
    }
    return parts;
  }
}

/** One shard's part of a ScannedBatch: its events in wire form, and where each was in the batch. */
export interface ScannedPart {
  positions: Uint32Array;
  packed: PackedBatch;
}

/** The wire bytes of a batch in wire form, in an ArrayBuffer of their own (to transfer). */
export function finishPacked(p: PackedBatch): ArrayBuffer {
  // encodePacked's bytes fill a buffer of their own.
  return encodePacked(p).buffer as ArrayBuffer;
}

// The wire bytes. Every numeric column is written raw at a multiple of 8 from the start, so the
// receiver reads them as views of the bytes it got instead of a copy per column (msgpack's
// typed-array extension has no alignment, so its decoder must copy each array: seven allocations a
// batch, which the live shard and, worse, replay paid for in page faults). A batch in a buffer of
// its own (a transferred task) is read in place; one read from the middle of a log chunk has its
// columns copied once. Layout, little-endian:
//   0   0xc1 (a byte msgpack never uses, so older batches, msgpack maps, are told apart), version 2,
//       two zero bytes
//   4   n, M, T (u32): events, metric entries, tag entries; S (u32): the bytes of the string
//       list below; then 4 zero bytes
//   24  ts f64[n], metricValues f64[M], devices u32[n], metricEnds u32[n], metricNames u32[M],
//       tagEnds u32[n], tags u32[T]
//   then msgpack of the string list, then msgpack of the event ids (apart, so a reader that
//   wants only the devices, countDevices, need not decode a thousand ids)
// The columns are written as the typed arrays hold them, which is little-endian only on
// little-endian machines (every platform Node ships for but s390x): refuse to run elsewhere
// rather than write logs no other machine reads.
if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new Error('this build stores batches little-endian and does not run on a big-endian machine');
const WIRE_MARK = 0xc1;
/** Version 1 (written by one day's builds) had no S: its names and ids were one msgpack array. Still read. */
const WIRE_VERSION = 2;
const COLUMNS_AT = 24;

const columnBytes = (n: number, m: number, t: number): number => 8 * (n + m) + 4 * (3 * n + m + t);

export function encodePacked(p: PackedBatch): Uint8Array {
  const n = p.ts.length;
  const m = p.metricValues.length;
  const t = p.tags.length;
  if (p.eventIds.length !== n || p.devices.length !== n || p.metricEnds.length !== n || p.tagEnds.length !== n || p.metricNames.length !== m) {
    throw new RangeError('encodePacked: the columns of a batch disagree on its length');
  }
  const names = pack(p.strings);
  const ids = pack(p.eventIds);
  // A buffer of exactly these bytes (never a slice of a shared pool), so it can be transferred;
  // every byte is written below, the zero ones included.
  const out = Buffer.allocUnsafeSlow(COLUMNS_AT + columnBytes(n, m, t) + names.length + ids.length);
  out[0] = WIRE_MARK;
  out[1] = WIRE_VERSION;
  out[2] = out[3] = 0;
  out.writeUInt32LE(n, 4);
  out.writeUInt32LE(m, 8);
  out.writeUInt32LE(t, 12);
  out.writeUInt32LE(names.length, 16);
  out.fill(0, 20, COLUMNS_AT);
  let at = COLUMNS_AT;
  for (const col of [p.ts, p.metricValues, p.devices, p.metricEnds, p.metricNames, p.tagEnds, p.tags]) {
    out.set(new Uint8Array(col.buffer, col.byteOffset, col.byteLength), at);
    at += col.byteLength;
  }
  out.set(names, at);
  out.set(ids, at + names.length);
  return out;
}

/** The header of a batch in the layout of encodePacked, checked against the bytes it describes. */
function readHeader(bytes: Uint8Array): { version: number; n: number; m: number; t: number; size: number; namesEnd: number } {
  const version = bytes[1]!;
  if (bytes.length < COLUMNS_AT || (version !== WIRE_VERSION && version !== 1)) throw new RangeError(`batch: version ${version}, not one this build reads (1 or ${WIRE_VERSION})`);
  const head = new DataView(bytes.buffer, bytes.byteOffset, COLUMNS_AT);
  if (head.getUint16(2) !== 0 || head.getUint32(20) !== 0 || (version === 1 && head.getUint32(16) !== 0)) throw new RangeError('batch: reserved header bytes are not zero');
  const n = head.getUint32(4, true);
  const m = head.getUint32(8, true);
  const t = head.getUint32(12, true);
  const size = columnBytes(n, m, t);
  if (bytes.length < COLUMNS_AT + size) throw new RangeError(`batch: ${n} events, ${m} metrics and ${t} tags need more than its ${bytes.length} bytes`);
  // Version 1 has no string-list length: its names and ids run to the end as one array.
  const namesEnd = version === 1 ? bytes.length : COLUMNS_AT + size + head.getUint32(16, true);
  if (namesEnd > bytes.length) throw new RangeError(`batch: its string list runs past its ${bytes.length} bytes`);
  return { version, n, m, t, size, namesEnd };
}

/**
 * Adds each device's number of events in a batch (its wire bytes) to `counts`, devices in the
 * order they first appear, reading only the device column and the string list. For sizing state
 * before a replay: bytes it cannot read (older formats, damage) are simply not counted.
 */
export function countDevices(bytes: Uint8Array, counts: Map<string, number>): void {
  if (bytes[0] !== WIRE_MARK || bytes[1] !== WIRE_VERSION) return;
  let strings: unknown;
  let header: ReturnType<typeof readHeader>;
  try {
    header = readHeader(bytes);
    strings = unpack(bytes.subarray(COLUMNS_AT + header.size, header.namesEnd));
  } catch {
    return;
  }
  if (!Array.isArray(strings)) return;
  const devices = new DataView(bytes.buffer, bytes.byteOffset + COLUMNS_AT + 8 * (header.n + header.m), 4 * header.n);
  const perString = new Uint32Array(strings.length);
  const firstSeen: number[] = [];
  for (let i = 0; i < header.n; i++) {
    const r = devices.getUint32(4 * i, true);
    if (r >= perString.length) continue;
    if (perString[r]!++ === 0) firstSeen.push(r);
  }
  for (const r of firstSeen) counts.set(strings[r] as string, (counts.get(strings[r] as string) ?? 0) + perString[r]!);
}

/** Where transient unpacks copy unaligned columns (see unpackBatch); grown as needed, never shrunk. */
let scratch = new ArrayBuffer(0);

/** A batch in the layout of encodePacked, its columns in place when they are aligned. */
function decodePacked(bytes: Uint8Array, transient: boolean): PackedBatch {
  const { version, n, m, t, size, namesEnd } = readHeader(bytes);
  let strings: string[];
  let eventIds: string[];
  if (version === 1) [strings, eventIds] = unpack(bytes.subarray(COLUMNS_AT + size)) as [string[], string[]];
  else {
    strings = unpack(bytes.subarray(COLUMNS_AT + size, namesEnd)) as string[];
    eventIds = unpack(bytes.subarray(namesEnd)) as string[];
  }
  if (!Array.isArray(strings) || !Array.isArray(eventIds) || eventIds.length !== n) throw new RangeError(`batch: ${n} events in its columns, but not as many ids`);
  let buffer = bytes.buffer as ArrayBuffer;
  let at = bytes.byteOffset + COLUMNS_AT;
  if (at % 8 !== 0) {
    if (!transient) buffer = buffer.slice(at, at + size);
    else {
      if (scratch.byteLength < size) scratch = new ArrayBuffer(Math.max(size, 2 * scratch.byteLength));
      new Uint8Array(scratch, 0, size).set(bytes.subarray(COLUMNS_AT, COLUMNS_AT + size));
      buffer = scratch;
    }
    at = 0;
  }
  const f64 = (k: number) => {
    const a = new Float64Array(buffer, at, k);
    at += 8 * k;
    return a;
  };
  const u32 = (k: number) => {
    const a = new Uint32Array(buffer, at, k);
    at += 4 * k;
    return a;
  };
  const ts = f64(n);
  const metricValues = f64(m);
  const packed = { strings, eventIds, ts, metricValues, devices: u32(n), metricEnds: u32(n), metricNames: u32(m), tagEnds: u32(n), tags: u32(t) };
  checkStructure(packed);
  return packed;
}

/**
 * What the sizes cannot show: runs that end in order and exactly at the end of their column,
 * names that are in the string list, ids and names that are strings. Only a bug could write
 * otherwise (frames are checksummed), but then replay must stop with an error rather than apply a
 * batch with holes.
 */
function checkStructure(p: PackedBatch): void {
  const bad = (what: string) => new RangeError(`batch: ${what}`);
  const names = p.strings.length;
  for (const s of p.strings) if (typeof s !== 'string') throw bad('a name is not a string');
  for (const id of p.eventIds) if (typeof id !== 'string') throw bad('an event id is not a string');
  let m = 0;
  let t = 0;
  for (let i = 0; i < p.ts.length; i++) {
    if (p.devices[i]! >= names) throw bad('a device index past the string list');
    if (p.metricEnds[i]! < m || p.tagEnds[i]! < t) throw bad('metric or tag runs out of order');
    m = p.metricEnds[i]!;
    t = p.tagEnds[i]!;
  }
  if (m !== p.metricValues.length || t !== p.tags.length) throw bad('metric or tag runs do not end at the end of their columns');
  for (let k = 0; k < p.metricNames.length; k++) if (p.metricNames[k]! >= names) throw bad('a metric name index past the string list');
  for (let k = 0; k < p.tags.length; k++) if (p.tags[k]! >= names) throw bad('a tag index past the string list');
}

/** A batch's columns as they are gathered, in plain arrays (BatchBuilder, the JSON batch scan). */
export interface BatchColumns {
  readonly strings: string[];
  readonly devices: readonly number[];
  readonly eventIds: string[];
  readonly ts: readonly number[];
  readonly metricEnds: readonly number[];
  readonly metricNames: readonly number[];
  readonly metricValues: readonly number[];
  readonly tagEnds: readonly number[];
  readonly tags: readonly number[];
}

/** Gathered columns in their wire form: typed arrays of exactly their lengths. */
export function packColumns(c: BatchColumns): PackedBatch {
  return {
    strings: c.strings,
    devices: Uint32Array.from(c.devices),
    eventIds: c.eventIds,
    ts: Float64Array.from(c.ts),
    metricEnds: Uint32Array.from(c.metricEnds),
    metricNames: Uint32Array.from(c.metricNames),
    metricValues: Float64Array.from(c.metricValues),
    tagEnds: Uint32Array.from(c.tagEnds),
    tags: Uint32Array.from(c.tags),
  };
}

/** The wire bytes of the events of an in-memory batch that `keep` selects (all by default). */
export function packBatch(batch: EventBatch, keep: (i: number) => boolean = () => true): Uint8Array {
  const b = new BatchBuilder();
  for (let i = 0; i < batch.eventIds.length; i++) if (keep(i)) b.addFrom(batch, i);
  return b.finishBytes();
}

const names = (strings: readonly string[], refs: Uint32Array): string[] => {
  const out = new Array<string>(refs.length);
  for (let i = 0; i < refs.length; i++) out[i] = strings[refs[i]!]!;
  return out;
};

function expand(p: PackedBatch): EventBatch {
  return {
    deviceIds: names(p.strings, p.devices),
    eventIds: p.eventIds,
    ts: p.ts,
    metricEnds: p.metricEnds,
    metricNames: names(p.strings, p.metricNames),
    metricValues: p.metricValues,
    tagEnds: p.tagEnds,
    tags: names(p.strings, p.tags),
  };
}

/**
 * A batch from its wire bytes. Its numeric columns may be views of `buf`: apply it before `buf` is
 * reused. `transient`: the batch is also done with before the next transient unpack, so columns
 * that must be copied (to align them) go to a buffer that each transient unpack reuses; replay
 * reads a thousand records from the middle of each log chunk, and a fresh allocation for each was
 * 7% of its time. Logs written before the columns were one value hold them as msgpack typed arrays, and
 * logs written before names were indexed hold the in-memory form itself; both are read too.
 */
export function unpackBatch(buf: ArrayBuffer | Uint8Array, transient = false): EventBatch {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  if (bytes[0] === WIRE_MARK) return expand(decodePacked(bytes, transient));
  const v = unpack(bytes) as PackedBatch | EventBatch;
  return 'strings' in v ? expand(v) : v;
}

export type { Task, TaskOf } from './tasks.js';

/** Per event of an ingest batch: 0 stored, 1 duplicate (the engine's IngestStatus). */
export interface IngestResult {
  statuses: Uint8Array;
  alerts: FiredAlert[];
}

export interface ResultOf {
  ingest: IngestResult;
  recent: string;
  aggregate: Buckets;
  search: SearchHits;
  aggregateJson: string;
  searchJson: string;
  addRule: true;
  removeRule: boolean;
  listRules: AlertRule[];
  stats: ShardStats;
  open: RecoveryReport;
  close: true;
}

export interface ShardStats {
  engine: EngineStats;
  store: StoreCounters | null;
  failed: string | null;
}

export type Reply<T> = { ok: true; value: T } | { ok: false; error: WireError };
