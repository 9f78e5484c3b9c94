// A replay helper: another thread that replays one part of a shard's devices, reading the log on
// its own, then hands those devices over without copying them (ShardEngine.handOver). Recovery is
// synchronous on the shard's thread (no task may run against a half-replayed engine), so the shard
// waits for the helper with Atomics.wait and takes its answer with receiveMessageOnPort: no event
// loop turn is needed on either side.
//
// The helper reads the segments itself, up to where the shard's survey found them whole: passing
// it each record from the shard's thread cost that thread a copy of the whole log (0.1 s of a
// 1.1-second replay of 1M events) and coupled the two threads' pace.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { transferables } from '../codec/transfer.js';
import type { EngineHandover, EngineLimits } from '../engine/engine.js';
import type { LogRange } from '../storage/store.js';
import type { DeviceReserve } from './replay.js';

/** A replay helper failed (its error, a thread that died or never started): the replay can start over without helpers. */
export class ReplayHelperError extends Error {}

/** The shard thread's side of a helper (a thread, or in tests an engine in the same thread). */
export interface ReplayHelper {
  /**
   * True once the helper can take its part at once (its thread has started; or it failed, which
   * take() then says).
   */
  readonly ready: boolean;
  /**
   * Its part from here on (see ReplayHandOff): the devices part 0 keeps, the helper's devices as
   * the shard's thread replayed them so far (moved, not copied), the events the rest of the log
   * holds for each of the helper's devices, and where the rest of the log's records are. The
   * helper then replays its part of them on its own.
   */
  begin(held: readonly string[], reserve: readonly DeviceReserve[], log: readonly LogRange[], handover: EngineHandover): void;
  /** Waits (blocking) for the helper's devices, once its replay is done. */
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
  /** PROGRESS, STATE. */
  shared: Int32Array;
  limits: EngineLimits;
  part: number;
  parts: number;
}

export type ToHelper = { op: 'begin'; held: readonly string[]; reserve: readonly DeviceReserve[]; log: readonly LogRange[]; handover: EngineHandover };

export type FromHelper = { ok: true; handover: EngineHandover } | { ok: false; error: string };

// Slots of the shared Int32Array.
/** Records the helper has applied. */
export const PROGRESS = 0;
/** STARTING, READY, then ANSWERED once its last message (the handover, or an error) is on the port. */
export const STATE = 1;
export const STARTING = 0;
export const READY = 1;
export const ANSWERED = 2;

/** A helper that applies no record for this long has failed (it takes milliseconds a record)... */
const STALL_MS = 60_000;
/** ...and one that has not started after this long never will. */
const START_MS = 10_000;

export class ReplayThread implements ReplayHelper {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly shared = new Int32Array(new SharedArrayBuffer(4 * 2));
  private waitedMs = 0;

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
    const workerData: ReplayWorkerData = { port: port2, shared: this.shared, limits, part, parts };
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

  get ready(): boolean {
    return Atomics.load(this.shared, STATE) !== STARTING;
  }

  /** Blocks until the thread has started (or failed) or `ms` passed; true if it has. For a replay that must not go on without it (tests of short logs). */
  waitStarted(ms = START_MS): boolean {
    return Atomics.wait(this.shared, STATE, STARTING, ms) !== 'timed-out';
  }

  begin(held: readonly string[], reserve: readonly DeviceReserve[], log: readonly LogRange[], handover: EngineHandover): void {
    const m: ToHelper = { op: 'begin', held, reserve, log, handover };
    this.port.postMessage(m, handoverTransfer(handover));
  }

  take(): EngineHandover {
    this.waitForAnswer();
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

  /** Blocks until the helper has answered; throws when it did not start, or stalled. */
  private waitForAnswer(): void {
    const start = performance.now();
    try {
      let progress = Atomics.load(this.shared, PROGRESS);
      let since = start;
      for (let state = Atomics.load(this.shared, STATE); state !== ANSWERED; state = Atomics.load(this.shared, STATE)) {
        Atomics.wait(this.shared, STATE, state, 100);
        const now = performance.now();
        const p = Atomics.load(this.shared, PROGRESS);
        if (p !== progress) {
          progress = p;
          since = now;
        } else if (now - since > (state === STARTING ? START_MS : STALL_MS)) {
          this.cancel();
          const what = state === STARTING ? `did not start within ${START_MS / 1000} s` : `made no progress for ${STALL_MS / 1000} s`;
          throw new ReplayHelperError(`replay helper thread ${this.part} ${what}`);
        }
      }
    } finally {
      this.waitedMs += performance.now() - start;
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
