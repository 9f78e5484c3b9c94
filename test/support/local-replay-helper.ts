// A replay helper in the test's own thread: the same replay part as a helper thread runs, its
// handover moved through a structured clone with the same transfer list (so moved arrays are
// detached here too).
import type { EngineHandover, EngineLimits } from '../../src/engine/engine.js';
import { ReplayPart, type DeviceReserve } from '../../src/shard/replay.js';
import type { StorageIO } from '../../src/storage/io.js';
import type { LogRange } from '../../src/storage/store.js';
import { handoverTransfer, type ReplayHelper } from '../../src/shard/replay-thread.js';

export class LocalReplayHelper implements ReplayHelper {
  private readonly replay: ReplayPart;
  records = 0;

  /** Devices it was handed when it began (what the shard's thread replayed of its part until then). */
  handed = -1;

  /**
   * `io`: the shard's own (the helper reads the log through it, as a thread reads the files);
   * `readyAfter`: how many times the shard's thread finds it not ready yet (as a thread that is
   * still starting), before it is.
   */
  constructor(limits: EngineLimits, part: number, parts: number, private readonly io: StorageIO, private readyAfter = 0) {
    this.replay = new ReplayPart(limits, part, parts);
  }

  get ready(): boolean {
    return this.readyAfter-- <= 0;
  }

  begin(held: readonly string[], reserve: readonly DeviceReserve[], log: readonly LogRange[], handover: EngineHandover): void {
    this.handed = handover.devices.length;
    // Moved as a thread's message moves it: the shard's thread keeps nothing of it.
    this.replay.begin(held, reserve, structuredClone(handover, { transfer: handoverTransfer(handover) }));
    this.replay.replayLog((path, buf, position) => this.io.readAt(path, buf, position), log, () => this.records++);
  }

  take(): EngineHandover {
    const h = this.replay.handOver();
    return structuredClone(h, { transfer: handoverTransfer(h) });
  }

  cancel(): void {}

  readonly waitedSeconds = 0;
}
