// ShardStore: group commit, FSYNC modes, failures that are never retried, recovery from torn and
// corrupt logs and damaged snapshots, snapshot pruning. Records here are opaque strings: the store
// knows bytes, and a toy state (the list of records applied) stands in for the engine.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_HEADER_BYTES, scanFrames } from '../../../src/storage/framing.js';
import { nodeIO, type StorageIO } from '../../../src/storage/io.js';
import { listSegments, segmentName } from '../../../src/storage/segments.js';
import { listSnapshots, snapshotName } from '../../../src/storage/snapshots.js';
import { ShardStore, type FsyncMode, type RecoveryReport, type StoreOptions } from '../../../src/storage/store.js';
import { FakeDisk } from '../../property/durability-fake-io.js';
import { later } from '../../support/later.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** nodeIO with call counts and switchable faults. */
class FaultIO {
  counts = { writeAt: 0, fdatasync: 0, fsyncDir: 0 };
  failFdatasync = false;
  /** Write half the bytes, then fail with ENOSPC. */
  enospc = false;
  readonly io: StorageIO;
  constructor() {
    const self = this;
    this.io = {
      ...nodeIO,
      writeAt(fd, buf, position) {
        self.counts.writeAt++;
        if (self.enospc) {
          nodeIO.writeAt(fd, buf.subarray(0, Math.max(1, Math.floor(buf.length / 2))), position);
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
        nodeIO.writeAt(fd, buf, position);
      },
      // A writev counts as one write, and fails (or half-succeeds) as one.
      writevAt(fd, chunks, position) {
        this.writeAt(fd, Buffer.concat(chunks), position);
      },
      fdatasync(fd) {
        self.counts.fdatasync++;
        if (self.failFdatasync) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        nodeIO.fdatasync(fd);
      },
      fdatasyncLater(fd) {
        return later(() => this.fdatasync(fd));
      },
      fsyncDir(d) {
        self.counts.fsyncDir++;
        nodeIO.fsyncDir(d);
      },
    };
  }
  reset(): void {
    this.counts = { writeAt: 0, fdatasync: 0, fsyncDir: 0 };
  }
}

/** A store over a toy state machine: the state is the list of records applied, in order. */
class Toy {
  state: string[] = [];
  imported: string[] | null = null;
  applied: string[] = [];
  /** What recovery's survey saw before applying. */
  surveyed: string[] = [];
  report!: RecoveryReport;
  readonly store: ShardStore;
  constructor(io: StorageIO, opts: Partial<StoreOptions> = {}, d = dir) {
    this.store = new ShardStore(
      { dir: d, fsync: 'always', segmentBytesMax: 1 << 20, snapshotLogBytes: 1 << 30, snapshotIntervalMs: 0, surveyLogBytesMin: 0, ...opts },
      io,
      // Each record a part of its own: the snapshot's frames then mirror the log's.
      () => ({ head: null, parts: [...this.state] }),
    );
  }
  open(): this {
    this.report = this.store.recover(
      (s) => {
        this.imported = [...(s.parts as string[])];
        this.state = [...(s.parts as string[])];
      },
      (payload) => {
        const r = payload.toString();
        this.applied.push(r);
        this.state.push(r);
        return 1;
      },
      {
        survey: (payload) => {
          expect(this.applied).toEqual([]); // the survey comes first
          this.surveyed.push(payload.toString());
        },
      },
    );
    return this;
  }
  /** Applies then logs, like the shard does. */
  append(r: string): Promise<void> {
    this.state.push(r);
    return this.store.append(Buffer.from(r));
  }
}

const opened = (io: StorageIO = nodeIO, opts: Partial<StoreOptions> = {}): Toy => new Toy(io, opts).open();
const segPath = (seq: number): string => join(dir, segmentName(seq));
const recs = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('group commit', () => {
  it('appends made in the same tick are written with ONE write and ONE fdatasync (FSYNC=always)', async () => {
    const f = new FaultIO();
    const t = opened(f.io);
    f.reset();
    const done = recs('r', 50).map((r) => t.append(r));
    expect(f.counts.writeAt).toBe(0); // nothing before the next turn of the loop
    await Promise.all(done);
    expect(f.counts).toMatchObject({ writeAt: 1, fdatasync: 1 });
    expect(t.store.counters.fsyncs).toBe(1);
    // The next tick's appends are a group of their own.
    await Promise.all(recs('s', 3).map((r) => t.append(r)));
    expect(f.counts).toMatchObject({ writeAt: 2, fdatasync: 2 });
    t.store.close();
    expect(scanFrames(readFileSync(segPath(1))).payloads.map(String)).toEqual([...recs('r', 50), ...recs('s', 3)]);
  });

  it('an append resolves only after its fdatasync (FSYNC=always)', async () => {
    const f = new FaultIO();
    const t = opened(f.io);
    f.reset();
    let syncedWhenResolved = -1;
    await t.append('x').then(() => (syncedWhenResolved = f.counts.fdatasync));
    expect(syncedWhenResolved).toBe(1);
    t.store.close();
  });

  it('while an fdatasync is in flight, later appends are written at once and wait for the next one', async () => {
    const f = new FaultIO();
    const t = opened(f.io);
    f.reset();
    const order: string[] = [];
    const first = t.append('a').then(() => order.push(`a after ${f.counts.fdatasync} syncs`));
    // Next turn: 'a' is written and its fdatasync started (it runs a turn later still).
    await new Promise((r) => setImmediate(r));
    expect(f.counts).toMatchObject({ writeAt: 1, fdatasync: 0 });
    const second = t.append('b').then(() => order.push(`b after ${f.counts.fdatasync} syncs`));
    const barrier = t.store.barrier().then(() => order.push(`barrier after ${f.counts.fdatasync} syncs`));
    await Promise.all([first, second, barrier]);
    expect(order).toEqual(['a after 1 syncs', 'b after 2 syncs', 'barrier after 2 syncs']);
    expect(f.counts.writeAt).toBe(2);
    await t.store.close();
  });

  it('a barrier while only an fdatasync is in flight waits for it', async () => {
    const f = new FaultIO();
    const t = opened(f.io);
    f.reset();
    const order: string[] = [];
    const first = t.append('a').then(() => order.push('a'));
    await new Promise((r) => setImmediate(r)); // written, sync in flight
    const barrier = t.store.barrier().then(() => order.push(`barrier after ${f.counts.fdatasync} syncs`));
    await Promise.all([first, barrier]);
    expect(order).toEqual(['a', 'barrier after 1 syncs']);
    await t.store.close();
  });

  it.each(['always', 'interval', 'never'] as FsyncMode[])(
    'FSYNC=%s: an append settles only after its bytes were written, so the caller may reuse them then',
    async (fsync) => {
      // The front's batch slab relies on this: a block is handed out again once its answer is back.
      const written: Buffer[] = [];
      const io: StorageIO = {
        ...nodeIO,
        writevAt(fd, chunks, position) {
          written.push(Buffer.concat(chunks));
          nodeIO.writevAt(fd, chunks, position);
        },
      };
      const t = opened(io, { fsync });
      const bufs = recs('reused-', 3).map((r) => Buffer.from(r));
      await Promise.all(
        bufs.map((b) =>
          t.store.append(b).then(() => {
            expect(Buffer.concat(written).includes(b)).toBe(true);
            b.fill(0x21); // the next batch in the same memory
          }),
        ),
      );
      // The log holds the bytes as they were, each under a checksum that matches them.
      const log = scanFrames(readFileSync(segPath(1)));
      expect(log.stop.kind).toBe('end');
      expect(log.payloads.map(String)).toEqual(recs('reused-', 3));
      await t.store.close();
    },
  );

  it('FSYNC=never does no fdatasync on append', async () => {
    const f = new FaultIO();
    const t = opened(f.io, { fsync: 'never' });
    f.reset();
    for (let i = 0; i < 5; i++) await Promise.all(recs(`b${i}-`, 4).map((r) => t.append(r)));
    expect(f.counts.writeAt).toBe(5);
    expect(f.counts.fdatasync).toBe(0);
    expect(f.counts.fsyncDir).toBe(0);
  });

  it('FSYNC=interval does no fdatasync on append but syncs within the interval', async () => {
    const f = new FaultIO();
    const t = opened(f.io, { fsync: 'interval' });
    f.reset();
    await Promise.all(recs('r', 5).map((r) => t.append(r)));
    expect(f.counts.fdatasync).toBe(0);
    await new Promise((r) => setTimeout(r, 250));
    expect(f.counts.fdatasync).toBeGreaterThanOrEqual(1);
    const n = f.counts.fdatasync;
    await new Promise((r) => setTimeout(r, 250));
    expect(f.counts.fdatasync).toBe(n); // nothing new written: nothing to sync
    t.store.close();
  });
});

describe('failures are final', () => {
  it('a failing fdatasync rejects every waiting append and every later one with STORAGE_FAILED, never retried', async () => {
    const f = new FaultIO();
    const t = opened(f.io);
    await t.append('ok-before');
    f.reset();
    f.failFdatasync = true;
    const waiting = recs('w', 10).map((r) => t.append(r));
    const settled = await Promise.allSettled(waiting);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      if (s.status === 'rejected') expect((s.reason as { code?: string }).code).toBe('STORAGE_FAILED');
    }
    expect(t.store.failure).toBeDefined();
    expect(t.store.failure!.code).toBe('STORAGE_FAILED');
    expect(t.store.failure!.message).toMatch(/EIO/);
    expect(f.counts.fdatasync).toBe(1);
    // Even once the disk "recovers", nothing is retried and nothing more is accepted.
    f.failFdatasync = false;
    for (let i = 0; i < 3; i++) {
      await expect(t.append(`later${i}`)).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
      await new Promise((r) => setImmediate(r));
    }
    t.store.snapshot();
    expect(f.counts.fdatasync).toBe(1);
    expect(f.counts.writeAt).toBe(1);
    expect(t.store.counters.snapshots).toBe(0);
  });

  it('a write failing with ENOSPC after part of its bytes leaves the segment exactly as long as before, and fails the store', async () => {
    const f = new FaultIO();
    const t = opened(f.io);
    await t.append('kept-1');
    await t.append('kept-2');
    const before = statSync(segPath(1)).size;
    f.enospc = true;
    const settled = await Promise.allSettled(recs('lost', 5).map((r) => t.append(r)));
    expect(settled.every((s) => s.status === 'rejected' && (s.reason as { code?: string }).code === 'STORAGE_FAILED')).toBe(true);
    expect(statSync(segPath(1)).size).toBe(before);
    expect(t.store.failure?.message).toMatch(/ENOSPC/);
    f.enospc = false;
    await expect(t.append('later')).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect(statSync(segPath(1)).size).toBe(before);
    // What is on disk recovers to exactly the acknowledged records.
    const again = opened(nodeIO);
    expect(again.state).toEqual(['kept-1', 'kept-2']);
    expect(again.report.torn + again.report.corrupt).toBe(0);
  });
});

