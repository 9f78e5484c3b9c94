// A Shard with its store over the in-memory disk (page cache vs disk): what an answer promises.
import { describe, expect, it } from 'vitest';
import { BatchBuilder, encodePacked, type Reply } from '../../../src/shard/protocol.js';
import { Shard, type ShardOptions } from '../../../src/shard/shard.js';
import { FakeDisk } from '../../property/durability-fake-io.js';
import { pack } from '../../../src/codec/msgpack.js';
import { encodeFrame } from '../../../src/storage/framing.js';
import { writeFileAtomic } from '../../../src/storage/io.js';

const T0 = Date.UTC(2025, 0, 15, 10);
const options: ShardOptions = {
  index: 0,
  limits: { ringCapacity: 1000, rawRetentionMs: 365 * 86_400_000, rollupRetentionMs: 365 * 86_400_000 },
  storage: { dir: '/data/shard-0', fsync: 'always', segmentBytesMax: 1 << 20, snapshotLogBytes: 1 << 30, snapshotIntervalMs: 0 },
};

const batch = (...ids: string[]): ArrayBuffer => {
  const b = new BatchBuilder();
  ids.forEach((id, i) => b.add(i, 'd1', id, T0 + i, { cpu: i }, []));
  return b.finish();
};

const boot = (disk: FakeDisk): Shard => {
  const s = new Shard(options, disk.boot());
  s.open();
  return s;
};

const ids = (s: Shard): string[] => {
  const r = s.handle({ op: 'recent', deviceId: 'd1', fromMs: -Infinity, toMs: Infinity, limit: 100 }) as Reply<string>;
  if (!r.ok) throw new Error(r.error.message);
  return (JSON.parse(r.value) as { event_id: string }[]).map((e) => e.event_id).sort();
};

type IngestReply = Reply<{ statuses: Uint8Array }>;

