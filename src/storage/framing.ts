// Record framing of log segments and snapshot files. This module knows bytes, not meanings.
//
//   0        4        8                8+n
//   +--------+--------+----------------+
//   | n: u32 | crc:u32| payload n bytes|   (integers little-endian)
//   +--------+--------+----------------+
//
// crc = CRC-32 (zlib) of the 4 length bytes followed by the payload, so a damaged length is caught
// too. 1 <= n <= FRAME_BYTES_MAX. A segment is frames back to back; nothing else.
//
// Reading stops at the first frame that does not check out:
// - torn: the bytes end inside a frame (a header or payload cut short), or the rest of the file is
//   zeros (space a crash left allocated but unwritten). Expected after a crash: cut off and counted.
// - corrupt: a whole frame is there but its checksum or length is wrong. Not expected: the segment
//   is kept aside for inspection, and replay stops there.
import { crc32 } from 'node:zlib';

export const FRAME_HEADER_BYTES = 8;
export const FRAME_BYTES_MAX = 1 << 30;

/** The 8 header bytes of a frame around payload; write them, then the payload, to avoid copying a large one. */
export const frameHeader = (payload: Uint8Array): Buffer => frameHeaderOf([payload]);

/**
 * The 8 header bytes of a frame whose payload is `parts` back to back: written before them (one
 * writev), a record is framed without being copied into one buffer first.
 */
export function frameHeaderOf(parts: readonly Uint8Array[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  if (n < 1 || n > FRAME_BYTES_MAX) throw new RangeError(`frame payload must be 1..${FRAME_BYTES_MAX} bytes, got ${n}`);
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32LE(n, 0);
  let crc = crc32(header.subarray(0, 4));
  for (const p of parts) crc = crc32(p, crc);
  header.writeUInt32LE(crc, 4);
  return header;
}

/** One frame around a payload, as one buffer. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.set(frameHeader(payload), 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export type ScanStop = { kind: 'end' } | { kind: 'torn'; offset: number; why: string } | { kind: 'corrupt'; offset: number; why: string };

export interface ScanResult {
  /** Payloads of the good frames, in order (views into the scanned buffer). */
  payloads: Buffer[];
  /** Byte offset just after the last good frame. */
  validEnd: number;
  stop: ScanStop;
}

const allZero = (buf: Uint8Array, from: number): boolean => {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
};

/** Reads frames from the start of buf until the end or the first damage. Never throws on bad data. */
export function scanFrames(buf: Buffer): ScanResult {
  const payloads: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    const left = buf.length - at;
    if (left < FRAME_HEADER_BYTES) {
      return { payloads, validEnd: at, stop: { kind: 'torn', offset: at, why: `${left} bytes left, less than a frame header` } };
    }
    const n = buf.readUInt32LE(at);
    if (n === 0 && allZero(buf, at)) {
      return { payloads, validEnd: at, stop: { kind: 'torn', offset: at, why: 'zero-filled tail' } };
    }
    if (n === 0 || n > FRAME_BYTES_MAX) {
      return { payloads, validEnd: at, stop: { kind: 'corrupt', offset: at, why: `impossible frame length ${n}` } };
    }
    if (left < FRAME_HEADER_BYTES + n) {
      return { payloads, validEnd: at, stop: { kind: 'torn', offset: at, why: `frame of ${n} bytes cut short at ${left - FRAME_HEADER_BYTES}` } };
    }
    const end = at + FRAME_HEADER_BYTES + n;
    const expected = buf.readUInt32LE(at + 4);
    const actual = crc32(buf.subarray(at + FRAME_HEADER_BYTES, end), crc32(buf.subarray(at, at + 4)));
    if (expected !== actual) {
      // A header followed by nothing but zeros to the end of the file: the header reached the disk,
      // the payload never did. That is a crash cutting a write short, not damage.
      if (allZero(buf, at + FRAME_HEADER_BYTES)) {
        return { payloads, validEnd: at, stop: { kind: 'torn', offset: at, why: 'frame header without its payload (zeros)' } };
      }
      return { payloads, validEnd: at, stop: { kind: 'corrupt', offset: at, why: 'checksum mismatch' } };
    }
    payloads.push(buf.subarray(at + FRAME_HEADER_BYTES, end));
    at = end;
  }
  return { payloads, validEnd: at, stop: { kind: 'end' } };
}

