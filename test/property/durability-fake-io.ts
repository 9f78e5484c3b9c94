// An in-memory StorageIO that models the page cache versus the disk, for crash tests.
//
// - File contents: every file (inode) has `cached` bytes (what reads see) and `durable` bytes (what
//   survives a crash). writeAt / truncate change `cached`; fdatasync copies `cached` to `durable`.
// - Directory entries (create, rename, remove, copy's create) are metadata operations kept in order
//   in a log; fsyncDir commits every one logged so far (a journaling file system commits its
//   metadata in order). Until committed, a crash keeps some prefix of them (none, in mode 'none').
// - crash(): the current "process" dies: every later call through an IO handed out before it
//   throws CrashError. What survives of each file is `durable`, plus, in mode 'prefix', a random
//   prefix of bytes appended since, or, in mode 'zeros', such a prefix followed by zeros up to the
//   cached length (the file size reached the disk, the last pages did not). A file changed other
//   than by appending (truncated) comes back either as it was durably or as it was cached.
// - armCrash(n): the n-th IO call from now crashes instead of running (a writeAt crashing midway
//   first puts a random prefix of its bytes in the cache).
// - boot(): a new process's view (a fresh generation of fds).
import { dirname } from 'node:path';
import type { StorageIO } from '../../src/storage/io.js';
import { later } from '../support/later.js';

export class CrashError extends Error {
  readonly code = 'CRASHED';
  constructor() {
    super('simulated crash: the process is gone');
  }
}

export class FakeIOError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

interface Inode {
  cached: Buffer;
  durable: Buffer;
}

type MetaOp = { kind: 'link'; path: string; inode: Inode } | { kind: 'unlink'; path: string };

export type PersistMode = 'none' | 'prefix' | 'zeros';

export interface IOCounts {
  writeAt: number;
  fdatasync: number;
  fsyncDir: number;
  openAppend: number;
  truncate: number;
}

import { rng as prng } from '../support/random.js';

export { prng };

const resized = (b: Buffer, size: number): Buffer => {
  if (size <= b.length) return Buffer.from(b.subarray(0, size));
  const out = Buffer.alloc(size);
  b.copy(out);
  return out;
};

export class FakeDisk {
  /** What reads see now. */
  private names = new Map<string, Inode>();
  /** What a crash keeps for sure. */
  private durableNames = new Map<string, Inode>();
  private metaLog: MetaOp[] = [];
  private dirs = new Set<string>();
  private generation = 0;
  private crashCountdown: number | undefined;
  private rand: () => number;
  crashed = false;
  readonly counts: IOCounts = { writeAt: 0, fdatasync: 0, fsyncDir: 0, openAppend: 0, truncate: 0 };
  /** Test hooks: throw instead of the real operation (not a crash: the process lives on). */
  failFdatasync: Error | undefined;
  failWriteAt: { error: Error; partial: boolean } | undefined;

  constructor(seed = 1) {
    this.rand = prng(seed);
  }

  /** The n-th IO call from now (1 = the next) crashes. */
  armCrash(n: number): void {
    this.crashCountdown = n;
  }

  disarm(): void {
    this.crashCountdown = undefined;
  }

  /** Kills the process now. */
  crash(): void {
    this.crashed = true;
    this.crashCountdown = undefined;
  }

  /** After a crash: what is on the disk becomes what is there; a new process may start. */
  reboot(mode: PersistMode): void {
    // Metadata: committed ops plus (unless 'none') some prefix of the rest.
    const keep = mode === 'none' ? 0 : Math.floor(this.rand() * (this.metaLog.length + 1));
    const names = new Map(this.durableNames);
    for (const op of this.metaLog.slice(0, keep)) applyMeta(names, op);
    // Contents: every inode, reachable or not (harmless), is settled.
    const inodes = new Set<Inode>([...names.values(), ...this.names.values()]);
    for (const ino of inodes) {
      let survived = ino.durable;
      if (mode !== 'none' && !ino.cached.equals(ino.durable)) {
        const appended = ino.cached.length > ino.durable.length && ino.cached.subarray(0, ino.durable.length).equals(ino.durable);
        if (appended) {
          const extra = Math.floor(this.rand() * (ino.cached.length - ino.durable.length + 1));
          survived = Buffer.from(ino.cached.subarray(0, ino.durable.length + extra));
          if (mode === 'zeros') survived = resized(survived, ino.cached.length);
        } else if (this.rand() < 0.5) {
          survived = Buffer.from(ino.cached);
        }
      }
      ino.durable = survived;
      ino.cached = Buffer.from(survived);
    }
    this.names = names;
    this.durableNames = new Map(names);
    this.metaLog = [];
    this.crashed = false;
    this.crashCountdown = undefined;
    this.failFdatasync = undefined;
    this.failWriteAt = undefined;
  }

  // Inspection for tests (always the current, cached view).
  files(): string[] {
    return [...this.names.keys()].sort();
  }

  read(path: string): Buffer {
    const ino = this.names.get(path);
    if (!ino) throw new FakeIOError('ENOENT', path);
    return Buffer.from(ino.cached);
  }

  /** Replaces a file's bytes, durably (test setup: damage done "on the disk"). */
  put(path: string, data: Buffer): void {
    let ino = this.names.get(path);
    if (!ino) {
      ino = { cached: Buffer.alloc(0), durable: Buffer.alloc(0) };
      this.names.set(path, ino);
      this.durableNames.set(path, ino);
      this.dirs.add(dirname(path));
    }
    ino.cached = Buffer.from(data);
    ino.durable = Buffer.from(data);
  }