describe('recovery', () => {
  it('records appended and the store closed: a new store has them all, in order', async () => {
    const t = opened();
    const all = recs('r', 30);
    for (let i = 0; i < all.length; i += 7) await Promise.all(all.slice(i, i + 7).map((r) => t.append(r)));
    t.store.close();
    const again = opened();
    expect(again.state).toEqual(all);
    expect(again.report).toMatchObject({ torn: 0, corrupt: 0 });
  });

  it('records appended, then the process killed (no close): a new store replays them all in order', async () => {
    const t = opened();
    const all = recs('r', 30);
    for (let i = 0; i < all.length; i += 7) await Promise.all(all.slice(i, i + 7).map((r) => t.append(r)));
    const again = opened();
    expect(again.imported).toBeNull();
    expect(again.applied).toEqual(all);
    expect(again.report).toMatchObject({ snapshotSeq: null, segments: 1, records: 30, events: 30, torn: 0, corrupt: 0 });
    // It appends to a fresh segment, never to the old one.
    expect(listSegments(nodeIO, dir)).toEqual([1, 2]);
  });

  it('a torn tail (file cut mid-record) is cut off at the valid end, counted, and what came before replayed', async () => {
    const t = opened();
    for (const r of recs('r', 5)) await t.append(r);
    const full = readFileSync(segPath(1));
    const lastStart = full.length - (FRAME_HEADER_BYTES + 'r4'.length);
    for (const cut of [lastStart + 1, lastStart + FRAME_HEADER_BYTES, full.length - 1]) {
      writeFileSync(segPath(1), full.subarray(0, cut));
      for (const s of listSegments(nodeIO, dir)) if (s !== 1) rmSync(segPath(s));
      const again = opened();
      expect(again.applied, `cut at ${cut}`).toEqual(recs('r', 4));
      expect(again.report.torn).toBe(1);
      expect(again.report.corrupt).toBe(0);
      expect(again.store.counters.tornRecords).toBe(1);
      expect(statSync(segPath(1)).size).toBe(lastStart);
      again.store.close();
      rmSync(join(dir, snapshotName(2)), { force: true });
    }
  });

  it('a zero-filled tail is cut off as torn', async () => {
    const t = opened();
    for (const r of recs('r', 3)) await t.append(r);
    const good = statSync(segPath(1)).size;
    writeFileSync(segPath(1), Buffer.concat([readFileSync(segPath(1)), Buffer.alloc(4096)]));
    const again = opened();
    expect(again.applied).toEqual(recs('r', 3));
    expect(again.report.torn).toBe(1);
    expect(statSync(segPath(1)).size).toBe(good);
  });

  it('a corrupt frame in the middle of a segment stops replay there, keeps <segment>.corrupt, sets later segments aside as .after-corrupt', async () => {
    // Three segments: each start of a store begins a new one.
    const a = opened();
    for (const r of recs('a', 5)) await a.append(r);
    const b = opened();
    for (const r of recs('b', 3)) await b.append(r);
    const c = opened();
    for (const r of recs('c', 2)) await c.append(r);
    expect(listSegments(nodeIO, dir)).toEqual([1, 2, 3]);

    const seg1 = readFileSync(segPath(1));
    const frameLen = FRAME_HEADER_BYTES + 2;
    const damaged = Buffer.from(seg1);
    damaged[2 * frameLen + FRAME_HEADER_BYTES]! ^= 0x10; // payload of a2
    writeFileSync(segPath(1), damaged);

    const d = opened();
    expect(d.applied).toEqual(['a0', 'a1']);
    expect(d.surveyed).toEqual(d.applied); // it stops where the replay stops, and skips what is set aside
    expect(d.report.corrupt).toBe(1);
    expect(d.store.counters.corruptSegments).toBe(1);
    expect(readFileSync(`${segPath(1)}.corrupt`).equals(damaged)).toBe(true);
    expect(statSync(segPath(1)).size).toBe(2 * frameLen);
    expect(existsSync(`${segPath(2)}.after-corrupt`)).toBe(true);
    expect(existsSync(`${segPath(3)}.after-corrupt`)).toBe(true);
    expect(existsSync(segPath(2))).toBe(false);
    expect(existsSync(segPath(3))).toBe(false);
    // The new segment is numbered after every one set aside.
    expect(listSegments(nodeIO, dir)).toEqual([1, 4]);
    await d.append('d0');
    const e = opened();
    expect(e.applied).toEqual(['a0', 'a1', 'd0']);
    expect(e.report.corrupt).toBe(0);
  });

  it('a damaged newest snapshot falls back to the older snapshot plus the log after it', async () => {
    const t = opened();
    await t.append('r1');
    await t.append('r2');
    t.store.snapshot(); // covers segment 1
    await t.append('r3');
    t.store.snapshot(); // covers segment 2
    await t.append('r4');
    expect(listSnapshots(nodeIO, dir)).toEqual([2, 1]);
    const newest = join(dir, snapshotName(2));
    const bytes = readFileSync(newest);
    bytes[bytes.length - 3]! ^= 0xff;
    writeFileSync(newest, bytes);

    const again = opened();
    expect(again.report.snapshotSeq).toBe(1);
    expect(again.report.snapshotsSkipped).toBe(1);
    expect(again.imported).toEqual(['r1', 'r2']);
    expect(again.applied).toEqual(['r3', 'r4']);
    expect(again.state).toEqual(['r1', 'r2', 'r3', 'r4']);
  });

  it('the only snapshot damaged: falls back to the whole log', async () => {
    const t = opened();
    await t.append('r1');
    await t.append('r2');
    t.store.snapshot();
    await t.append('r3');
    writeFileSync(join(dir, snapshotName(1)), Buffer.from('not a snapshot'));
    const again = opened();
    expect(again.report.snapshotSeq).toBeNull();
    expect(again.report.snapshotsSkipped).toBe(1);
    expect(again.state).toEqual(['r1', 'r2', 'r3']);
  });

  it('a good newest snapshot: only the segments after it are replayed', async () => {
    const t = opened();
    await t.append('r1');
    t.store.snapshot();
    await t.append('r2');
    const again = opened();
    expect(again.report.snapshotSeq).toBe(1);
    expect(again.imported).toEqual(['r1']);
    expect(again.applied).toEqual(['r2']);
  });
});

