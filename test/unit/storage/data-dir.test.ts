// The data directory: format and shard count recorded and checked, and the lock.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATA_FORMAT_VERSION, DataDirError, prepareDataDir, releaseDataDir, shardDir } from '../../../src/storage/data-dir.js';

let root: string;
let dataDir: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'datadir-test-'));
  dataDir = join(root, 'data');
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

function thrown(f: () => void): DataDirError {
  try {
    f();
  } catch (e) {
    return e as DataDirError;
  }
  throw new Error('expected a throw');
}

const spawnSleep = (): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const c = spawn('sleep', ['5'], { stdio: 'ignore' });
    children.push(c);
    c.once('spawn', () => resolve(c));
    c.once('error', reject);
  });

describe('prepareDataDir', () => {
  it('a new directory gets telemetry.json with the format and shard count, and a LOCK with this pid', () => {
    prepareDataDir(dataDir, 3);
    expect(JSON.parse(readFileSync(join(dataDir, 'telemetry.json'), 'utf8'))).toEqual({ format: DATA_FORMAT_VERSION, shards: 3 });
    expect(readFileSync(join(dataDir, 'LOCK'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('reopening with the same shard count is fine', () => {
    prepareDataDir(dataDir, 3);
    mkdirSync(shardDir(dataDir, 0));
    expect(() => prepareDataDir(dataDir, 3)).not.toThrow();
  });

  it('reopening with another shard count throws DATA_DIR_INVALID naming both counts', () => {
    prepareDataDir(dataDir, 2);
    const e = thrown(() => prepareDataDir(dataDir, 5));
    expect(e).toBeInstanceOf(DataDirError);
    expect(e.code).toBe('DATA_DIR_INVALID');
    expect(e.message).toContain('SHARDS=2');
    expect(e.message).toContain('SHARDS=5');
    // The record is unchanged.
    expect(JSON.parse(readFileSync(join(dataDir, 'telemetry.json'), 'utf8')).shards).toBe(2);
  });

  it('shard-* directories without telemetry.json are refused, not guessed at', () => {
    mkdirSync(shardDir(dataDir, 0), { recursive: true });
    const e = thrown(() => prepareDataDir(dataDir, 1));
    expect(e.code).toBe('DATA_DIR_INVALID');
    expect(e.message).toMatch(/telemetry\.json/);
    expect(existsSync(join(dataDir, 'telemetry.json'))).toBe(false);
  });

  it('an unreadable telemetry.json or another format is refused', () => {
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'telemetry.json'), '{not json');
    expect(thrown(() => prepareDataDir(dataDir, 1)).code).toBe('DATA_DIR_INVALID');
    writeFileSync(join(dataDir, 'telemetry.json'), JSON.stringify({ format: DATA_FORMAT_VERSION + 1, shards: 1 }));
    const e = thrown(() => prepareDataDir(dataDir, 1));
    expect(e.code).toBe('DATA_DIR_INVALID');
    expect(e.message).toMatch(/format/);
  });

  it('a LOCK held by a live other process is refused, naming its pid', async () => {
    const child = await spawnSleep();
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'LOCK'), `${child.pid}\n`);
    const e = thrown(() => prepareDataDir(dataDir, 1));
    expect(e.code).toBe('DATA_DIR_INVALID');
    expect(e.message).toContain(String(child.pid));
    expect(readFileSync(join(dataDir, 'LOCK'), 'utf8').trim()).toBe(String(child.pid));
    expect(existsSync(join(dataDir, 'telemetry.json'))).toBe(false);
  });

  it('a LOCK left by a dead process is taken over', async () => {
    const child = await spawnSleep();
    const pid = child.pid!;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'LOCK'), `${pid}\n`);
    expect(() => prepareDataDir(dataDir, 1)).not.toThrow();
    expect(readFileSync(join(dataDir, 'LOCK'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('a LOCK with garbage in it is taken over', () => {
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'LOCK'), 'garbage');
    expect(() => prepareDataDir(dataDir, 1)).not.toThrow();
    expect(readFileSync(join(dataDir, 'LOCK'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('releaseDataDir removes the LOCK', () => {
    prepareDataDir(dataDir, 1);
    releaseDataDir(dataDir);
    expect(existsSync(join(dataDir, 'LOCK'))).toBe(false);
    expect(existsSync(join(dataDir, 'telemetry.json'))).toBe(true);
  });

  it('a DATA_DIR that cannot be created is DATA_DIR_INVALID', () => {
    writeFileSync(join(root, 'file'), 'x');
    expect(thrown(() => prepareDataDir(join(root, 'file', 'sub'), 1)).code).toBe('DATA_DIR_INVALID');
  });
});
