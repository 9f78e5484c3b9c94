// A replay helper: another thread that replays one part of a shard's devices from the records the
// shard's thread reads, then hands those devices over without copying them (ShardEngine.handOver).
// Recovery is synchronous on the shard's thread (no task may run against a half-replayed engine),
// so the shard waits for the helper with Atomics.wait and takes its answer with
// receiveMessageOnPort: no event loop turn is needed on either side.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { transferables } from '../codec/transfer.js';
import type { EngineHandover, EngineLimits } from '../engine/engine.js';

/** A replay helper failed (its error, a thread that died or never started): the replay can start over without helpers. */
export class ReplayHelperError extends Error {}

/** The shard thread's side of a helper (a thread, or in tests an engine in the same thread). */
export interface ReplayHelper {
  /** Before the first record: the devices part 0 keeps, and the events the log holds for each of the helper's devices. */
  begin(held: readonly string[], reserve: readonly (readonly [string, number])[]): void;
  /** A logged events record; the helper applies the events of its part's devices. */
  send(payload: Uint8Array): void;
  /** No more records: the helper ends its replay (building its id indexes) while this thread ends its own. */
  end(): void;
  /** Waits (blocking) for the helper's devices, after end(). */
  take(): EngineHandover;
  /** Stops the helper (recovery failed, or it is not needed). */
  cancel(): void;
  /** Seconds the shard's thread spent waiting for this helper (for the recovery log line). */
  readonly waitedSeconds: number;
}

/** Starts the helper replaying part `part` of `parts`. */
export type ReplayHelperFactory = (limits: EngineLimits, part: number, parts: number) => ReplayHelper;

export interface ReplayWorkerData {
  port: MessagePort;
  /** PROGRESS, STATE, then a BUSY flag per block. */
  shared: Int32Array;
  /** BLOCKS blocks of BLOCK_BYTES: records on their way to the helper. */
  blocks: SharedArrayBuffer;
  limits: EngineLimits;
  part: number;
  parts: number;
}

export type ToHelper =
  | { op: 'begin'; held: readonly string[]; reserve: readonly (readonly [string, number])[] }
  /** Records back to back in block `block`, each ending at its entry of `ends`. */
  | { op: 'block'; block: number; ends: number[] }
  /** A record too long for a block, moved on its own. */
  | { op: 'record'; payload: Uint8Array }
  | { op: 'finish' };

export type FromHelper = { ok: true; handover: EngineHandover } | { ok: false; error: string };

// Slots of the shared Int32Array.
/** Messages the helper has applied. */
export const PROGRESS = 0;
/** STARTING, READY, then ANSWERED once its last message (the handover, or an error) is on the port. */
export const STATE = 1;
export const STARTING = 0;
export const READY = 1;
export const ANSWERED = 2;
/** BUSY + k: 1 while block k holds records the helper has not applied yet. */
export const BUSY = 2;

// Records reach the helper through a few shared blocks, reused: a fresh buffer for each record
// faulted its pages in on every copy (13% of the shard thread's replay). A helper that falls behind
// holds the shard thread back once every block is waiting, so memory stays bounded.
// The shard's thread does not wait for a helper to start: with 16 blocks it can replay its own
// part of the first ~200,000 events meanwhile.
export const BLOCK_BYTES = 1 << 20;
export const BLOCKS = 16;
/** A helper that applies nothing for this long has failed (it takes milliseconds a message)... */
const STALL_MS = 60_000;
/** ...and one that has not started after this long never will... */
const START_MS = 10_000;
/** ...and ending its replay (its id indexes, the handover) takes seconds at most. */
const END_MS = 300_000;

export class ReplayThread implements ReplayHelper {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly shared = new Int32Array(new SharedArrayBuffer(4 * (BUSY + BLOCKS)));
  private readonly blocks = new SharedArrayBuffer(BLOCKS * BLOCK_BYTES);
  private readonly bytes = new Uint8Array(this.blocks);
  /** The block being filled, and where its records end. */
  private block = 0;
  private ends: number[] = [];
  private waitedMs = 0;
  /** Messages posted that PROGRESS counts. */
  private sent = 0;

