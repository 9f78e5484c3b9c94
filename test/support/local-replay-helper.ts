// A replay helper in the test's own thread: the same replay part as a helper thread runs, its
// handover moved through a structured clone with the same transfer list (so moved arrays are
// detached here too).
import type { EngineHandover, EngineLimits } from '../../src/engine/engine.js';
import { ReplayPart } from '../../src/shard/replay.js';
import { handoverTransfer, type ReplayHelper } from '../../src/shard/replay-thread.js';

export class LocalReplayHelper implements ReplayHelper {
  private readonly replay: ReplayPart;
  records = 0;

  constructor(limits: EngineLimits, part: number, parts: number) {
    this.replay = new ReplayPart(limits, part, parts);
  }

  begin(held: readonly string[], reserve: readonly (readonly [string, number])[]): void {
    this.replay.begin(held, reserve);
  }

  send(payload: Uint8Array): void {
    // The reader reuses its buffer, as it does for a thread: keep nothing of it.
    this.replay.record(Buffer.from(payload));
    this.records++;
  }

  end(): void {}

  take(): EngineHandover {
    const h = this.replay.handOver();
    return structuredClone(h, { transfer: handoverTransfer(h) });
  }

  cancel(): void {}

  readonly waitedSeconds = 0;
}
