// Snapshot files of one shard: snapshot-<seq>.snap holds the shard's whole state as of the end of
// log segment <seq>, as frames (see framing.ts) of msgpack:
//   format 2: { format, coversSeq, head, parts: n }, then n frames of one part each;
//   format 1 (earlier versions, still read): one frame of { format, coversSeq, state }, read as
//             head = state and no parts.
// Parts (a shard's devices) are packed, written and read one at a time, so neither the writer nor
// recovery holds the whole file in one buffer: read whole, a big snapshot was fresh memory the
// kernel faulted in page by page, a third of the time to recover from it.
// A snapshot is written to a temporary file, fsynced, renamed and the directory fsynced, so it is
// either entirely there or not at all; one that fails a checksum, or has fewer parts than its head
// says, is passed over for an older one.
import { pack, unpack } from '../codec/msgpack.js';
import { frameHeader, scanFramesChunked } from './framing.js';
import type { StorageIO } from './io.js';
import { pathIn, writeFileAtomicWith } from './io.js';

export const SNAPSHOT_FORMAT = 2;

/** What a snapshot holds: a head, and parts written and read a frame each. */
export interface SnapshotState {
  head: unknown;
  parts: unknown[];
}
const SNAPSHOT_NAME = /^snapshot-(\d{16})\.snap$/;

export const snapshotName = (seq: number): string => `snapshot-${String(seq).padStart(16, '0')}.snap`;

/** Sequence numbers of the snapshots in dir, newest first. */
export function listSnapshots(io: StorageIO, dir: string): number[] {
  const out: number[] = [];
  for (const name of io.list(dir)) {
    const m = SNAPSHOT_NAME.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => b - a);
}

/** Writes the snapshot covering segments up to coversSeq; returns its size in bytes. */
export function writeSnapshot(io: StorageIO, dir: string, coversSeq: number, state: SnapshotState): number {
  return writeFileAtomicWith(io, pathIn(dir, snapshotName(coversSeq)), (write) => {
    const frame = (payload: Uint8Array) => {
      write(frameHeader(payload));
      write(payload);
    };
    frame(pack({ format: SNAPSHOT_FORMAT, coversSeq, head: state.head, parts: state.parts.length }));
    for (const part of state.parts) frame(pack(part));
  });
}

export type SnapshotRead = { ok: true; state: SnapshotState } | { ok: false; why: string };

/** A frame that checked out but does not decode (told apart from the file failing to read). */
class UndecodableFrame extends Error {}

interface SnapshotDoc {
  format?: unknown;
  coversSeq?: unknown;
  head?: unknown;
  parts?: unknown;
  state?: unknown;
}

export function readSnapshot(io: StorageIO, dir: string, seq: number): SnapshotRead {
  const path = pathIn(dir, snapshotName(seq));
  let doc: SnapshotDoc | undefined;
  const parts: unknown[] = [];
  let frames = 0;
  let scan;
  try {
    scan = scanFramesChunked(
      (buf, position) => io.readAt(path, buf, position),
      (payload) => {
        // Every frame is decoded (typed arrays come out as copies, so the reused read buffer may move on).
        let value: unknown;
        try {
          value = unpack(payload);
        } catch (e) {
          throw new UndecodableFrame((e as Error).message);
        }
        if (frames++ === 0) doc = value as SnapshotDoc;
        else parts.push(value);
      },
    );
  } catch (e) {
    return { ok: false, why: `${e instanceof UndecodableFrame ? 'does not decode' : 'unreadable'}: ${(e as Error).message}` };
  }
  if (scan.stop.kind !== 'end') return { ok: false, why: `${scan.stop.kind} at byte ${scan.stop.offset}: ${scan.stop.why}` };
  if (doc === undefined) return { ok: false, why: 'no frames' };
  if (doc.coversSeq !== seq) return { ok: false, why: `covers segment ${String(doc.coversSeq)}, named ${seq}` };
  if (doc.format === 1) {
    if (frames !== 1) return { ok: false, why: `${frames} frames, expected 1` };
    return { ok: true, state: { head: doc.state, parts: [] } };
  }
  if (doc.format !== SNAPSHOT_FORMAT) return { ok: false, why: `unknown snapshot format ${String(doc.format)}` };
  if (doc.parts !== parts.length) return { ok: false, why: `${parts.length} parts, its head says ${String(doc.parts)}` };
  return { ok: true, state: { head: doc.head, parts } };
}

export function removeSnapshot(io: StorageIO, dir: string, seq: number): void {
  io.remove(pathIn(dir, snapshotName(seq)));
}
