// A replay helper in the test's own thread: the same engine work as a helper thread, its handover
// moved through a structured clone with the same transfer list (so moved arrays are detached here too).
import { ShardEngine, type EngineHandover, type EngineLimits } from '../../src/engine/engine.js';
import { LogReplay } from '../../src/shard/replay.js';
import { handoverTransfer, type ReplayHelper } from '../../src/shard/replay-thread.js';

export class LocalReplayHelper implements ReplayHelper {
  readonly engine: ShardEngine;
  private replay: LogReplay;
  records = 0;

  constructor(
    limits: EngineLimits,
    readonly part: number,
    readonly parts: number,
  ) {
    this.engine = new ShardEngine(limits);
    this.engine.beginReplay();
    this.replay = new LogReplay(this.engine, part, parts);
  }

  begin(held: readonly string[], reserve: readonly (readonly [string, number])[]): void {
    this.replay = new LogReplay(this.engine, this.part, this.parts, held);
    for (const [id, events] of reserve) this.engine.reserve(id, events);
  }

  send(payload: Uint8Array): void {
    // The reader reuses its buffer, as it does for a thread: keep nothing of it.
    this.replay.record(Buffer.from(payload));
    this.records++;
  }

  end(): void {}

  take(): EngineHandover {
    const h = this.engine.handOver();
    return structuredClone(h, { transfer: handoverTransfer(h) });
  }

  cancel(): void {}

  readonly waitedSeconds = 0;
}
