// Frame encoding and scanning: whatever happens to the bytes, scanFrames returns exactly the good
// frames before the first damage, never a damaged payload, and never throws.
import { describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_HEADER_BYTES, frameHeaderOf, scanFrames } from '../../../src/storage/framing.js';
import { encodePackedEvents, packedEventsRecord } from '../../../src/storage/records.js';
import { nodeIO } from '../../../src/storage/io.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randInt, rng } from '../helpers.js';

function payloads(seed: number, n: number, maxLen = 300): Buffer[] {
  const r = rng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(randInt(r, 1, maxLen));
    for (let k = 0; k < b.length; k++) b[k] = randInt(r, 0, 255);
    out.push(b);
  }
  return out;
}

function encodeAll(ps: Buffer[]): { buf: Buffer; starts: number[] } {
  const frames = ps.map((p) => encodeFrame(p));
  const starts: number[] = [];
  let at = 0;
  for (const f of frames) {
    starts.push(at);
    at += f.length;
  }
  return { buf: Buffer.concat(frames), starts };
}

const same = (got: Buffer[], want: Buffer[]): void => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Buffer.compare(got[i]!, want[i]!), `payload ${i}`).toBe(0);
};

describe('encodeFrame', () => {
  it('writes length, then crc, then the payload', () => {
    const f = encodeFrame(Buffer.from('abc'));
    expect(f.length).toBe(FRAME_HEADER_BYTES + 3);
    expect(f.readUInt32LE(0)).toBe(3);
    expect(f.subarray(FRAME_HEADER_BYTES).toString()).toBe('abc');
  });

  it('refuses an empty payload', () => {
    expect(() => encodeFrame(new Uint8Array(0))).toThrow(RangeError);
  });
});