describe('snapshot pruning', () => {
  it('keeps the newest two snapshots and the segments after the older one', async () => {
    const t = opened();
    for (let i = 1; i <= 4; i++) {
      await t.append(`r${i}`);
      t.store.snapshot();
    }
    // Snapshots cover segments 1, 2, 3, 4; the current segment is 5.
    expect(listSnapshots(nodeIO, dir)).toEqual([4, 3]);
    expect(listSegments(nodeIO, dir)).toEqual([4, 5]);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(t.store.counters.snapshots).toBe(4);
    await t.append('r5');
    const again = opened();
    expect(again.imported).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(again.state).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('with a single snapshot every segment stays', async () => {
    const t = opened();
    await t.append('r1');
    t.store.snapshot();
    expect(listSnapshots(nodeIO, dir)).toEqual([1]);
    expect(listSegments(nodeIO, dir)).toEqual([1, 2]);
  });

  it('snapshots by log bytes, and rotates full segments, on its own', async () => {
    const t = opened(nodeIO, { segmentBytesMax: 64, snapshotLogBytes: 1 << 30 });
    for (const r of recs('record-', 20)) await t.append(r);
    expect(listSegments(nodeIO, dir).length).toBeGreaterThan(3);
    const s = opened(nodeIO, { snapshotLogBytes: 100 }); // replayed bytes count towards the next snapshot
    for (const r of recs('more-', 3)) await s.append(r);
    expect(s.store.counters.snapshots).toBeGreaterThanOrEqual(1);
    const again = opened();
    expect(again.state).toEqual([...recs('record-', 20), ...recs('more-', 3)]);
  });
});

describe('crashes (in-memory disk with a page cache)', () => {
  const DIR = '/data/shard-0';
  const toy = (disk: FakeDisk, fsync: FsyncMode = 'always'): Toy => new Toy(disk.boot(), { fsync }, DIR).open();

  it('acknowledged appends survive an OS crash; unacknowledged ones may not', async () => {
    const disk = new FakeDisk(3);
    const t = toy(disk);
    await Promise.all(recs('acked', 5).map((r) => t.append(r)));
    const lost = t.append('pending'); // not flushed yet
    disk.crash();
    await expect(lost).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    disk.reboot('none');
    expect(toy(disk).state).toEqual(recs('acked', 5));
  });

  it('a damaged tail that recovery cut off stays cut off: records acknowledged after that recovery survive the next crash', async () => {
    // A crash left the newest segment ending in a frame whose header reached the disk and whose
    // payload did not (the file size covers it, the bytes read as zeros).
    const disk = new FakeDisk(4);
    const a = toy(disk);
    await a.append('r1');
    const seg1 = join(DIR, segmentName(1));
    const header = encodeFrame(Buffer.from('r2-never-acknowledged')).subarray(0, FRAME_HEADER_BYTES);
    disk.put(seg1, Buffer.concat([disk.read(seg1), header, Buffer.alloc(21)]));
    disk.crash();
    disk.reboot('none');

    const b = toy(disk);
    expect(b.state).toEqual(['r1']);
    expect(b.report.torn + b.report.corrupt).toBe(1);
    await b.append('r3'); // acknowledged: fdatasynced in segment 2
    disk.crash();
    disk.reboot('none'); // only what was made durable is there

    const c = toy(disk);
    expect(c.state).toEqual(['r1', 'r3']);
  });

  it('a torn tail cut off by recovery and then reappearing (cut not durable) does not lose later records', async () => {
    const disk = new FakeDisk(5);
    const a = toy(disk);
    await a.append('r1');
    const seg1 = join(DIR, segmentName(1));
    const frame = encodeFrame(Buffer.from('r2-never-acknowledged'));
    disk.put(seg1, Buffer.concat([disk.read(seg1), frame.subarray(0, 12)]));
    disk.crash();
    disk.reboot('none');
    const b = toy(disk);
    expect(b.report.torn).toBe(1);
    await b.append('r3');
    disk.crash();
    disk.reboot('none');
    expect(toy(disk).state).toEqual(['r1', 'r3']);
  });

  it('a crash while a snapshot is being written leaves the previous snapshot and the log in charge', async () => {
    for (let n = 1; n <= 12; n++) {
      const disk = new FakeDisk(100 + n);
      const t = toy(disk);
      await t.append('r1');
      t.store.snapshot();
      await t.append('r2');
      disk.armCrash(n);
      t.store.snapshot();
      await t.append('r3').catch(() => undefined);
      disk.crash();
      disk.reboot(n % 2 === 0 ? 'none' : 'prefix');
      const again = toy(disk);
      expect(again.state.slice(0, 2), `crash at IO call ${n}`).toEqual(['r1', 'r2']);
      expect(again.state.length).toBeLessThanOrEqual(3);
    }
  });
});
