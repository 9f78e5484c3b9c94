// SegmentLog and listSegments against a real directory.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFrame, scanFrames } from '../../../src/storage/framing.js';
import { nodeIO, type StorageIO } from '../../../src/storage/io.js';
import { listSegments, segmentName, SegmentLog } from '../../../src/storage/segments.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'seg-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const frame = (s: string): Buffer => encodeFrame(Buffer.from(s));
const payloadsOf = (seq: number): string[] => scanFrames(readFileSync(join(dir, segmentName(seq)))).payloads.map((p) => p.toString());

describe('segmentName / listSegments', () => {
  it('names segments with 16 zero-padded digits', () => {
    expect(segmentName(1)).toBe('0000000000000001.log');
    expect(segmentName(1234567890123)).toBe('0001234567890123.log');
  });

  it('lists only segment files, ascending by number (not by name order of other files)', () => {
    for (const n of [10, 2, 1, 300, 9]) writeFileSync(join(dir, segmentName(n)), '');
    for (const other of ['snapshot-0000000000000001.snap', '0000000000000005.log.corrupt', '0000000000000006.log.after-corrupt', '5.log', 'x.log', '0000000000000007.log.tmp']) {
      writeFileSync(join(dir, other), '');
    }
    expect(listSegments(nodeIO, dir)).toEqual([1, 2, 9, 10, 300]);
  });

  it('an empty directory has no segments', () => {
    expect(listSegments(nodeIO, dir)).toEqual([]);
  });
});

describe('SegmentLog', () => {
  it('start(after) creates segment after+1, empty, even over an existing file of that name', () => {
    writeFileSync(join(dir, segmentName(4)), 'stale bytes');
    const log = new SegmentLog(dir, nodeIO, 1 << 20, true);
    log.start(3);
    expect(log.currentSeq).toBe(4);
    expect(log.currentSize).toBe(0);
    expect(statSync(join(dir, segmentName(4))).size).toBe(0);
    log.close();
  });

  it('append writes frames back to back; size and bytesWritten follow', () => {
    const log = new SegmentLog(dir, nodeIO, 1 << 20, true);
    log.start(0);
    const a = frame('alpha');
    const b = Buffer.concat([frame('beta'), frame('gamma')]);
    log.append(a);
    log.append(b);
    expect(log.currentSize).toBe(a.length + b.length);
    expect(log.bytesWritten).toBe(a.length + b.length);
    log.sync();
    expect(payloadsOf(1)).toEqual(['alpha', 'beta', 'gamma']);
    log.close();
  });

  it('full once the size reaches segmentBytesMax', () => {
    const log = new SegmentLog(dir, nodeIO, 30, false);
    log.start(0);
    log.append(frame('0123456789')); // 18 bytes
    expect(log.full).toBe(false);
    log.append(frame('0123456789'));
    expect(log.full).toBe(true);
    log.close();
  });

  it('rotate closes the current segment and starts the next; appends go to the new one', () => {
    const log = new SegmentLog(dir, nodeIO, 1 << 20, true);
    log.start(0);
    log.append(frame('one'));
    expect(log.rotate()).toBe(1);
    expect(log.currentSeq).toBe(2);
    expect(log.currentSize).toBe(0);
    log.append(frame('two'));
    expect(log.rotate()).toBe(2);
    log.append(frame('three'));
    log.close();
    expect(listSegments(nodeIO, dir)).toEqual([1, 2, 3]);
    expect(payloadsOf(1)).toEqual(['one']);
    expect(payloadsOf(2)).toEqual(['two']);
    expect(payloadsOf(3)).toEqual(['three']);
  });

  it('removeThrough deletes segments up to seq, never the current one, and counts them', () => {
    const log = new SegmentLog(dir, nodeIO, 1 << 20, true);
    log.start(0);
    for (let i = 0; i < 4; i++) {
      log.append(frame(`r${i}`));
      log.rotate();
    }
    expect(listSegments(nodeIO, dir)).toEqual([1, 2, 3, 4, 5]);
    expect(log.removeThrough(2)).toBe(2);
    expect(listSegments(nodeIO, dir)).toEqual([3, 4, 5]);
    expect(log.removeThrough(100)).toBe(2);
    expect(listSegments(nodeIO, dir)).toEqual([5]);
    expect(log.currentSeq).toBe(5);
    log.append(frame('still here'));
    log.close();
    expect(payloadsOf(5)).toEqual(['still here']);
  });

  it('syncs the directory after creating a segment only when asked to', () => {
    let dirSyncs = 0;
    const io: StorageIO = { ...nodeIO, fsyncDir: (d) => (dirSyncs++, nodeIO.fsyncDir(d)) };
    const a = new SegmentLog(dir, io, 1 << 20, true);
    a.start(0);
    a.rotate();
    expect(dirSyncs).toBe(2);
    a.close();
    const b = new SegmentLog(dir, io, 1 << 20, false);
    b.start(10);
    b.rotate();
    b.close();
    expect(dirSyncs).toBe(2);
  });

  it('a failed write (part of the bytes written, then ENOSPC) cuts the file back and rethrows', () => {
    let fail = false;
    const io: StorageIO = {
      ...nodeIO,
      writeAt(fd, buf, position) {
        if (fail) {
          nodeIO.writeAt(fd, buf.subarray(0, Math.floor(buf.length / 2)), position);
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }
        nodeIO.writeAt(fd, buf, position);
      },
    };
    const log = new SegmentLog(dir, io, 1 << 20, true);
    log.start(0);
    log.append(frame('kept'));
    const before = statSync(join(dir, segmentName(1))).size;
    fail = true;
    expect(() => log.append(Buffer.concat([frame('lost-1'), frame('lost-2')]))).toThrow(/ENOSPC/);
    expect(statSync(join(dir, segmentName(1))).size).toBe(before);
    expect(log.currentSize).toBe(before);
    fail = false;
    log.append(frame('after'));
    log.close();
    expect(payloadsOf(1)).toEqual(['kept', 'after']);
    expect(readdirSync(dir)).toEqual([segmentName(1)]);
  });
});