describe('scanFrames', () => {
  it('an all-valid buffer: every frame, stop end, validEnd = length', () => {
    const ps = payloads(1, 20);
    const { buf } = encodeAll(ps);
    const r = scanFrames(buf);
    same(r.payloads, ps);
    expect(r.stop).toEqual({ kind: 'end' });
    expect(r.validEnd).toBe(buf.length);
  });

  it('an empty buffer is a clean end with no frames', () => {
    expect(scanFrames(Buffer.alloc(0))).toEqual({ payloads: [], validEnd: 0, stop: { kind: 'end' } });
  });

  it('a cut at every byte offset inside the last frame keeps exactly the frames before it, torn', () => {
    const ps = payloads(2, 6, 40);
    const { buf, starts } = encodeAll(ps);
    const last = starts[starts.length - 1]!;
    for (let cut = last + 1; cut < buf.length; cut++) {
      let r: ReturnType<typeof scanFrames> | undefined;
      expect(() => (r = scanFrames(buf.subarray(0, cut))), `cut ${cut}`).not.toThrow();
      same(r!.payloads, ps.slice(0, -1));
      expect(r!.stop.kind, `cut ${cut}`).toBe('torn');
      expect(r!.validEnd).toBe(last);
      if (r!.stop.kind !== 'end') expect(r!.stop.offset).toBe(last);
    }
  });

  it('a cut at every byte offset anywhere keeps exactly the whole frames before the cut', () => {
    const ps = payloads(3, 5, 30);
    const { buf, starts } = encodeAll(ps);
    for (let cut = 0; cut <= buf.length; cut++) {
      const r = scanFrames(buf.subarray(0, cut));
      const whole = starts.filter((s, i) => s + FRAME_HEADER_BYTES + ps[i]!.length <= cut).length;
      same(r.payloads, ps.slice(0, whole));
      const boundary = cut === buf.length || starts.includes(cut);
      expect(r.stop.kind, `cut ${cut}`).toBe(boundary ? 'end' : 'torn');
    }
  });

  it('random bit flips anywhere: exactly the frames before the damaged one, never a damaged payload, never throws', () => {
    const r = rng(4);
    for (let trial = 0; trial < 3000; trial++) {
      const ps = payloads(1000 + trial, randInt(r, 1, 8), 60);
      const { buf, starts } = encodeAll(ps);
      const damaged = Buffer.from(buf);
      const flips = randInt(r, 1, 3);
      let first = Infinity;
      for (let f = 0; f < flips; f++) {
        const at = randInt(r, 0, damaged.length - 1);
        damaged[at]! ^= 1 << randInt(r, 0, 7);
        first = Math.min(first, at);
      }
      // The frame holding the first changed byte (flips may cancel out: then compare to the bytes).
      const diffAt = damaged.findIndex((b, i) => b !== buf[i]);
      let res: ReturnType<typeof scanFrames> | undefined;
      expect(() => (res = scanFrames(damaged)), `trial ${trial}`).not.toThrow();
      if (diffAt < 0) {
        same(res!.payloads, ps);
        continue;
      }
      let k = 0;
      while (k + 1 < starts.length && starts[k + 1]! <= diffAt) k++;
      same(res!.payloads, ps.slice(0, k));
      expect(res!.stop.kind, `trial ${trial}`).not.toBe('end');
      expect(res!.validEnd).toBe(starts[k]);
    }
  });

  it('random garbage after valid frames: every valid frame kept, never throws', () => {
    const r = rng(5);
    for (let trial = 0; trial < 2000; trial++) {
      const ps = payloads(5000 + trial, randInt(r, 0, 6), 50);
      const { buf } = ps.length > 0 ? encodeAll(ps) : { buf: Buffer.alloc(0) };
      const garbage = Buffer.alloc(randInt(r, 1, 64));
      for (let i = 0; i < garbage.length; i++) garbage[i] = randInt(r, 0, 255);
      let res: ReturnType<typeof scanFrames> | undefined;
      expect(() => (res = scanFrames(Buffer.concat([buf, garbage]))), `trial ${trial}`).not.toThrow();
      // Garbage may by chance be a valid frame (astronomically unlikely with a CRC-32): the valid
      // frames are a prefix of what is returned, and the stop is at or after them.
      expect(res!.payloads.length).toBeGreaterThanOrEqual(ps.length);
      same(res!.payloads.slice(0, ps.length), ps);
      expect(res!.validEnd).toBeGreaterThanOrEqual(buf.length);
      expect(res!.stop.kind).not.toBe('end');
    }
  });

  it('garbage that claims a huge length is torn or corrupt, never an allocation or a throw', () => {
    const { buf } = encodeAll(payloads(6, 3));
    const g = Buffer.alloc(8);
    g.writeUInt32LE(0xffffffff, 0);
    const r = scanFrames(Buffer.concat([buf, g]));
    expect(r.payloads.length).toBe(3);
    expect(r.stop.kind).toBe('corrupt');
    expect(r.validEnd).toBe(buf.length);
  });

  it('a zero-filled tail (any length) after valid frames is torn', () => {
    const ps = payloads(7, 4);
    const { buf } = encodeAll(ps);
    for (const zeros of [1, 7, 8, 9, 4096]) {
      const r = scanFrames(Buffer.concat([buf, Buffer.alloc(zeros)]));
      same(r.payloads, ps);
      expect(r.stop.kind, `${zeros} zeros`).toBe('torn');
      expect(r.validEnd).toBe(buf.length);
    }
  });

  it('a frame whose payload a crash left as zeros (header written, data not) is cut off with the frames before it kept', () => {
    // After an OS crash the file size may cover a write whose pages never reached the disk: the
    // header landed, the rest of the file reads as zeros. scanFrames calls this 'corrupt' (a whole
    // frame's worth of bytes with a bad checksum), not 'torn'; either way it must be cut there. What
    // recovery does with it is tested in store.test.ts.
    const ps = payloads(8, 3, 100);
    const { buf, starts } = encodeAll(ps);
    const last = starts[2]!;
    const crashed = Buffer.from(buf);
    crashed.fill(0, last + FRAME_HEADER_BYTES + 1); // header + 1 payload byte landed, the rest zeros
    const r = scanFrames(crashed);
    same(r.payloads, ps.slice(0, 2));
    expect(r.validEnd).toBe(last);
    expect(r.stop.kind).not.toBe('end');
  });

  it('payloads are views of the scanned buffer with the right bytes', () => {
    const ps = [Buffer.from([1]), Buffer.from([2, 3])];
    const r = scanFrames(encodeAll(ps).buf);
    same(r.payloads, ps);
  });
});

describe('frames written in parts', () => {
  it('frameHeaderOf(parts) + the parts is byte for byte the frame of the parts joined', () => {
    const ps = payloads(3, 6);
    for (let cut = 1; cut <= ps.length; cut++) {
      const parts = ps.slice(0, cut);
      expect(Buffer.concat([frameHeaderOf(parts), ...parts])).toEqual(encodeFrame(Buffer.concat(parts)));
    }
    expect(() => frameHeaderOf([new Uint8Array(0)])).toThrow(RangeError);
  });

  it('a record in parts is the record encodePackedEvents makes', () => {
    const body = payloads(4, 1)[0]!;
    expect(Buffer.concat(packedEventsRecord(body))).toEqual(Buffer.from(encodePackedEvents(body)));
  });

  it('nodeIO.writevAt writes every chunk back to back at the position', () => {
    const dir = mkdtempSync(join(tmpdir(), 'writev-'));
    try {
      const path = join(dir, 'f');
      const fd = nodeIO.openAppend(path);
      const chunks = payloads(5, 2000, 40); // more chunks than one writev takes (IOV_MAX is 1024)
      nodeIO.writeAt(fd, Buffer.from('head'), 0);
      nodeIO.writevAt(fd, chunks, 4);
      nodeIO.close(fd);
      expect(readFileSync(path)).toEqual(Buffer.concat([Buffer.from('head'), ...chunks]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