describe('Shard durability', () => {
  it('an ingest is answered only once its record is durable, and then survives an OS crash', async () => {
    const disk = new FakeDisk(1);
    const s = boot(disk);
    const r = s.handle({ op: 'ingest', batch: batch('e1', 'e2') });
    expect(r).toBeInstanceOf(Promise);
    expect(disk.counts.fdatasync).toBe(0);
    const reply = (await r) as IngestReply;
    expect(reply.ok).toBe(true);
    expect(disk.counts.fdatasync).toBe(1);
    disk.crash();
    disk.reboot('none');
    expect(ids(boot(disk))).toEqual(['e1', 'e2']);
  });

  it('a batch handed over in the shared slab is stored and logged, and nothing keeps the block once answered', async () => {
    const disk = new FakeDisk(5);
    const slab = new SharedArrayBuffer(1 << 16);
    const s = new Shard({ ...options, batchSlab: slab }, disk.boot());
    s.open();
    const b = new BatchBuilder();
    ['e1', 'e2', 'e3'].forEach((id, i) => b.add(i, 'd1', id, T0 + i, { cpu: i }, [`tag-${id}`]));
    const at = 4096;
    const bytes = encodePacked(b.build(), (size) => Buffer.from(slab, at, size));
    const reply = (await s.handle({ op: 'ingestShared', at, bytes: bytes.length })) as IngestReply;
    expect(reply.ok).toBe(true);
    // The front reuses the block for the next batch: what the shard stored must not change.
    new Uint8Array(slab).fill(0xff);
    const search = () => s.handle({ op: 'searchJson', tags: ['tag-e2'], fromMs: -Infinity, toMs: Infinity, limit: 10 }) as Reply<string>;
    const before = search();
    expect(ids(s)).toEqual(['e1', 'e2', 'e3']);
    expect(before.ok && JSON.parse(before.value)).toEqual([{ event_id: 'e2', device_id: 'd1', timeStamp: new Date(T0 + 1).toISOString(), metrics: { cpu: 1 }, tags: ['tag-e2'] }]);
    // And the log holds the batch as it was sent.
    disk.crash();
    disk.reboot('none');
    const again = boot(disk);
    expect(ids(again)).toEqual(['e1', 'e2', 'e3']);
    expect(again.handle({ op: 'searchJson', tags: ['tag-e2'], fromMs: -Infinity, toMs: Infinity, limit: 10 })).toEqual(before);
  });

  it('a rule answered ok survives an OS crash, and so does its removal', async () => {
    const disk = new FakeDisk(2);
    const s = boot(disk);
    const rule = { id: 1, device_id: 'd1', metric: 'cpu', op: '>' as const, threshold: 3 };
    expect(await s.handle({ op: 'addRule', rule: { ...rule, id: 2 } })).toEqual({ ok: true, value: true });
    expect(await s.handle({ op: 'addRule', rule })).toEqual({ ok: true, value: true });
    expect(await s.handle({ op: 'removeRule', id: 2 })).toEqual({ ok: true, value: true });
    disk.crash();
    disk.reboot('none');
    expect(boot(disk).handle({ op: 'listRules' })).toEqual({ ok: true, value: [rule] });
  });

  it('after a crash the engine refuses writes with SHARD_UNAVAILABLE, and nothing pending is acknowledged', async () => {
    const disk = new FakeDisk(3);
    const s = boot(disk);
    const p = s.handle({ op: 'ingest', batch: batch('e1') });
    disk.crash();
    const r = (await p) as IngestReply;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('SHARD_UNAVAILABLE');
    const later = s.handle({ op: 'ingest', batch: batch('e9') }) as IngestReply;
    expect(later.ok).toBe(false);
    if (!later.ok) expect(later.error.code).toBe('SHARD_UNAVAILABLE');
  });

  it('an event answered "duplicate" is one that is durably stored: it survives an OS crash', async () => {
    // Two requests carry the same event in the same turn of the shard's loop: the first is waiting
    // for the group commit; the second is answered "duplicate" at once, before the first's record
    // is on disk. A crash now loses an event that an answer said was stored.
    const disk = new FakeDisk(4);
    const s = boot(disk);
    const first = s.handle({ op: 'ingest', batch: batch('e1') });
    const second = (await s.handle({ op: 'ingest', batch: batch('e1') })) as IngestReply;
    expect(second.ok).toBe(true);
    if (second.ok) expect(Array.from(second.value.statuses)).toEqual([1]); // duplicate
    disk.crash(); // before the group commit ran
    await first;
    disk.reboot('none');
    expect(ids(boot(disk))).toEqual(['e1']);
  });
  it('recovers from a snapshot of format 1 (the whole state in one frame, ids joined by newlines)', async () => {
    const disk = new FakeDisk(9);
    const s = boot(disk);
    await s.handle({ op: 'ingest', batch: batch('e1', 'e2', 'e3') });
    const state = s.engine.exportState();
    // As the earlier version wrote it: devices inside the state, ids one joined string.
    const devices = state.devices.map((d) => ({ ...d, ids: ['e1', 'e2', 'e3'].join('\n') }));
    const io = disk.boot();
    writeFileAtomic(io, '/data/shard-0/snapshot-0000000000000001.snap', encodeFrame(pack({ format: 1, coversSeq: 1, state: { ...state, devices } })));
    // The log segment it covers goes, so only the snapshot can bring the events back.
    io.remove('/data/shard-0/0000000000000001.log');
    const again = new Shard(options, disk.boot());
    expect(again.open().snapshotSeq).toBe(1);
    expect(ids(again)).toEqual(['e1', 'e2', 'e3']);
    const dup = (await again.handle({ op: 'ingest', batch: batch('e2') })) as IngestReply;
    expect(dup.ok && [...dup.value.statuses]).toEqual([1]);
  });

  it('a replayed log rebuilds exactly what live ingest built: batches that mix devices, late events, evictions, tags', async () => {
    const disk = new FakeDisk(7);
    // Surveyed (rings sized before the replay) however short the log.
    const small: ShardOptions = { ...options, limits: { ...options.limits, ringCapacity: 12 }, storage: { ...options.storage!, surveyLogBytesMin: 0 } };
    const live = new Shard(small, disk.boot());
    live.open();
    let n = 0;
    for (let k = 0; k < 6; k++) {
      const b = new BatchBuilder();
      for (let i = 0; i < 40; i++, n++) {
        const device = `d${(n * 7) % 5}`;
        // Some events late (their time before the device's newest), tag sets shifting per device.
        const ts = T0 + n * 1000 - (n % 4 === 0 ? 30_000 : 0);
        const tags = n % 3 === 0 ? [] : [`room:${n % 2}`, `fw:${(n >> 3) % 3}`];
        b.add(i, device, `e${n}`, ts, n % 5 === 0 ? { cpu: n } : { cpu: n / 2, mem: -n }, tags);
      }
      const reply = (await live.handle({ op: 'ingest', batch: b.finish() })) as IngestReply;
      expect(reply.ok).toBe(true);
    }
    const answers = (s: Shard): unknown[] => {
      const out: unknown[] = [];
      const ask = (task: Parameters<Shard['handle']>[0]) => {
        const r = s.handle(task) as Reply<unknown>;
        if (!r.ok) throw new Error(r.error.message);
        out.push(r.value);
      };
      for (let d = 0; d < 5; d++) {
        ask({ op: 'recent', deviceId: `d${d}`, fromMs: -Infinity, toMs: Infinity, limit: 100 });
        ask({ op: 'aggregateJson', metric: 'cpu', deviceId: `d${d}`, fromMs: -Infinity, toMs: Infinity, intervalMs: 60_000, maxBuckets: 1000 });
      }
      ask({ op: 'aggregateJson', metric: 'mem', fromMs: -Infinity, toMs: Infinity, intervalMs: 60_000, maxBuckets: 1000 });
      ask({ op: 'searchJson', tags: ['room:1'], fromMs: -Infinity, toMs: Infinity, limit: 1000 });
      ask({ op: 'searchJson', tags: ['room:0', 'fw:2'], fromMs: -Infinity, toMs: Infinity, limit: 1000 });
      const stats = (s.handle({ op: 'stats' }) as Reply<{ engine: Record<string, number> }>);
      if (!stats.ok) throw new Error(stats.error.message);
      const { eventsStored, rawEvicted, rollupMinutesEvicted } = stats.value.engine;
      out.push({ eventsStored, rawEvicted, rollupMinutesEvicted });
      return out;
    };
    const want = answers(live);
    disk.crash();
    disk.reboot('none');
    const replayed = new Shard(small, disk.boot());
    expect(replayed.open().events).toBe(n);
    expect(answers(replayed)).toEqual(want);
  });
});