  /** A StorageIO for the process running now; it dies with the next crash. */
  boot(): StorageIO {
    const gen = ++this.generation;
    const fds = new Map<number, Inode>();
    let nextFd = 3;
    const disk = this;
    const step = (): void => {
      if (disk.crashed || gen !== disk.generation) throw new CrashError();
      if (disk.crashCountdown !== undefined) {
        disk.crashCountdown--;
        if (disk.crashCountdown <= 0) {
          disk.crash();
          throw new CrashError();
        }
      }
    };
    const fd = (n: number): Inode => {
      const ino = fds.get(n);
      if (!ino) throw new FakeIOError('EBADF', `fd ${n}`);
      return ino;
    };
    const lookup = (path: string): Inode => {
      const ino = disk.names.get(path);
      if (!ino) throw new FakeIOError('ENOENT', path);
      return ino;
    };
    const meta = (op: MetaOp): void => {
      applyMeta(disk.names, op);
      disk.metaLog.push(op);
    };
    return {
      mkdirp(dir) {
        step();
        disk.dirs.add(dir);
      },
      list(dir) {
        step();
        return [...disk.names.keys()].filter((p) => dirname(p) === dir).map((p) => p.slice(dir.length + 1));
      },
      exists(path) {
        step();
        return disk.names.has(path) || disk.dirs.has(path);
      },
      readFile(path) {
        step();
        return Buffer.from(lookup(path).cached);
      },
      readAt(path, buf, position) {
        step();
        const cached = lookup(path).cached;
        const n = Math.max(0, Math.min(buf.length, cached.length - position));
        cached.copy(buf, 0, position, position + n);
        return n;
      },
      openAppend(path) {
        step();
        disk.counts.openAppend++;
        let ino = disk.names.get(path);
        if (!ino) {
          if (!disk.dirs.has(dirname(path))) throw new FakeIOError('ENOENT', `no directory ${dirname(path)}`);
          ino = { cached: Buffer.alloc(0), durable: Buffer.alloc(0) };
          meta({ kind: 'link', path, inode: ino });
        }
        const n = nextFd++;
        fds.set(n, ino);
        return n;
      },
      writevAt(n, chunks, position) {
        // One write of the chunks together: a crash can cut it anywhere, as it can a writev.
        this.writeAt(n, Buffer.concat(chunks), position);
      },
      writeAt(n, buf, position) {
        if (disk.crashCountdown === 1 && !disk.crashed && gen === disk.generation) {
          // Crash in the middle of this write: some of its bytes reached the cache.
          const ino = fd(n);
          const part = Math.floor(disk.rand() * buf.length);
          const end = position + part;
          const next = resized(ino.cached, Math.max(ino.cached.length, end));
          Buffer.from(buf.buffer, buf.byteOffset, part).copy(next, position);
          ino.cached = next;
        }
        step();
        disk.counts.writeAt++;
        const ino = fd(n);
        if (disk.failWriteAt) {
          const { error, partial } = disk.failWriteAt;
          if (partial) {
            const part = Math.max(1, Math.floor(buf.length / 2));
            const next = resized(ino.cached, Math.max(ino.cached.length, position + part));
            Buffer.from(buf.buffer, buf.byteOffset, part).copy(next, position);
            ino.cached = next;
          }
          throw error;
        }
        const next = resized(ino.cached, Math.max(ino.cached.length, position + buf.length));
        Buffer.from(buf.buffer, buf.byteOffset, buf.length).copy(next, position);
        ino.cached = next;
      },
      fdatasync(n) {
        step();
        disk.counts.fdatasync++;
        const ino = fd(n);
        if (disk.failFdatasync) throw disk.failFdatasync;
        ino.durable = Buffer.from(ino.cached);
      },
      // The sync happens a turn later, as it would on another thread: a crash in between means it
      // never happened.
      fdatasyncLater(n) {
        return later(() => this.fdatasync(n));
      },
      syncFile(path) {
        step();
        disk.counts.fdatasync++;
        const ino = lookup(path);
        if (disk.failFdatasync) throw disk.failFdatasync;
        ino.durable = Buffer.from(ino.cached);
      },
      truncateFd(n, size) {
        step();
        disk.counts.truncate++;
        const ino = fd(n);
        ino.cached = resized(ino.cached, size);
      },
      truncate(path, size) {
        step();
        disk.counts.truncate++;
        const ino = lookup(path);
        ino.cached = resized(ino.cached, size);
      },
      close(n) {
        step();
        fd(n);
        fds.delete(n);
      },
      size(n) {
        step();
        return fd(n).cached.length;
      },
      fileSize(path) {
        step();
        return lookup(path).cached.length;
      },
      rename(from, to) {
        step();
        const ino = lookup(from);
        meta({ kind: 'unlink', path: from });
        meta({ kind: 'link', path: to, inode: ino });
      },
      copy(from, to) {
        step();
        const src = lookup(from);
        meta({ kind: 'link', path: to, inode: { cached: Buffer.from(src.cached), durable: Buffer.alloc(0) } });
      },
      remove(path) {
        step();
        if (disk.names.has(path)) meta({ kind: 'unlink', path });
      },
      fsyncDir(dir) {
        step();
        disk.counts.fsyncDir++;
        if (!disk.dirs.has(dir)) throw new FakeIOError('ENOENT', dir);
        for (const op of disk.metaLog) applyMeta(disk.durableNames, op);
        disk.metaLog = [];
      },
    };
  }
}

function applyMeta(names: Map<string, Inode>, op: MetaOp): void {
  if (op.kind === 'link') names.set(op.path, op.inode);
  else names.delete(op.path);
}
