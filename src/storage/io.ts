// The file operations storage needs, behind one small interface so tests can inject faults (a
// failing fsync, a full disk, a short write). Synchronous on purpose: each shard runs them on its
// own thread, and group commit means one write and one fsync cover many requests. The one
// exception is the log's group-commit fdatasync, which also comes as fdatasyncLater: it runs on
// libuv's thread pool while the shard goes on applying the next tasks.
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';

export interface StorageIO {
  mkdirp(dir: string): void;
  list(dir: string): string[];
  exists(path: string): boolean;
  readFile(path: string): Buffer;
  /** Reads up to buf.length bytes of a file at position into buf; returns how many (0 at its end). */
  readAt(path: string, buf: Uint8Array, position: number): number;
  /** Opens for appending at `size`; creates the file if needed. */
  openAppend(path: string): number;
  /** Writes all of buf at position; throws on any failure (ENOSPC, EIO ...). */
  writeAt(fd: number, buf: Uint8Array, position: number): void;
  /** Writes all of the chunks, back to back, at position (one writev where it can); throws as writeAt. */
  writevAt(fd: number, chunks: readonly Uint8Array[], position: number): void;
  fdatasync(fd: number): void;
  /** fdatasync off this thread; settles when it is done. */
  fdatasyncLater(fd: number): Promise<void>;
  truncateFd(fd: number, size: number): void;
  truncate(path: string, size: number): void;
  close(fd: number): void;
  size(fd: number): number;
  /** Bytes in the file at path. */
  fileSize(path: string): number;
  rename(from: string, to: string): void;
  copy(from: string, to: string): void;
  remove(path: string): void;
  fsyncDir(dir: string): void;
  /** fdatasync a file by path (after truncating it, say). */
  syncFile(path: string): void;
}

export const nodeIO: StorageIO = {
  mkdirp: (dir) => void fs.mkdirSync(dir, { recursive: true }),
  list: (dir) => fs.readdirSync(dir),
  exists: (path) => fs.existsSync(path),
  readFile: (path) => fs.readFileSync(path),
  readAt(path, buf, position) {
    const fd = fs.openSync(path, 'r');
    try {
      return fs.readSync(fd, buf, 0, buf.length, position);
    } finally {
      fs.closeSync(fd);
    }
  },
  openAppend: (path) => fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644),
  writeAt(fd, buf, position) {
    let done = 0;
    while (done < buf.length) {
      done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
    }
  },
  writevAt(fd, chunks, position) {
    let total = 0;
    for (const c of chunks) total += c.length;
    let done = fs.writevSync(fd, chunks as Uint8Array[], position);
    // A short writev (rare: a signal, a nearly full disk) goes on with plain writes of what is left.
    for (let i = 0, at = 0; done < total && i < chunks.length; at += chunks[i]!.length, i++) {
      const c = chunks[i]!;
      if (done >= at + c.length) continue;
      nodeIO.writeAt(fd, c.subarray(done - at), position + done);
      done = at + c.length;
    }
  },
  fdatasync: (fd) => fs.fdatasyncSync(fd),
  fdatasyncLater: (fd) => new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve()))),
  truncateFd: (fd, size) => fs.ftruncateSync(fd, size),
  truncate: (path, size) => fs.truncateSync(path, size),
  close: (fd) => fs.closeSync(fd),
  size: (fd) => fs.fstatSync(fd).size,
  fileSize: (path) => fs.statSync(path).size,
  rename: (from, to) => fs.renameSync(from, to),
  copy: (from, to) => fs.copyFileSync(from, to),
  remove: (path) => fs.rmSync(path, { force: true }),
  syncFile: (path) => withOpen(path, 'r+', fs.fdatasyncSync),
  fsyncDir: (dir) => withOpen(dir, 'r', fs.fsyncSync),
};

function withOpen(path: string, flags: string, use: (fd: number) => void): void {
  const fd = fs.openSync(path, flags);
  try {
    use(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a whole file (the chunks in order) so that it is either entirely there or not at all: temp file, fsync, rename, fsync dir. */
export function writeFileAtomic(io: StorageIO, path: string, ...chunks: Uint8Array[]): void {
  writeFileAtomicWith(io, path, (write) => {
    for (const chunk of chunks) write(chunk);
  });
}

/** As writeFileAtomic, with the content written piece by piece by `fill`; returns the file's size. */
export function writeFileAtomicWith(io: StorageIO, path: string, fill: (write: (chunk: Uint8Array) => void) => void): number {
  const tmp = `${path}.tmp`;
  const fd = io.openAppend(tmp);
  let at = 0;
  try {
    io.truncateFd(fd, 0);
    fill((chunk) => {
      io.writeAt(fd, chunk, at);
      at += chunk.length;
    });
    io.fdatasync(fd);
  } finally {
    io.close(fd);
  }
  io.rename(tmp, path);
  io.fsyncDir(dirname(path));
  return at;
}

export const pathIn = join;