/**
 * Bytes a log segment is read in; a frame larger than this gets a buffer of its own size. Small
 * enough to stay in the core's cache between the read, the CRC and the decode: a 1M-event replay
 * took 1.12–1.18 s in process with 1 MiB against 1.27–1.30 s with 8 MiB (bench/RESULTS.md).
 */
export const READ_CHUNK_BYTES = 1 << 20;

/** The read buffer of the last scan, for the next (fresh memory is a page fault per 4 KiB here). */
let spareChunk: Buffer | undefined;

/** Reads up to buf.length bytes of a file at position into buf; returns how many (0 at the end). */
export type ReadAt = (buf: Buffer, position: number) => number;

/**
 * What scanFrames says of a whole file, read through one reused buffer: the same payloads, in
 * order, handed to onPayload with the file offset of their frame (each a view that is valid only
 * during that call), the same validEnd and the same stop. Frames that end within the first
 * `checkedEnd` bytes are not checksummed again: a scan of the same bytes in the same recovery
 * (the survey) checked them, and the CRC is most of a scan's own cost (three passes over a log
 * replayed on two threads were 5–9% of its CPU). Read whole, a 10M-event segment (770 MB) is fresh memory the kernel faults in
 * page by page, which cost replay more than checking the frames' CRCs.
 */
export function scanFramesChunked(
  read: ReadAt,
  onPayload: (payload: Buffer, offset: number) => void,
  chunkBytes = READ_CHUNK_BYTES,
  checkedEnd = 0,
): { validEnd: number; stop: ScanStop } {
  // Taken, not shared: a scan started from inside onPayload would read into a buffer of its own.
  let buf = spareChunk !== undefined && spareChunk.length === chunkBytes ? spareChunk : Buffer.allocUnsafe(chunkBytes);
  spareChunk = undefined;
  let base = 0; // file offset of buf[0]
  let filled = 0;
  let eof = false;
  for (;;) {
    while (!eof && filled < buf.length) {
      const n = read(buf.subarray(filled), base + filled);
      if (n === 0) eof = true;
      else filled += n;
    }
    let at = 0;
    let need = 0; // bytes the frame at `at` needs to be whole, when it is cut by the buffer's end
    for (;;) {
      const left = filled - at;
      if (left < FRAME_HEADER_BYTES) {
        need = FRAME_HEADER_BYTES;
        break;
      }
      const n = buf.readUInt32LE(at);
      if (n === 0 || n > FRAME_BYTES_MAX) break;
      const end = at + FRAME_HEADER_BYTES + n;
      if (end > filled) {
        need = FRAME_HEADER_BYTES + n;
        break;
      }
      if (base + end > checkedEnd && buf.readUInt32LE(at + 4) !== crc32(buf.subarray(at + FRAME_HEADER_BYTES, end), crc32(buf.subarray(at, at + 4)))) break;
      onPayload(buf.subarray(at + FRAME_HEADER_BYTES, end), base + at);
      at = end;
    }
    if (need > 0 && !eof) {
      // The next frame runs past what is buffered: keep its start, read on.
      const keep = filled - at;
      if (need > buf.length) {
        const bigger = Buffer.allocUnsafe(need);
        buf.copy(bigger, 0, at, filled);
        buf = bigger;
      } else buf.copy(buf, 0, at, filled);
      base += at;
      filled = keep;
      continue;
    }
    // Damage, or the end: scanFrames decides what the rest of the file is, exactly as for a whole
    // file (a zero-filled tail, say, needs every byte up to the end).
    const rest = eof ? buf.subarray(at, filled) : readRest(read, buf.subarray(at, filled), base + filled);
    const tail = scanFrames(rest);
    const offset = base + at;
    let frame = offset;
    for (const p of tail.payloads) {
      onPayload(p, frame);
      frame += FRAME_HEADER_BYTES + p.length;
    }
    if (buf.length === chunkBytes) spareChunk = buf;
    const stop = tail.stop.kind === 'end' ? tail.stop : { ...tail.stop, offset: tail.stop.offset + offset };
    return { validEnd: offset + tail.validEnd, stop };
  }
}

/** `head` followed by everything in the file from `position` on. */
function readRest(read: ReadAt, head: Buffer, position: number): Buffer {
  const chunks = [Buffer.from(head)];
  for (;;) {
    const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    const n = read(chunk, position);
    if (n === 0) return Buffer.concat(chunks);
    chunks.push(chunk.subarray(0, n));
    position += n;
  }
}
