// Snapshot files of one shard: snapshot-<seq>.snap holds the shard's whole state as of the end of
// log segment <seq>, as one frame (see framing.ts) around msgpack { format, coversSeq, state }.
// A snapshot is written to a temporary file, fsynced, renamed and the directory fsynced, so it is
// either entirely there or not at all; one that fails its checksum is passed over for an older one.
import { pack, unpack } from '../codec/msgpack.js';
import { frameHeader, scanFrames } from './framing.js';
import type { StorageIO } from './io.js';
import { pathIn, writeFileAtomic } from './io.js';

export const SNAPSHOT_FORMAT = 1;
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
export function writeSnapshot(io: StorageIO, dir: string, coversSeq: number, state: unknown): number {
  const payload = pack({ format: SNAPSHOT_FORMAT, coversSeq, state });
  const header = frameHeader(payload);
  writeFileAtomic(io, pathIn(dir, snapshotName(coversSeq)), header, payload);
  return header.length + payload.length;
}

export type SnapshotRead = { ok: true; state: unknown } | { ok: false; why: string };

export function readSnapshot(io: StorageIO, dir: string, seq: number): SnapshotRead {
  let buf: Buffer;
  try {
    buf = io.readFile(pathIn(dir, snapshotName(seq)));
  } catch (e) {
    return { ok: false, why: `unreadable: ${(e as Error).message}` };
  }
  const scan = scanFrames(buf);
  if (scan.stop.kind !== 'end' || scan.payloads.length !== 1) {
    return { ok: false, why: scan.stop.kind === 'end' ? `${scan.payloads.length} frames, expected 1` : `${scan.stop.kind} at byte ${scan.stop.offset}: ${scan.stop.why}` };
  }
  try {
    const doc = unpack(scan.payloads[0]!) as { format?: unknown; coversSeq?: unknown; state?: unknown };
    if (doc.format !== SNAPSHOT_FORMAT) return { ok: false, why: `unknown snapshot format ${String(doc.format)}` };
    if (doc.coversSeq !== seq) return { ok: false, why: `covers segment ${String(doc.coversSeq)}, named ${seq}` };
    return { ok: true, state: doc.state };
  } catch (e) {
    return { ok: false, why: `does not decode: ${(e as Error).message}` };
  }
}

export function removeSnapshot(io: StorageIO, dir: string, seq: number): void {
  io.remove(pathIn(dir, snapshotName(seq)));
}