  /**
   * `entry`: the compiled replay-worker module (tests running from src/ point at dist/);
   * `youngGenerationMb`: its heap's young generation (absent or 0: V8's default).
   */
  constructor(
    limits: EngineLimits,
    readonly part: number,
    parts: number,
    entry: URL = new URL('./replay-worker.js', import.meta.url),
    youngGenerationMb?: number,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const workerData: ReplayWorkerData = { port: port2, shared: this.shared, blocks: this.blocks, limits, part, parts };
    this.worker = new Worker(entry, {
      workerData,
      transferList: [port2],
      ...(youngGenerationMb ? { resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb } } : {}),
    });
    this.worker.unref();
    // A helper that dies is noticed by its silence (this thread is blocked while it waits, so it
    // gets no events): its 'error' event, delivered later, must not become an uncaught exception.
    this.worker.on('error', () => {});
  }

  begin(held: readonly string[], reserve: readonly (readonly [string, number])[]): void {
    this.post({ op: 'begin', held, reserve });
  }

  send(payload: Uint8Array): void {
    const n = payload.length;
    if (n > BLOCK_BYTES) {
      this.flush();
      // Back-pressure for records sent on their own: the helper has taken every earlier message.
      this.waitFor(() => Atomics.load(this.shared, PROGRESS) >= this.sent, PROGRESS);
      this.post({ op: 'record', payload: new Uint8Array(payload) });
      return;
    }
    let at = this.ends.length === 0 ? 0 : this.ends[this.ends.length - 1]!;
    if (at + n > BLOCK_BYTES) {
      this.flush();
      at = 0;
    }
    if (this.ends.length === 0) {
      // Back-pressure: the block must be free of the records it carried last time round.
      const busy = BUSY + this.block;
      this.waitFor(() => Atomics.load(this.shared, busy) === 0, busy);
    }
    this.bytes.set(payload, this.block * BLOCK_BYTES + at);
    this.ends.push(at + n);
  }

  end(): void {
    this.flush();
    this.post({ op: 'finish' });
  }

  take(): EngineHandover {
    // Ending a replay builds the id indexes of the helper's part and applies nothing meanwhile.
    this.waitFor(() => Atomics.load(this.shared, STATE) === ANSWERED, STATE, END_MS);
    const answer = this.answer();
    if (!answer) throw new ReplayHelperError(`replay helper ${this.part} answered nothing`);
    return answer;
  }

  cancel(): void {
    this.port.close();
    void this.worker.terminate();
  }

  /** The young generation the helper's heap was given, in MB (as SHARD_YOUNG_GENERATION_MB says). */
  get youngGenerationMb(): number | undefined {
    return this.worker.resourceLimits?.maxYoungGenerationSizeMb;
  }

  get waitedSeconds(): number {
    return this.waitedMs / 1000;
  }

  /** Hands the block being filled to the helper and moves on to the next. */
  private flush(): void {
    if (this.ends.length === 0) return;
    Atomics.store(this.shared, BUSY + this.block, 1);
    this.post({ op: 'block', block: this.block, ends: this.ends });
    this.block = (this.block + 1) % BLOCKS;
    this.ends = [];
  }

  private post(m: ToHelper): void {
    if (m.op === 'record') this.port.postMessage(m, [m.payload.buffer as ArrayBuffer]);
    else this.port.postMessage(m);
    // Every message but the last ('finish') counts in PROGRESS once the helper has taken it.
    if (m.op !== 'finish') this.sent++;
  }

  /** Blocks until done() (checked after each wake of slot `slot`); throws when the helper failed or stalled. */
  private waitFor(done: () => boolean, slot: number, stallMs = STALL_MS): void {
    if (done()) return;
    const start = performance.now();
    try {
      this.waitUntil(done, slot, stallMs);
    } finally {
      this.waitedMs += performance.now() - start;
    }
  }

  private waitUntil(done: () => boolean, slot: number, stallMs: number): void {
    let progress = Atomics.load(this.shared, PROGRESS);
    let since = performance.now();
    while (!done()) {
      const state = Atomics.load(this.shared, STATE);
      if (slot !== STATE && state === ANSWERED) this.answer(); // throws its error
      const seen = Atomics.load(this.shared, slot);
      Atomics.wait(this.shared, slot, seen, 100);
      const now = performance.now();
      const p = Atomics.load(this.shared, PROGRESS);
      if (p !== progress) {
        progress = p;
        since = now;
      } else if (now - since > (state === STARTING ? START_MS : stallMs)) {
        this.cancel();
        const what = state === STARTING ? `did not start within ${START_MS / 1000} s` : `made no progress for ${stallMs / 1000} s`;
        throw new ReplayHelperError(`replay helper thread ${this.part} ${what}`);
      }
    }
  }

  /** The helper's answer, if it posted one; throws the error it reported. */
  private answer(): EngineHandover | undefined {
    const got = receiveMessageOnPort(this.port)?.message as FromHelper | undefined;
    if (got === undefined) return undefined;
    this.port.close();
    if (!got.ok) throw new ReplayHelperError(`replay helper ${this.part} failed: ${got.error}`);
    return got.handover;
  }
}

/** The handover's typed arrays, to move them with it. */
export const handoverTransfer = (h: EngineHandover): ArrayBuffer[] => [...transferables(h.devices)];
