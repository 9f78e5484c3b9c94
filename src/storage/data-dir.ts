// The data directory: DATA_DIR/telemetry.json records the on-disk format version and the shard
// count the data was laid out for (devices are placed on shards by hash modulo that count, so
// reading it with another count would look for devices in the wrong place); DATA_DIR/LOCK keeps a
// second process off the same data; DATA_DIR/shard-<i>/ holds each shard's log and snapshots.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { StorageIO } from './io.js';
import { nodeIO, writeFileAtomic } from './io.js';

export const DATA_FORMAT_VERSION = 1;
const META = 'telemetry.json';
const LOCK = 'LOCK';

export class DataDirError extends Error {
  readonly code = 'DATA_DIR_INVALID';
}

export const shardDir = (dataDir: string, index: number): string => join(dataDir, `shard-${index}`);

/** Whether a process with this pid runs (a zombie, killed but not yet reaped, does not). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): trust kill(0)
  }
};

/** Creates the lock file exclusively; a lock left by a process that is gone is taken over. */
function takeLock(lock: string, dataDir: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new DataDirError(`cannot create ${lock}: ${(e as Error).message}`);
    }
    let pid = NaN;
    try {
      pid = Number(readFileSync(lock, 'utf8').trim());
    } catch {
      // vanished meanwhile: try again
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new DataDirError(`DATA_DIR ${dataDir} is in use by another process (pid ${pid}); stop it first or use another DATA_DIR`);
    }
    rmSync(lock, { force: true });
  }
  throw new DataDirError(`could not take ${lock}: another process keeps creating it`);
}

/** Checks (or, when new, records) the format and shard count, and takes the lock. */
export function prepareDataDir(dataDir: string, shards: number, io: StorageIO = nodeIO): void {
  try {
    io.mkdirp(dataDir);
  } catch (e) {
    throw new DataDirError(`DATA_DIR ${dataDir} cannot be created: ${(e as Error).message}`);
  }
  takeLock(join(dataDir, LOCK), dataDir);

  const metaPath = join(dataDir, META);
  if (io.exists(metaPath)) {
    let meta: { format?: unknown; shards?: unknown };
    try {
      meta = JSON.parse(io.readFile(metaPath).toString('utf8')) as typeof meta;
    } catch (e) {
      throw new DataDirError(`${metaPath} is not readable JSON (${(e as Error).message}); it records how the data is laid out, restore it from a backup`);
    }
    if (meta.format !== DATA_FORMAT_VERSION) {
      throw new DataDirError(`DATA_DIR ${dataDir} holds data in format ${String(meta.format)}; this version reads format ${DATA_FORMAT_VERSION}`);
    }
    if (meta.shards !== shards) {
      throw new DataDirError(
        `DATA_DIR ${dataDir} holds data laid out for SHARDS=${String(meta.shards)}, and this start asks for SHARDS=${shards}: ` +
          `start with SHARDS=${String(meta.shards)} (re-sharding an existing data directory is not supported yet)`,
      );
    }
    return;
  }
  if (io.list(dataDir).some((name) => name.startsWith('shard-'))) {
    throw new DataDirError(`DATA_DIR ${dataDir} has shard data but no ${META}; restore ${META} rather than guess the shard count`);
  }
  writeFileAtomic(io, metaPath, Buffer.from(JSON.stringify({ format: DATA_FORMAT_VERSION, shards }) + '\n'));
}

export function releaseDataDir(dataDir: string, io: StorageIO = nodeIO): void {
  io.remove(join(dataDir, LOCK));
}
