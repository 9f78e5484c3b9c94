// Log replay on several threads: the devices split into parts, each part's engine handing its
// devices over to the shard's. Whatever the split, the shard must answer exactly as the live
// shard that wrote the log did.
import { describe, expect, it } from 'vitest';
import { BatchBuilder, unpackBatch, type Reply } from '../../../src/shard/protocol.js';
import { ReplayThread, type ReplayHelperFactory } from '../../../src/shard/replay-thread.js';
import { ReplayPart, replayPartOf } from '../../../src/shard/replay.js';
import { encodeFrame } from '../../../src/storage/framing.js';
import { Shard, type ShardOptions } from '../../../src/shard/shard.js';
import { LocalReplayHelper } from '../../support/local-replay-helper.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeDisk } from '../../property/durability-fake-io.js';
import { encodePackedEvents } from '../../../src/storage/records.js';
import { nodeIO, type StorageIO } from '../../../src/storage/io.js';
import { tempDir } from '../../support/temp-dir.js';
import { olderVersion } from '../../support/older-batches.js';

const T0 = Date.UTC(2025, 0, 15, 10);
const DEVICES = 12;
const options: ShardOptions = {
  index: 0,
  limits: { ringCapacity: 15, rawRetentionMs: 365 * 86_400_000, rollupRetentionMs: 365 * 86_400_000 },
  // Surveyed (rings sized before the replay) however short the log.
  storage: { dir: '/data/shard-0', fsync: 'always', segmentBytesMax: 1 << 20, snapshotLogBytes: 1 << 30, snapshotIntervalMs: 0, surveyLogBytesMin: 0 },
};
const withThreads = (threads: number): ShardOptions => ({ ...options, replay: { threads, logBytesMin: 0 } });

type IngestReply = Reply<{ statuses: Uint8Array }>;

/** Batches that mix devices, with late events, evictions, repeated tags and shifting tag sets; devices from `firstDevice` on appear only here. */
async function ingest(s: Shard, from: number, batches: number, devices: number): Promise<number> {
  let n = from;
  for (let k = 0; k < batches; k++) {
    const b = new BatchBuilder();
    for (let i = 0; i < 40; i++, n++) {
      const device = `d${(n * 7) % devices}`;
      const ts = T0 + n * 1000 - (n % 4 === 0 ? 30_000 : 0);
      const tags = n % 3 === 0 ? [] : n % 11 === 0 ? ['room:1', 'room:1'] : [`room:${n % 2}`, `fw:${(n >> 3) % 3}`];
      // mem: large values of both signs, whose sum over devices loses different low bits in another order.
      b.add(i, device, `e${n}`, ts, n % 5 === 0 ? { cpu: n } : { cpu: n / 2, mem: ((n % 3) - 1) * 1e15 + n * 0.37 }, tags);
    }
    const reply = (await s.handle({ op: 'ingest', batch: b.finish() })) as IngestReply;
    if (!reply.ok) throw new Error(reply.error.message);
  }
  return n;
}

function answers(s: Shard): unknown[] {
  const out: unknown[] = [];
  const ask = (task: Parameters<Shard['handle']>[0]) => {
    const r = s.handle(task) as Reply<unknown>;
    if (!r.ok) throw new Error(r.error.message);
    out.push(r.value);
  };
  const all = { fromMs: -Infinity, toMs: Infinity };
  for (let d = 0; d < DEVICES; d++) {
    ask({ op: 'recent', deviceId: `d${d}`, ...all, limit: 100 });
    ask({ op: 'aggregateJson', metric: 'cpu', deviceId: `d${d}`, ...all, intervalMs: 60_000, maxBuckets: 1000 });
  }
  // Sums over all devices: the same only if the devices are added in the same order.
  ask({ op: 'aggregateJson', metric: 'mem', ...all, intervalMs: 60_000, maxBuckets: 1000 });
  ask({ op: 'aggregateJson', metric: 'mem', ...all, intervalMs: 1000, maxBuckets: 100_000 });
  ask({ op: 'searchJson', tags: ['room:1'], ...all, limit: 1000 });
  ask({ op: 'searchJson', tags: ['room:0', 'fw:2'], ...all, limit: 1000 });
  ask({ op: 'listRules' });
  const stats = s.handle({ op: 'stats' }) as Reply<{ engine: Record<string, number> }>;
  if (!stats.ok) throw new Error(stats.error.message);
  const { devices, rawEvents, eventsStored, rawEvicted, rollupMinutesEvicted, postingsLists, postingsEntries, rollupSeries, rollupMinutes, tagSets } = stats.value.engine;
  out.push({ devices, rawEvents, eventsStored, rawEvicted, rollupMinutesEvicted, postingsLists, postingsEntries, rollupSeries, rollupMinutes, tagSets });
  return out;
}

