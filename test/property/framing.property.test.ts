// Replay reads log segments in chunks through one reused buffer; whatever the bytes (good frames,
// a torn or zero-filled tail, damage anywhere, frames larger than the chunk), it must find exactly
// what scanFrames finds in the whole file at once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FRAME_HEADER_BYTES, scanFrames, scanFramesChunked } from '../../src/storage/framing.js';

const file = fc
  .record({
    payloads: fc.array(fc.uint8Array({ minLength: 1, maxLength: 120 }), { maxLength: 12 }),
    damage: fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('zeros' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 300 }) }),
      fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
    ),
  })
  .map(({ payloads, damage }) => {
    let buf = Buffer.concat(payloads.map((p) => encodeFrame(p)));
    const at = (n: number) => (buf.length === 0 ? 0 : n % buf.length);
    if (damage.kind === 'cut') buf = buf.subarray(0, at(damage.at));
    if (damage.kind === 'flip' && buf.length > 0) buf[at(damage.at)] = buf[at(damage.at)]! ^ (1 << damage.bit);
    if (damage.kind === 'zeros') buf = Buffer.concat([buf.subarray(0, at(damage.at)), Buffer.alloc(damage.n)]);
    if (damage.kind === 'garbage') buf = Buffer.concat([buf, Buffer.from(damage.bytes)]);
    return buf;
  });

const reader = (buf: Buffer) => (into: Buffer, position: number): number => {
  const n = Math.max(0, Math.min(into.length, buf.length - position));
  buf.copy(into, 0, position, position + n);
  return n;
};

describe('scanFramesChunked', () => {
  it('finds what scanFrames finds in the whole file, for any chunk size', () => {
    fc.assert(
      fc.property(file, fc.integer({ min: 1, max: 400 }), (buf, chunk) => {
        const whole = scanFrames(buf);
        const got: Buffer[] = [];
        const offsets: number[] = [];
        const r = scanFramesChunked(
          reader(buf),
          (p, offset) => {
            got.push(Buffer.from(p));
            offsets.push(offset);
          },
          chunk,
        );
        expect(got).toEqual(whole.payloads.map((p) => Buffer.from(p)));
        // Each payload's frame starts where the one before it ends (the first at 0), and its header gives its length.
        let at = 0;
        for (let k = 0; k < got.length; k++) {
          expect(offsets[k]).toBe(at);
          expect(buf.readUInt32LE(at)).toBe(got[k]!.length);
          at += FRAME_HEADER_BYTES + got[k]!.length;
        }
        expect(r.validEnd).toBe(whole.validEnd);
        expect(r.stop).toEqual(whole.stop);
      }),
      { numRuns: 3_000 },
    );
  });

  it('finds the same when told the frames up to where a scan found them whole were checked already', () => {
    fc.assert(
      fc.property(file, fc.integer({ min: 1, max: 400 }), (buf, chunk) => {
        const whole = scanFrames(buf);
        const got: Buffer[] = [];
        const r = scanFramesChunked(reader(buf), (p) => got.push(Buffer.from(p)), chunk, whole.validEnd);
        expect(got).toEqual(whole.payloads.map((p) => Buffer.from(p)));
        expect(r.validEnd).toBe(whole.validEnd);
        expect(r.stop).toEqual(whole.stop);
      }),
      { numRuns: 1_000 },
    );
  });

  it('checks no frame that ends within the checked bytes again, and every frame after them', () => {
    const frames = [0, 1, 2].map((i) => encodeFrame(Buffer.alloc(50, i + 1)));
    const buf = Buffer.concat(frames);
    // A payload byte of the second frame and of the third changed after they were checked.
    for (const at of [frames[0]!.length + FRAME_HEADER_BYTES, frames[0]!.length + frames[1]!.length + FRAME_HEADER_BYTES]) buf[at] = buf[at]! ^ 0xff;
    const checkedEnd = frames[0]!.length + frames[1]!.length;
    let payloads = 0;
    const r = scanFramesChunked(reader(buf), () => payloads++, 64, checkedEnd);
    expect(payloads).toBe(2);
    expect(r.validEnd).toBe(checkedEnd);
    expect(r.stop).toMatchObject({ kind: 'corrupt', offset: checkedEnd });
    // Unchecked, the second frame stops the scan.
    expect(scanFramesChunked(reader(buf), () => {}, 64).validEnd).toBe(frames[0]!.length);
  });

  it('reads a file far larger than its chunk without holding it whole', () => {
    const frames = Array.from({ length: 500 }, (_, i) => encodeFrame(Buffer.alloc(100 + (i % 50), i & 0xff)));
    const buf = Buffer.concat(frames);
    let largestRead = 0;
    let payloads = 0;
    const r = scanFramesChunked(
      (into, position) => {
        largestRead = Math.max(largestRead, into.length);
        return reader(buf)(into, position);
      },
      () => payloads++,
      1024,
    );
    expect(payloads).toBe(500);
    expect(r).toEqual({ validEnd: buf.length, stop: { kind: 'end' } });
    expect(largestRead).toBeLessThanOrEqual(1024);
  });
});
