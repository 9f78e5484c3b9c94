// Snapshots written on a thread of their own, so a shard keeps taking writes meanwhile: the shard
// copies its state (fast: typed arrays and one string per device), hands it over without copying,
// and goes on; the writer thread (snapshot-worker.ts) packs it, writes, fsyncs and renames it.
import { Worker } from 'node:worker_threads';
import { transferables } from '../codec/transfer.js';
import type { SnapshotState } from './snapshots.js';

export interface SnapshotJob {
  id: number;
  dir: string;
  coversSeq: number;
  state: SnapshotState;
}

export type SnapshotDone = { id: number; ok: true; bytes: number } | { id: number; ok: false; error: string };

/** A snapshot writer on its own thread, started on first use. */
export class SnapshotWriterThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve(bytes: number): void; reject(e: Error): void }>();

  /** `entry`: the compiled worker module (tests running from src/ point at dist/). */
  constructor(private readonly entry: URL = new URL('./snapshot-worker.js', import.meta.url)) {}

  /** Writes the snapshot; the typed arrays inside `state` are moved to the writer, not copied. */
  write(dir: string, coversSeq: number, state: SnapshotState): Promise<number> {
    const worker = this.start();
    const id = ++this.nextId;
    const buffers = transferables(state);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, dir, coversSeq, state } satisfies SnapshotJob, [...buffers]);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.entry);
    w.unref();
    w.on('message', (d: SnapshotDone) => {
      const p = this.waiting.get(d.id);
      if (!p) return;
      this.waiting.delete(d.id);
      if (d.ok) p.resolve(d.bytes);
      else p.reject(new Error(d.error));
    });
    w.on('error', (e) => this.failAll(e));
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      this.failAll(new Error(`snapshot writer thread exited (${code})`));
    });
    this.worker = w;
    return w;
  }

  private failAll(e: Error): void {
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
  }
}
