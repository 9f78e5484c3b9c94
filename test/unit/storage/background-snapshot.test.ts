// Scheduled snapshots written by a background writer: the shard pauses only to copy its state,
// keeps appending meanwhile, and prunes only once the snapshot file is in place.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeIO } from '../../../src/storage/io.js';
import { listSnapshots, readSnapshot, writeSnapshot } from '../../../src/storage/snapshots.js';
import { ShardStore, type BackgroundSnapshotWriter } from '../../../src/storage/store.js';
import { SnapshotWriterThread } from '../../../src/storage/snapshot-writer.js';
import { tempDir } from '../../support/temp-dir.js';

const payload = (n: number) => new Uint8Array([1, n & 255, (n >> 8) & 255]);

function setup(writer: BackgroundSnapshotWriter) {
  const dir = tempDir('bgsnap-');
  let exported = 0;
  const store = new ShardStore(
    { dir, fsync: 'always', segmentBytesMax: 1 << 20, snapshotLogBytes: 1 << 40, snapshotIntervalMs: 0 },
    nodeIO,
    () => ({ head: { exported: ++exported }, parts: [] }),
    () => {},
    writer,
  );
  store.recover(
    () => {},
    () => 0,
  );
  return { dir, store, exportedCount: () => exported };
}

describe('background snapshots', () => {
  it('copy the state at once, write it later, and keep appends going meanwhile', async () => {
    let release: () => void = () => {};
    const jobs: { covers: number; state: unknown }[] = [];
    const writer: BackgroundSnapshotWriter = (dir, covers, state) => {
      jobs.push({ covers, state });
      return new Promise<number>((resolve) => {
        release = () => resolve(writeSnapshot(nodeIO, dir, covers, state));
      });
    };
    const t = setup(writer);
    await t.store.append(payload(1));
    t.store.requestSnapshot();
    expect(t.exportedCount()).toBe(1); // the state was copied synchronously
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.covers).toBe(1);
    // A second request while one is being written is not stacked.
    t.store.requestSnapshot();
    expect(jobs).toHaveLength(1);
    // Appends go on into the next segment while the snapshot is being written.
    await t.store.append(payload(2));
    expect(listSnapshots(nodeIO, t.dir)).toEqual([]);
    release();
    await new Promise((r) => setImmediate(r));
    expect(listSnapshots(nodeIO, t.dir)).toEqual([1]);
    const snap = readSnapshot(nodeIO, t.dir, 1);
    expect(snap.ok && snap.state).toEqual({ head: { exported: 1 }, parts: [] });
    expect(t.store.counters.snapshots).toBe(1);
    await t.store.close();
  });

  it('a failed background write costs nothing but a retry: the store keeps working and the log keeps everything', async () => {
    const t = setup(() => Promise.reject(new Error('disk hiccup')));
    await t.store.append(payload(1));
    t.store.requestSnapshot();
    await new Promise((r) => setImmediate(r));
    expect(t.store.failure).toBeUndefined();
    await t.store.append(payload(2));
    expect(listSnapshots(nodeIO, t.dir)).toEqual([]);
    expect(readdirSync(t.dir).filter((n) => n.endsWith('.log')).length).toBeGreaterThanOrEqual(2);
  });

  it('close waits for the snapshot being written before the final one', async () => {
    let release: () => void = () => {};
    const order: string[] = [];
    const t = setup((dir, covers, state) => new Promise<number>((resolve) => {
      release = () => {
        order.push(`background ${covers}`);
        resolve(writeSnapshot(nodeIO, dir, covers, state));
      };
    }));
    await t.store.append(payload(1));
    t.store.requestSnapshot();
    await t.store.append(payload(2));
    const closing = t.store.close();
    setTimeout(() => release(), 20);
    await closing;
    order.push('closed');
    expect(order).toEqual(['background 1', 'closed']);
    expect(listSnapshots(nodeIO, t.dir)).toEqual([2, 1]); // the final snapshot covers the segment written meanwhile
  });

  it('the writer thread writes a snapshot that reads back, moving typed arrays instead of copying them', async () => {
    // The thread runs the compiled worker from dist/ (built by the global setup).
    const w = new SnapshotWriterThread(new URL('../../../dist/storage/snapshot-worker.js', import.meta.url));
    const dir = tempDir('bgsnap-thread-');
    const ts = Float64Array.from([1, 2, 3]);
    const bytes = await w.write(dir, 7, { head: { ids: 'a\nb\nc' }, parts: [{ ts }] });
    expect(bytes).toBeGreaterThan(24);
    expect(ts.byteLength).toBe(0); // transferred to the writer
    const snap = readSnapshot(nodeIO, dir, 7);
    expect(snap.ok).toBe(true);
    if (snap.ok) expect(snap.state).toEqual({ head: { ids: 'a\nb\nc' }, parts: [{ ts: Float64Array.from([1, 2, 3]) }] });
    await w.close();
  });
});

describe('recovery and interrupted snapshots', () => {
  it('removes a snapshot temp file a crash left behind, and does not read it', () => {
    const dir = tempDir('bgsnap-tmp-');
    writeFileSync(join(dir, 'snapshot-0000000000000003.snap.tmp'), 'half a snapshot');
    const store = new ShardStore({ dir, fsync: 'never', segmentBytesMax: 1 << 20, snapshotLogBytes: 1 << 40, snapshotIntervalMs: 0 }, nodeIO, () => ({ head: {}, parts: [] }));
    let imported = 0;
    store.recover(
      () => imported++,
      () => 0,
    );
    expect(imported).toBe(0);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