/**
 * A disk whose snapshot holds devices d0..d4 and whose log after it holds all twelve devices
 * (the first five among them, and a rule change), and what the live shard answered before it stopped.
 */
async function written(opts: ShardOptions = options): Promise<{ disk: FakeDisk; want: unknown[]; events: number }> {
  const disk = new FakeDisk(11);
  const first = new Shard(opts, disk.boot());
  first.open();
  const before = await ingest(first, 0, 3, 5);
  expect(await first.handle({ op: 'close' })).toEqual({ ok: true, value: true }); // snapshots
  const live = new Shard(opts, disk.boot());
  live.open();
  expect(await live.handle({ op: 'addRule', rule: { id: 4, device_id: 'd7', metric: 'cpu', op: '>', threshold: 9 } })).toEqual({ ok: true, value: true });
  const after = await ingest(live, before, 6, DEVICES);
  const want = answers(live);
  disk.crash();
  disk.reboot('none');
  return { disk, want, events: after - before };
}

/** Every device's newest event sent again: each one must come back a duplicate. */
async function resendNewest(s: Shard): Promise<number[]> {
  const b = new BatchBuilder();
  for (let d = 0; d < DEVICES; d++) {
    const r = s.handle({ op: 'recent', deviceId: `d${d}`, fromMs: -Infinity, toMs: Infinity, limit: 1 }) as Reply<string>;
    if (!r.ok) throw new Error(r.error.message);
    const [e] = JSON.parse(r.value) as { event_id: string; timestamp: string; metrics: Record<string, number> }[];
    b.add(d, `d${d}`, e!.event_id, Date.parse(e!.timestamp), e!.metrics, []);
  }
  const reply = (await s.handle({ op: 'ingest', batch: b.finish() })) as IngestReply;
  if (!reply.ok) throw new Error(reply.error.message);
  return [...reply.value.statuses];
}

/** Helpers in this thread, reading the log through the shard's own `io`. */
const local = (made: LocalReplayHelper[], io: StorageIO): ReplayHelperFactory => (limits, part, parts) => {
  const h = new LocalReplayHelper(limits, part, parts, io);
  made.push(h);
  return h;
};

/** The shard's files of a fake disk, copied to a real directory (a helper thread reads the real files). */
function onRealDisk(disk: FakeDisk, opts: ShardOptions): ShardOptions {
  const io = disk.boot();
  const dir = tempDir('replay-thread-');
  for (const name of io.list(options.storage!.dir)) writeFileSync(join(dir, name), io.readFile(`${options.storage!.dir}/${name}`));
  return { ...opts, storage: { ...opts.storage!, dir } };
}

const workerEntry = new URL('../../../dist/shard/replay-worker.js', import.meta.url);

/**
 * A helper thread that has started: one still starting when the shard's thread reaches the end
 * of these short logs takes no part (see ReplayHandOff), and these tests are of its part.
 */
function started(h: ReplayThread): ReplayThread {
  if (!h.waitStarted()) throw new Error('the replay helper thread did not start');
  return h;
}

