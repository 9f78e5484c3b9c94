// Snapshot files against a real directory.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pack } from '../../../src/codec/msgpack.js';
import { encodeFrame } from '../../../src/storage/framing.js';
import { nodeIO } from '../../../src/storage/io.js';
import { listSnapshots, readSnapshot, removeSnapshot, SNAPSHOT_FORMAT, snapshotName, writeSnapshot } from '../../../src/storage/snapshots.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'snap-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const state = {
  head: { tagSets: [[], ['a', 'b']], counters: [3, 1, 0, 0], rules: [{ id: 1, device_id: 'd1', metric: 'cpu', op: '>', threshold: 0.5 }] },
  parts: [
    { id: 'd1', ts: new Float64Array([1, 2.5, -3]), ids: { chars: new Uint8Array([101, 49, 101, 50]), lengths: Uint16Array.of(2, 2) }, tagSets: new Uint32Array([0, 1, 1]) },
    { id: 'd2', ts: new Float64Array([7]), ids: 'e7', tagSets: new Uint32Array([0]) },
  ],
};
const only = (head: unknown) => ({ head, parts: [] });

describe('snapshots', () => {
  it('write then read returns the same state (typed arrays included)', () => {
    const bytes = writeSnapshot(nodeIO, dir, 7, state);
    expect(bytes).toBe(readFileSync(join(dir, snapshotName(7))).length);
    const r = readSnapshot(nodeIO, dir, 7);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.state).toEqual(state);
      const d = r.state.parts[0] as { ts: unknown; tagSets: unknown; ids: { lengths: unknown } };
      expect(d.ts).toBeInstanceOf(Float64Array);
      expect(d.tagSets).toBeInstanceOf(Uint32Array);
      expect(d.ids.lengths).toBeInstanceOf(Uint16Array);
    }
    // No temporary file is left behind.
    expect(readdirSync(dir)).toEqual([snapshotName(7)]);
  });

  it('overwriting a snapshot of the same number replaces it whole', () => {
    writeSnapshot(nodeIO, dir, 2, { head: { v: 'old'.repeat(100) }, parts: [1, 2, 3] });
    writeSnapshot(nodeIO, dir, 2, only({ v: 'new' }));
    const r = readSnapshot(nodeIO, dir, 2);
    expect(r).toEqual({ ok: true, state: only({ v: 'new' }) });
  });

  it('lists snapshots newest first, ignoring other files', () => {
    for (const n of [3, 12, 1]) writeSnapshot(nodeIO, dir, n, only({ n }));
    writeFileSync(join(dir, 'snapshot-0000000000000099.snap.tmp'), 'x');
    writeFileSync(join(dir, '0000000000000050.log'), '');
    writeFileSync(join(dir, 'snapshot-5.snap'), '');
    expect(listSnapshots(nodeIO, dir)).toEqual([12, 3, 1]);
    removeSnapshot(nodeIO, dir, 3);
    expect(listSnapshots(nodeIO, dir)).toEqual([12, 1]);
  });

  it('a flipped byte anywhere in the file reads {ok: false}, never throws', () => {
    writeSnapshot(nodeIO, dir, 4, state);
    const path = join(dir, snapshotName(4));
    const good = readFileSync(path);
    for (let at = 0; at < good.length; at++) {
      for (const bit of [0, 7]) {
        const bad = Buffer.from(good);
        bad[at]! ^= 1 << bit;
        writeFileSync(path, bad);
        const r = readSnapshot(nodeIO, dir, 4);
        expect(r.ok, `byte ${at} bit ${bit}`).toBe(false);
        if (!r.ok) expect(r.why.length).toBeGreaterThan(0);
      }
    }
  });

  it('a truncated or empty file reads {ok: false}', () => {
    writeSnapshot(nodeIO, dir, 4, state);
    const path = join(dir, snapshotName(4));
    const good = readFileSync(path);
    for (const len of [0, 1, 8, good.length - 1]) {
      writeFileSync(path, good.subarray(0, len));
      expect(readSnapshot(nodeIO, dir, 4).ok, `length ${len}`).toBe(false);
    }
  });

  it('a file with bytes after its frame reads {ok: false}', () => {
    writeSnapshot(nodeIO, dir, 4, state);
    const path = join(dir, snapshotName(4));
    writeFileSync(path, Buffer.concat([readFileSync(path), encodeFrame(pack('extra'))]));
    const r = readSnapshot(nodeIO, dir, 4);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(/3 parts, its head says 2/);
  });

  it('a file that ends after a whole frame but before its last part reads {ok: false}', () => {
    writeSnapshot(nodeIO, dir, 4, state);
    const path = join(dir, snapshotName(4));
    const last = encodeFrame(pack(state.parts[1]));
    const good = readFileSync(path);
    writeFileSync(path, good.subarray(0, good.length - last.length));
    const r = readSnapshot(nodeIO, dir, 4);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(/1 parts, its head says 2/);
  });

  it('reads the one-frame snapshots of format 1 as a head without parts', () => {
    const old = { tagSets: [[]], devices: [{ id: 'd1', ids: 'a\nb' }] };
    writeFileSync(join(dir, snapshotName(3)), encodeFrame(pack({ format: 1, coversSeq: 3, state: old })));
    expect(readSnapshot(nodeIO, dir, 3)).toEqual({ ok: true, state: { head: old, parts: [] } });
    writeFileSync(join(dir, snapshotName(3)), Buffer.concat([encodeFrame(pack({ format: 1, coversSeq: 3, state: old })), encodeFrame(pack(1))]));
    expect(readSnapshot(nodeIO, dir, 3).ok).toBe(false);
  });

  it('a snapshot renamed to another number (coversSeq mismatch) reads {ok: false}', () => {
    writeSnapshot(nodeIO, dir, 4, state);
    writeFileSync(join(dir, snapshotName(5)), readFileSync(join(dir, snapshotName(4))));
    const r = readSnapshot(nodeIO, dir, 5);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(/covers segment 4, named 5/);
  });

  it('an unknown format reads {ok: false}', () => {
    writeFileSync(join(dir, snapshotName(1)), encodeFrame(pack({ format: SNAPSHOT_FORMAT + 1, coversSeq: 1, head: {}, parts: 0 })));
    const r = readSnapshot(nodeIO, dir, 1);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(/format/);
  });

  it('a frame whose payload is not msgpack reads {ok: false}', () => {
    writeFileSync(join(dir, snapshotName(1)), encodeFrame(Buffer.from([0xc1, 0xc1, 0xc1])));
    expect(readSnapshot(nodeIO, dir, 1).ok).toBe(false);
  });

  it('a missing snapshot reads {ok: false}', () => {
    const r = readSnapshot(nodeIO, dir, 9);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.why).toMatch(/unreadable/);
  });
});
