// The only definition of what crosses the thread boundary between the HTTP front and a shard.
//
// Events travel columnar, one batch per shard per request (never one message per event), packed
// (see encodePacked) into an ArrayBuffer that is transferred, not cloned. In memory (EventBatch):
//   strings[devices[i]], ts[i]                            event i's device and time
//   ids.chars[ids.ends[i-1] .. ids.ends[i])               its event id (code units, codec/id-column.ts)
//   metricNames/metricValues[metricEnds[i-1] .. metricEnds[i])   its metrics
//   tags[tagEnds[i-1] .. tagEnds[i])                      its tags
// Device ids, metric names and tags are indexes into the batch's list of distinct strings, in
// memory as on the wire (and in the log, which stores the bytes the front sent): a batch names a
// few hundred devices, metrics and tags thousands of times. So the shard decodes a few hundred
// strings instead of thousands, builds no array of names per batch, and every event of a device
// or metric shares one string object, which the engine's per-device caches compare by identity.
// Event ids travel as code units, never as strings.
// Everything else is a small task object (its schema: tasks.ts), structured-cloned; replies are { ok, value } or
// { ok: false, error } with a WireError, because classes do not survive the boundary.
import type { AlertRule, FiredAlert } from '../engine/alerts.js';
import type { Buckets } from '../engine/buckets.js';
import type { EngineStats, SearchHits } from '../engine/engine.js';
import type { WireError } from '../errors.js';
import { idAt, idColumn, type IdColumn } from '../codec/id-column.js';
import { pack, unpack } from '../codec/msgpack.js';
import type { RecoveryReport, StoreCounters } from '../storage/store.js';