describe('log replay on several threads', () => {
  it('splits the devices new to the engine into parts by a hash of their own', () => {
    const seen = new Set<number>();
    for (let d = 0; d < 64; d++) seen.add(replayPartOf(`device-${d}`, 3));
    expect([...seen].sort()).toEqual([0, 1, 2]);
    expect(replayPartOf('device-1', 1)).toBe(0);
  });

  it('answers as the live shard did, whatever the number of parts (helpers in this thread)', async () => {
    const { disk, want, events } = await written();
    for (const threads of [1, 2, 3, 4]) {
      const helpers: LocalReplayHelper[] = [];
      const io = disk.boot();
      const replayed = new Shard(withThreads(threads), io, () => {}, false, local(helpers, io));
      const report = replayed.open();
      expect(report.snapshotSeq).not.toBeNull();
      expect(report.events).toBe(events);
      expect(helpers.length).toBe(threads - 1);
      for (const h of helpers) expect(h.records).toBeGreaterThan(0);
      expect(answers(replayed)).toEqual(want);
      // The adopted devices' id indexes came across: dedup still works on every device.
      expect(await resendNewest(replayed)).toEqual(new Array(DEVICES).fill(1));
    }
  });

  it("a helper that is ready only part-way takes its devices as the shard's thread replayed them until then, and the rest of the log", async () => {
    const { disk, want } = await written();
    const records = 7; // after the snapshot: a rule change and six batches
    for (const threads of [2, 3]) {
      for (const readyAfter of [2, 4, records - 1, records + 5]) {
        const io = disk.boot();
        const helpers: LocalReplayHelper[] = [];
        const late: ReplayHelperFactory = (limits, part, parts) => {
          const h = new LocalReplayHelper(limits, part, parts, io, part === 1 ? readyAfter : 0);
          helpers.push(h);
          return h;
        };
        const logged: string[] = [];
        const replayed = new Shard(withThreads(threads), io, (_level, msg, fields) => logged.push(`${msg} ${JSON.stringify(fields ?? {})}`), false, late);
        replayed.open();
        const first = helpers[0]!;
        if (readyAfter < records) {
          // It was handed the devices of its part that had appeared, and read only the records left.
          expect(first.handed).toBeGreaterThan(0);
          expect(first.records).toBe(records - readyAfter);
        } else {
          // Never ready before the last record: it took no part, and the shard's thread replayed its devices.
          expect([first.handed, first.records]).toEqual([-1, 0]);
        }
        const took = helpers.filter((h) => h.handed >= 0).length;
        expect(logged.some((m) => m.startsWith('shard recovered') && m.includes(`"replayThreads":${1 + took}`))).toBe(true);
        expect(answers(replayed)).toEqual(want);
        expect(await resendNewest(replayed)).toEqual(new Array(DEVICES).fill(1));
      }
    }
  });

  it('answers as the live shard did when retention drops raw events and rollup minutes as it goes', async () => {
    const short: ShardOptions = { ...options, limits: { ringCapacity: 15, rawRetentionMs: 2 * 60_000, rollupRetentionMs: 3 * 60_000 } };
    const { disk, want } = await written(short);
    const evicted = want.at(-1) as { rawEvicted: number; rollupMinutesEvicted: number };
    expect(evicted.rollupMinutesEvicted).toBeGreaterThan(0);
    for (const threads of [1, 3]) {
      const io = disk.boot();
      const replayed = new Shard({ ...short, replay: { threads, logBytesMin: 0 } }, io, () => {}, false, local([], io));
      replayed.open();
      expect(answers(replayed)).toEqual(want);
    }
  });

  it('answers as the live shard did with a helper thread', async () => {
    const { disk, want } = await written();
    // The thread runs the compiled worker from dist/ (built by the global setup).
    let threads = 0;
    const thread: ReplayHelperFactory = (limits, part, parts) => {
      threads++;
      return started(new ReplayThread(limits, part, parts, workerEntry));
    };
    const logged: string[] = [];
    const replayed = new Shard(onRealDisk(disk, withThreads(2)), nodeIO, (_level, msg, fields) => logged.push(`${msg} ${JSON.stringify(fields ?? {})}`), false, thread);
    replayed.open();
    expect(threads).toBe(1);
    expect(logged.some((m) => m.startsWith('shard recovered') && m.includes('"replayThreads":2'))).toBe(true);
    expect(answers(replayed)).toEqual(want);
    expect(await resendNewest(replayed)).toEqual(new Array(DEVICES).fill(1));
  });

  it("a helper thread's heap gets the young generation it is given, and V8's own without one", () => {
    const limits = withThreads(2).limits;
    const sized = new ReplayThread(limits, 1, 2, workerEntry, 10);
    const plain = new ReplayThread(limits, 1, 2, workerEntry);
    try {
      expect(sized.youngGenerationMb).toBe(10);
      // Unset, the parent sees -1; V8 then sizes it as for any thread (48 MB here).
      expect(plain.youngGenerationMb).not.toBe(10);
    } finally {
      sized.cancel();
      plain.cancel();
    }
  });

  it('a helper thread reads the log only as far as the survey found it whole (a torn record at its end is not applied)', async () => {
    const disk = new FakeDisk(12);
    const live = new Shard(options, disk.boot());
    live.open();
    await ingest(live, 0, 4, DEVICES);
    const want = answers(live);
    // A record the crash cut short: the rest of a batch of new events never reached the disk.
    const torn = new BatchBuilder();
    for (let i = 0; i < 40; i++) torn.add(i, `d${i % DEVICES}`, `torn-${i}`, T0 + 1e6 + i, { cpu: -1 }, ['room:9']);
    await live.store!.append(encodePackedEvents(torn.finishBytes()));
    disk.crash();
    disk.reboot('none');
    const real = onRealDisk(disk, withThreads(2));
    const segment = disk.boot().list(options.storage!.dir).filter((n) => n.endsWith('.log')).sort().at(-1)!;
    const path = join(real.storage!.dir, segment);
    const whole = readFileSync(path);
    writeFileSync(path, whole.subarray(0, whole.length - 100));
    const logged: string[] = [];
    const replayed = new Shard(real, nodeIO, (level, msg, fields) => logged.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`), false, (limits, part, parts) => started(new ReplayThread(limits, part, parts, workerEntry)));
    const report = replayed.open();
    expect(report.torn).toBe(1);
    // The helper's part counted (a helper that read on into the torn record would have failed, and the shard replayed alone).
    expect(logged.filter((m) => m.startsWith('error'))).toEqual([]);
    expect(logged.some((m) => m.startsWith('info shard recovered') && m.includes('"replayThreads":2'))).toBe(true);
    expect(answers(replayed)).toEqual(want);
  });

  it("a helper's part reads each segment only up to the end it is given, and fails on one that no longer reads whole", () => {
    const record = (k: number) => {
      const b = new BatchBuilder();
      for (let i = 0; i < 10; i++) b.add(i, `d${i}`, `r${k}-${i}`, T0 + k * 100 + i, { cpu: i }, []);
      return encodeFrame(encodePackedEvents(b.finishBytes()));
    };
    const frames = [record(0), record(1), record(2)];
    const file = Buffer.concat(frames);
    const readAt = (_path: string, buf: Uint8Array, position: number) => {
      const n = Math.max(0, Math.min(buf.length, file.length - position));
      buf.set(file.subarray(position, position + n));
      return n;
    };
    const stored = (part: ReplayPart) => part.handOver().eventsStored;
    const whole = new ReplayPart(options.limits, 0, 1);
    let records = 0;
    whole.replayLog(readAt, [{ path: 'seg', end: file.length }], () => records++);
    expect([records, stored(whole)]).toEqual([3, 30]);
    // The survey stopped after two frames (what follows was damaged, or torn): the third is not applied.
    const two = new ReplayPart(options.limits, 0, 1);
    two.replayLog(readAt, [{ path: 'seg', end: frames[0]!.length + frames[1]!.length }]);
    expect(stored(two)).toBe(20);
    // A range that ends inside a frame, or past the file: the file is not what the survey read.
    expect(() => new ReplayPart(options.limits, 0, 1).replayLog(readAt, [{ path: 'seg', end: frames[0]!.length + 5 }])).toThrow(/does not read as it did in the survey/);
    expect(() => new ReplayPart(options.limits, 0, 1).replayLog(readAt, [{ path: 'seg', end: file.length + 1 }])).toThrow(/does not read as it did in the survey/);
  });

  it('a helper thread that fails: the replay starts over on the shard\'s thread alone, and says why', async () => {
    const { disk, want } = await written();
    const entry = new URL('../../support/failing-replay-worker.mjs', import.meta.url);
    const logged: string[] = [];
    const replayed = new Shard(onRealDisk(disk, withThreads(2)), nodeIO, (_level, msg, fields) => logged.push(`${msg} ${JSON.stringify(fields ?? {})}`), false, (limits, part, parts) => started(new ReplayThread(limits, part, parts, entry)));
    replayed.open();
    expect(answers(replayed)).toEqual(want);
    expect(logged.some((m) => m.includes('replay helper 1 failed: Error: the helper could not apply a record; replaying again'))).toBe(true);
    expect(logged.some((m) => m.startsWith('shard recovered') && m.includes('"replayThreads":1'))).toBe(true);
    // It takes writes and keeps them.
    expect(await resendNewest(replayed)).toEqual(new Array(DEVICES).fill(1));
  });

  it('replays a log shorter than logBytesMin on one thread, counting only what the newest snapshot does not cover', async () => {
    const { disk, want } = await written();
    const tail = new Shard(options, disk.boot()).store!.replayBytes();
    const logged = disk.boot().list('/data/shard-0').filter((n) => n.endsWith('.log')).reduce((b, n) => b + disk.boot().fileSize(`/data/shard-0/${n}`), 0);
    expect(tail).toBeGreaterThan(0);
    expect(tail).toBeLessThan(logged); // the snapshot covers the first shard's segment
    for (const [min, threads] of [[tail + 1, 1], [tail, 2]] as const) {
      const helpers: LocalReplayHelper[] = [];
      const io = disk.boot();
      const replayed = new Shard({ ...options, replay: { threads: 2, logBytesMin: min } }, io, () => {}, false, local(helpers, io));
      replayed.open();
      expect(helpers.length).toBe(threads - 1);
      expect(answers(replayed)).toEqual(want);
      disk.crash();
      disk.reboot('none');
    }
  });

  it('is ready before the id indexes, which indexIds builds a step at a time (or a device\'s next event at once)', async () => {
    const { disk, want } = await written();
    for (const threads of [1, 3]) {
      const io = disk.boot();
      const replayed = new Shard(withThreads(threads), io, () => {}, false, local([], io));
      replayed.open();
      const unindexed = () => [...replayed.engine.devices.values()].filter((d) => !d.ring.indexed).length;
      expect(unindexed()).toBe(DEVICES);
      expect(replayed.engine.stats().idIndexesPending).toBe(DEVICES);
      expect(answers(replayed)).toEqual(want);
      let steps = 0;
      while (replayed.indexIds(0)) steps++;
      expect(steps).toBe(DEVICES - 1); // a device a step when the budget is spent at once
      expect(unindexed()).toBe(0);
      expect(replayed.engine.stats().idIndexesPending).toBe(0);
      expect(await resendNewest(replayed)).toEqual(new Array(DEVICES).fill(1));
      disk.crash();
      disk.reboot('none');
    }
  });

  it('says when a log holds an event id twice for one device (never written by the shard), once the index is built', async () => {
    const disk = new FakeDisk(13);
    const first = new Shard(options, disk.boot());
    first.open();
    const b = new BatchBuilder();
    b.add(0, 'd0', 'same', T0, { cpu: 1 }, []);
    b.add(1, 'd0', 'other', T0 + 1, { cpu: 2 }, []);
    b.add(2, 'd0', 'same', T0 + 2, { cpu: 3 }, []); // only a broken log could hold this
    await first.store!.append(encodePackedEvents(b.finishBytes()));
    disk.crash();
    disk.reboot('none');
    const logged: string[] = [];
    const replayed = new Shard(options, disk.boot(), (level, msg) => logged.push(`${level} ${msg}`));
    expect(replayed.open().events).toBe(3);
    expect(replayed.indexIds(Infinity)).toBe(false);
    expect(logged.filter((m) => m.startsWith('error'))).toEqual(['error the log held 1 events whose event_id an older held event of the same device already has']);
  });

  it('replays a log an older build began (ids as msgpack strings) and this one went on with, on one part or two', async () => {
    const disk = new FakeDisk(17);
    const first = new Shard(options, disk.boot());
    first.open();
    const older = new BatchBuilder();
    const newer = new BatchBuilder();
    for (let d = 0; d < DEVICES; d++) {
      older.add(d, `d${d}`, `old-${d}`, T0 + d, { cpu: d }, ['room:1']);
      older.add(DEVICES + d, `d${d}`, `é🚀${d}`, T0 + 100 + d, { cpu: -d }, []); // two bytes a code unit
      newer.add(d, `d${d}`, `new-${d}`, T0 + 200 + d, { cpu: 2 * d }, ['room:1']);
    }
    // The older build's record, logged and applied as that build would have.
    const v2 = olderVersion(older.finishBytes(), 2);
    await first.store!.append(encodePackedEvents(v2));
    first.applyBatch(unpackBatch(v2));
    expect(((await first.handle({ op: 'ingest', batch: newer.finish() })) as IngestReply).ok).toBe(true);
    const want = answers(first);
    disk.crash();
    disk.reboot('none');
    for (const threads of [1, 2]) {
      const made: LocalReplayHelper[] = [];
      const io = disk.boot();
      const s = new Shard(withThreads(threads), io, () => {}, false, local(made, io));
      expect(s.open().events).toBe(3 * DEVICES);
      expect(made).toHaveLength(threads - 1);
      expect(answers(s)).toEqual(want);
      // Every id of both versions is known again: all duplicates.
      const again = new BatchBuilder();
      for (let d = 0; d < DEVICES; d++) for (const id of [`old-${d}`, `é🚀${d}`, `new-${d}`]) again.add(again.length, `d${d}`, id, T0, {}, []);
      const reply = (await s.handle({ op: 'ingest', batch: again.finish() })) as IngestReply;
      expect(reply.ok && [...reply.value.statuses]).toEqual(new Array(3 * DEVICES).fill(1));
      disk.crash();
      disk.reboot('none');
    }
  });

  it('replays on one thread when a helper cannot be started, and says so', async () => {
    const { disk, want } = await written();
    const logged: string[] = [];
    const failing: ReplayHelperFactory = () => {
      throw new Error('no more threads');
    };
    const replayed = new Shard(withThreads(3), disk.boot(), (_level, msg) => logged.push(msg), false, failing);
    replayed.open();
    expect(answers(replayed)).toEqual(want);
    expect(logged.some((m) => m.includes('could not start a replay helper') && m.includes('no more threads'))).toBe(true);
  });

  it('fails recovery with an error that is not a helper\'s (a bug), stops the helpers, and leaves nothing half-open', async () => {
    const { disk, want } = await written();
    const helpers: LocalReplayHelper[] = [];
    let cancelled = 0;
    const io = disk.boot();
    const breaking: ReplayHelperFactory = (limits, part, parts) => {
      const h = local(helpers, io)(limits, part, parts) as LocalReplayHelper;
      h.cancel = () => void cancelled++;
      if (part === 2) h.take = () => {
        throw new Error('replay helper thread 2 failed: boom');
      };
      return h;
    };
    const replayed = new Shard(withThreads(3), io, () => {}, false, breaking);
    expect(() => replayed.open()).toThrow('replay helper thread 2 failed: boom');
    expect(cancelled).toBe(2);
    // Nothing was half-opened: writes are refused, and closing writes no snapshot of the part
    // that had been replayed (a later start would take it for the whole).
    const r = (await replayed.handle({ op: 'ingest', batch: new BatchBuilder().finish() })) as IngestReply;
    expect(r.ok).toBe(false);
    expect(await replayed.handle({ op: 'close' })).toEqual({ ok: true, value: true });
    const again = new Shard(options, disk.boot());
    again.open();
    expect(answers(again)).toEqual(want);
  });
});
