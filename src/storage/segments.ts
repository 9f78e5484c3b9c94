// The log of one shard as numbered segment files in its directory: 0000000000000001.log, ...
// Records are only ever appended to the newest segment, which is started fresh at every start
// (never appended to after a crash). A write either lands whole or is cut back off: after a
// failed write the file is truncated to where it was, so no partial record stays behind.
import type { StorageIO } from './io.js';
import { pathIn } from './io.js';

const SEGMENT_NAME = /^(\d{16})\.log$/;

export const segmentName = (seq: number): string => `${String(seq).padStart(16, '0')}.log`;

/** Sequence numbers of the segments in dir, ascending. */
export function listSegments(io: StorageIO, dir: string): number[] {
  const out: number[] = [];
  for (const name of io.list(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

export class SegmentLog {
  private fd = -1;
  /** The fdatasyncLater in flight (at most one: the store starts the next when it settles). */
  private inFlight: { fd: number; done: Promise<void> } | undefined;
  private seq = 0;
  private size = 0;
  /** Bytes appended since this object was made. */
  bytesWritten = 0;

  constructor(
    readonly dir: string,
    private readonly io: StorageIO,
    private readonly segmentBytesMax: number,
    private readonly syncDirOnCreate: boolean,
  ) {}

  get currentSeq(): number {
    return this.seq;
  }

  get currentSize(): number {
    return this.size;
  }

  /** Starts segment afterSeq + 1 and makes it the one appended to. */
  start(afterSeq: number): void {
    this.seq = afterSeq + 1;
    const path = pathIn(this.dir, segmentName(this.seq));
    this.fd = this.io.openAppend(path);
    this.io.truncateFd(this.fd, 0);
    this.size = 0;
    // The new file's directory entry must be durable before anything in it is acknowledged.
    if (this.syncDirOnCreate) this.io.fsyncDir(this.dir);
  }

  /** Appends bytes (whole frames, in chunks) in one write; on failure cuts the file back and rethrows. */
  append(bytesOrChunks: Uint8Array | readonly Uint8Array[]): void {
    const chunks = bytesOrChunks instanceof Uint8Array ? [bytesOrChunks] : bytesOrChunks;
    const at = this.size;
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    try {
      if (chunks.length === 1) this.io.writeAt(this.fd, chunks[0]!, at);
      else this.io.writevAt(this.fd, chunks, at);
    } catch (e) {
      try {
        this.io.truncateFd(this.fd, at);
      } catch {
        // The original error is the one to report; the shard stops writing either way.
      }
      throw e;
    }
    this.size += bytes;
    this.bytesWritten += bytes;
  }

  sync(): void {
    this.io.fdatasync(this.fd);
  }

  /** Syncs the current segment off this thread; settles when done. */
  syncLater(): Promise<void> {
    const fd = this.fd;
    const done = this.io.fdatasyncLater(fd);
    const entry = { fd, done };
    this.inFlight = entry;
    const clear = () => {
      if (this.inFlight === entry) this.inFlight = undefined;
    };
    done.then(clear, clear);
    return done;
  }

  /** Resolves once no fdatasyncLater is in flight. */
  async settled(): Promise<void> {
    while (this.inFlight) await this.inFlight.done.catch(() => {});
  }

  /** Closes fd, but only after a sync in flight on it is done (its file must not close under it). */
  private closeFd(fd: number): void {
    const busy = this.inFlight?.fd === fd ? this.inFlight.done : undefined;
    if (busy === undefined) this.io.close(fd);
    else {
      const close = () => {
        try {
          this.io.close(fd);
        } catch {
          // Nothing depends on this close: the segment was synced before it was let go.
        }
      };
      busy.then(close, close);
    }
  }

  get full(): boolean {
    return this.size >= this.segmentBytesMax;
  }

  /** Syncs and closes the current segment, starts the next; returns the sequence of the closed one. */
  rotate(): number {
    const closed = this.seq;
    this.sync();
    this.closeFd(this.fd);
    this.start(closed);
    return closed;
  }

  /** Deletes every segment numbered up to and including seq (never the current one). */
  removeThrough(seq: number): number {
    let n = 0;
    for (const s of listSegments(this.io, this.dir)) {
      if (s <= seq && s !== this.seq) {
        this.io.remove(pathIn(this.dir, segmentName(s)));
        n++;
      }
    }
    return n;
  }

  close(sync = true): void {
    if (this.fd >= 0) {
      if (sync) this.sync();
      this.closeFd(this.fd);
      this.fd = -1;
    }
  }
}