/** A batch of events, columnar; names are indexes into `strings`. */
export interface EventBatch {
  strings: string[];
  devices: Uint32Array;
  ids: IdColumn;
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
    const names = batch.strings;
    this.positions.push(position);
    this.devices.push(this.ref(names[batch.devices[i]!]!));
    this.eventIds.push(idAt(batch.ids, i));
    this.ts.push(batch.ts[i]!);
    for (let m = i === 0 ? 0 : batch.metricEnds[i - 1]!; m < batch.metricEnds[i]!; m++) {
      this.metricNames.push(this.ref(names[batch.metricNames[m]!]!));
      this.metricValues.push(batch.metricValues[m]!);
    }
    this.metricEnds.push(this.metricNames.length);
    for (let t = i === 0 ? 0 : batch.tagEnds[i - 1]!; t < batch.tagEnds[i]!; t++) this.tags.push(this.ref(names[batch.tags[t]!]!));
    this.tagEnds.push(this.tags.length);
  }

  private packed(): EventBatch {
    return packColumns(this, idColumn(this.eventIds));
  }

  /** The batch as the shard will see it. */
  build(): EventBatch {
    return this.packed();
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
  constructor(readonly packed: EventBatch) {}

  get length(): number {
    return this.packed.ts.length;
  }

  get ids(): IdColumn {
    return this.packed.ids;
  }

  deviceId(i: number): string {
    return this.packed.strings[this.packed.devices[i]!]!;
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
    const n = p.ts.length;
    const idEnds = p.ids.ends;
    const shardOfString = new Int32Array(p.strings.length).fill(-1);
    const shardOfEvent = new Uint32Array(n);
    const events = new Uint32Array(shards);
    const metrics = new Uint32Array(shards);
    const tags = new Uint32Array(shards);
    const chars = new Uint32Array(shards);
    for (let i = 0, m = 0, t = 0, c = 0; i < n; i++) {
      const d = p.devices[i]!;
      let s = shardOfString[d]!;
      if (s < 0) s = shardOfString[d] = shardOfDevice(p.strings[d]!);
      shardOfEvent[i] = s;
      events[s]!++;
      metrics[s]! += p.metricEnds[i]! - m;
      tags[s]! += p.tagEnds[i]! - t;
      chars[s]! += idEnds[i]! - c;
      m = p.metricEnds[i]!;
      t = p.tagEnds[i]!;
      c = idEnds[i]!;
    }
    const wide = p.ids.chars.BYTES_PER_ELEMENT === 2;
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
                ids: { chars: wide ? new Uint16Array(chars[s]!) : new Uint8Array(chars[s]!), ends: new Uint32Array(k) },
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
    // Where the next event, metric, tag and id character of each part go.
    events.fill(0);
    metrics.fill(0);
    tags.fill(0);
    chars.fill(0);
    const from = p.ids.chars;
    for (let i = 0, m = 0, t = 0, c = 0; i < n; i++) {
      const s = shardOfEvent[i]!;
      const q = parts[s]!.packed;
      const k = events[s]!++;
      parts[s]!.positions[k] = i;
      q.devices[k] = ref(s, p.devices[i]!);
      let to = chars[s]!;
      for (const cEnd = idEnds[i]!; c < cEnd; c++, to++) q.ids.chars[to] = from[c]!;
      q.ids.ends[k] = chars[s] = to;
      q.ts[k] = p.ts[i]!;
      to = metrics[s]!;
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
  packed: EventBatch;
}

/** The wire bytes of a batch in wire form, in an ArrayBuffer of their own (to transfer). */
export function finishPacked(p: EventBatch): ArrayBuffer {
  // encodePacked's bytes fill a buffer of their own.
  return encodePacked(p).buffer as ArrayBuffer;
}

// The wire bytes. Every numeric column is written raw at a multiple of 8 from the start, so the
// receiver reads them as views of the bytes it got instead of a copy per column (msgpack's
// typed-array extension has no alignment, so its decoder must copy each array: seven allocations a
// batch, which the live shard and, worse, replay paid for in page faults). A batch in a buffer of
// its own (a transferred task) is read in place; one read from the middle of a log chunk has its
// columns copied once. Layout, little-endian:
//   0   0xc1 (a byte msgpack never uses, so older batches, msgpack maps, are told apart), version 3,
//       W: the bytes per id code unit (1 or 2), a zero byte
//   4   n, M, T (u32): events, metric entries, tag entries; S (u32): the bytes of the string
//       list below; C (u32): the code units of the event ids
//   24  ts f64[n], metricValues f64[M], devices u32[n], metricEnds u32[n], metricNames u32[M],
//       tagEnds u32[n], tags u32[T], idEnds u32[n], id code units (C of W bytes)
//   then msgpack of the string list, to the end
// Version 2 (written until the ids became columns) had a zero where W and C are, no idEnds and no
// code units, and msgpack of the event ids after the string list. Both are read.
// The columns are written as the typed arrays hold them, which is little-endian only on
// little-endian machines (every platform Node ships for but s390x): refuse to run elsewhere
// rather than write logs no other machine reads.
if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new Error('this build stores batches little-endian and does not run on a big-endian machine');
const WIRE_MARK = 0xc1;
/** Version 1 (written by one day's builds) had no S: its names and ids were one msgpack array. Still read, as is 2. */
const WIRE_VERSION = 3;
const COLUMNS_AT = 24;

const columnBytes = (n: number, m: number, t: number): number => 8 * (n + m) + 4 * (3 * n + m + t);

/**
 * The wire bytes of a batch, in a buffer from `alloc` (called once, with their exact length; by
 * default one of its own, never a slice of a shared pool, so it can be transferred).
 */
export function encodePacked(p: EventBatch, alloc: (bytes: number) => Buffer = Buffer.allocUnsafeSlow): Buffer {
  const n = p.ts.length;
  const m = p.metricValues.length;
  const t = p.tags.length;
  const { chars, ends } = p.ids;
  const c = chars.length;
  if (ends.length !== n || p.devices.length !== n || p.metricEnds.length !== n || p.tagEnds.length !== n || p.metricNames.length !== m) {
    throw new RangeError('encodePacked: the columns of a batch disagree on its length');
  }
  const names = pack(p.strings);
  // Every byte is written below, the zero ones included.
  const out = alloc(COLUMNS_AT + columnBytes(n, m, t) + 4 * n + chars.byteLength + names.length);
  out[0] = WIRE_MARK;
  out[1] = WIRE_VERSION;
  out[2] = chars.BYTES_PER_ELEMENT;
  out[3] = 0;
  out.writeUInt32LE(n, 4);
  out.writeUInt32LE(m, 8);
  out.writeUInt32LE(t, 12);
  out.writeUInt32LE(names.length, 16);
  out.writeUInt32LE(c, 20);
  let at = COLUMNS_AT;
  for (const col of [p.ts, p.metricValues, p.devices, p.metricEnds, p.metricNames, p.tagEnds, p.tags, ends, chars]) {
    out.set(new Uint8Array(col.buffer, col.byteOffset, col.byteLength), at);
    at += col.byteLength;
  }
  out.set(names, at);
  return out;
}

/** The header of a batch in the layout of encodePacked, checked against the bytes it describes. */
interface Header {
  version: number;
  n: number;
  m: number;
  t: number;
  /** Id code units and their bytes each (version 3). */
  c: number;
  width: number;
  /** Bytes from COLUMNS_AT that the typed columns take (the id columns included). */
  size: number;
  namesAt: number;
  namesEnd: number;
}

function readHeader(bytes: Uint8Array): Header {
  const version = bytes[1]!;
  if (bytes.length < COLUMNS_AT || version < 1 || version > WIRE_VERSION) throw new RangeError(`batch: version ${version}, not one this build reads (1 to ${WIRE_VERSION})`);
  const head = new DataView(bytes.buffer, bytes.byteOffset, COLUMNS_AT);
  const width = version === 3 ? bytes[2]! : 0;
  if (bytes[3] !== 0 || (version < 3 && (bytes[2] !== 0 || head.getUint32(20) !== 0)) || (version === 1 && head.getUint32(16) !== 0)) {
    throw new RangeError('batch: reserved header bytes are not zero');
  }
  if (version === 3 && width !== 1 && width !== 2) throw new RangeError(`batch: ids of ${width} bytes per code unit`);
  const n = head.getUint32(4, true);
  const m = head.getUint32(8, true);
  const t = head.getUint32(12, true);
  const c = version === 3 ? head.getUint32(20, true) : 0;
  const size = columnBytes(n, m, t) + (version === 3 ? 4 * n + width * c : 0);
  const namesAt = COLUMNS_AT + size;
  if (bytes.length < namesAt) throw new RangeError(`batch: ${n} events, ${m} metrics, ${t} tags and ${c} id characters need more than its ${bytes.length} bytes`);
  // Version 1 has no string-list length: its names and ids run to the end as one array.
  const namesEnd = version === 1 ? bytes.length : namesAt + head.getUint32(16, true);
  if (namesEnd > bytes.length || (version === 3 && namesEnd !== bytes.length)) throw new RangeError(`batch: its string list does not end where its ${bytes.length} bytes do`);
  return { version, n, m, t, c, width, size, namesAt, namesEnd };
}

/** A device's events in a log and the code units of their ids, for sizing its ring before a replay. */
export interface DeviceCount {
  events: number;
  idChars: number;
}

/**
 * Adds each device's events in a batch (its wire bytes) and their ids' code units (version 3;
 * version 2 holds no count of them) to `counts`, devices in the order they first appear, reading
 * only the device column, the id ends and the string list. For sizing state before a replay:
 * bytes it cannot read (older formats, damage) are simply not counted.
 */
export function countDevices(bytes: Uint8Array, counts: Map<string, DeviceCount>): void {
  if (bytes[0] !== WIRE_MARK || bytes[1]! < 2) return;
  let strings: unknown;
  let header: Header;
  try {
    header = readHeader(bytes);
    strings = unpack(bytes.subarray(header.namesAt, header.namesEnd));
  } catch {
    return;
  }
  if (!Array.isArray(strings)) return;
  const { n, m, t } = header;
  const devices = new DataView(bytes.buffer, bytes.byteOffset + COLUMNS_AT + 8 * (n + m), 4 * n);
  const idEnds = header.version === 3 ? new DataView(bytes.buffer, bytes.byteOffset + COLUMNS_AT + columnBytes(n, m, t), 4 * n) : undefined;
  const perString = new Uint32Array(strings.length);
  const charsPerString = new Float64Array(strings.length);
  const firstSeen: number[] = [];
  for (let i = 0, idFrom = 0; i < n; i++) {
    const r = devices.getUint32(4 * i, true);
    const idTo = idEnds === undefined ? 0 : idEnds.getUint32(4 * i, true);
    if (r < perString.length) {
      if (perString[r]!++ === 0) firstSeen.push(r);
      charsPerString[r]! += Math.max(0, idTo - idFrom);
    }
    idFrom = idTo;
  }
  for (const r of firstSeen) {
    const c = counts.get(strings[r] as string);
    if (c === undefined) counts.set(strings[r] as string, { events: perString[r]!, idChars: charsPerString[r]! });
    else {
      c.events += perString[r]!;
      c.idChars += charsPerString[r]!;
    }
  }
}

/** Where transient unpacks copy unaligned columns (see unpackBatch); grown as needed, never shrunk. */
let scratch = new ArrayBuffer(0);

/** A batch in the layout of encodePacked, its columns in place when they are aligned. */
function decodePacked(bytes: Uint8Array, transient: boolean): EventBatch {
  const { version, n, m, t, c, width, size, namesAt, namesEnd } = readHeader(bytes);
  let strings: string[];
  let eventIds: string[] | undefined;
  if (version === 1) [strings, eventIds] = unpack(bytes.subarray(namesAt)) as [string[], string[]];
  else {
    strings = unpack(bytes.subarray(namesAt, namesEnd)) as string[];
    if (version === 2) eventIds = unpack(bytes.subarray(namesEnd)) as string[];
  }
  if (!Array.isArray(strings)) throw new RangeError('batch: its string list is not a list');
  if (eventIds !== undefined && (!Array.isArray(eventIds) || eventIds.length !== n)) throw new RangeError(`batch: ${n} events in its columns, but not as many ids`);
  if (eventIds !== undefined) for (const id of eventIds) if (typeof id !== 'string') throw new RangeError('batch: an event id is not a string');
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
  const devices = u32(n);
  const metricEnds = u32(n);
  const metricNames = u32(m);
  const tagEnds = u32(n);
  const tags = u32(t);
  const ids = eventIds !== undefined ? idColumn(eventIds) : { ends: u32(n), chars: width === 1 ? new Uint8Array(buffer, at, c) : new Uint16Array(buffer, at, c) };
  const packed = { strings, ids, ts, metricValues, devices, metricEnds, metricNames, tagEnds, tags };
  checkStructure(packed);
  return packed;
}

/**
 * What the sizes cannot show: runs that end in order and exactly at the end of their column,
 * names that are in the string list and are strings. Only a bug could write otherwise (frames
 * are checksummed), but then replay must stop with an error rather than apply a batch with holes.
 */
function checkStructure(p: EventBatch): void {
  const bad = (what: string) => new RangeError(`batch: ${what}`);
  const names = p.strings.length;
  for (const s of p.strings) if (typeof s !== 'string') throw bad('a name is not a string');
  let m = 0;
  let t = 0;
  let c = 0;
  const idEnds = p.ids.ends;
  for (let i = 0; i < p.ts.length; i++) {
    if (p.devices[i]! >= names) throw bad('a device index past the string list');
    if (p.metricEnds[i]! < m || p.tagEnds[i]! < t || idEnds[i]! < c) throw bad('metric, tag or id runs out of order');
    m = p.metricEnds[i]!;
    t = p.tagEnds[i]!;
    c = idEnds[i]!;
  }
  if (m !== p.metricValues.length || t !== p.tags.length || c !== p.ids.chars.length) throw bad('metric, tag or id runs do not end at the end of their columns');
  for (let k = 0; k < p.metricNames.length; k++) if (p.metricNames[k]! >= names) throw bad('a metric name index past the string list');
  for (let k = 0; k < p.tags.length; k++) if (p.tags[k]! >= names) throw bad('a tag index past the string list');
}

/** A batch's columns as BatchBuilder gathers them, in plain arrays, ids apart. */
export interface BatchColumns {
  readonly strings: string[];
  readonly devices: readonly number[];
  readonly ts: readonly number[];
  readonly metricEnds: readonly number[];
  readonly metricNames: readonly number[];
  readonly metricValues: readonly number[];
  readonly tagEnds: readonly number[];
  readonly tags: readonly number[];
}

/** Gathered columns and their ids in wire form: typed arrays of exactly their lengths. */
export function packColumns(c: BatchColumns, ids: IdColumn): EventBatch {
  return {
    strings: c.strings,
    devices: Uint32Array.from(c.devices),
    ids,
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
  for (let i = 0; i < batch.ts.length; i++) if (keep(i)) b.addFrom(batch, i);
  return b.finishBytes();
}

/** A batch with its names and ids as strings: how logs written before names were indexed hold it (tests compare batches in this form). */
export interface BatchOfStrings {
  deviceIds: string[];
  eventIds: string[];
  ts: Float64Array;
  metricEnds: Uint32Array;
  metricNames: string[];
  metricValues: Float64Array;
  tagEnds: Uint32Array;
  tags: string[];
}

function indexNames(v: BatchOfStrings): EventBatch {
  const strings: string[] = [];
  const refOf = new Map<string, number>();
  const refs = (list: string[]) =>
    Uint32Array.from(list, (s) => {
      let r = refOf.get(s);
      if (r === undefined) refOf.set(s, (r = strings.push(s) - 1));
      return r;
    });
  const devices = refs(v.deviceIds);
  const metricNames = refs(v.metricNames);
  const tags = refs(v.tags);
  return { strings, devices, ids: idColumn(v.eventIds), ts: v.ts, metricEnds: v.metricEnds, metricNames, metricValues: v.metricValues, tagEnds: v.tagEnds, tags };
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
  if (bytes[0] === WIRE_MARK) return decodePacked(bytes, transient);
  // Both older forms held the ids as a list of strings.
  const v = unpack(bytes) as (Omit<EventBatch, 'ids'> & { eventIds: string[] }) | BatchOfStrings;
  if (!('strings' in v)) return indexNames(v);
  const { eventIds, ...rest } = v;
  return { ...rest, ids: idColumn(eventIds) };
}

export type { Task, TaskOf } from './tasks.js';

/** Per event of an ingest batch: 0 stored, 1 duplicate (the engine's IngestStatus). */
export interface IngestResult {
  statuses: Uint8Array;
  alerts: FiredAlert[];
}

export interface ResultOf {
  ingest: IngestResult;
  ingestShared: IngestResult;
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
