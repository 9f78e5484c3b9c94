// Entry of a replay helper thread (see replay-thread.ts): an engine of its own replays one part of
// the shard's devices from the log, read on this thread, then hands them over.
import { workerData } from 'node:worker_threads';
import { nodeIO } from '../storage/io.js';
import { ReplayPart } from './replay.js';
import { ANSWERED, handoverTransfer, PROGRESS, READY, STATE, type FromHelper, type ReplayWorkerData, type ToHelper } from './replay-thread.js';

const { port, shared, limits, part, parts } = workerData as ReplayWorkerData;
const replay = new ReplayPart(limits, part, parts);

function answer(m: FromHelper, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
  Atomics.store(shared, STATE, ANSWERED);
  Atomics.notify(shared, STATE);
  port.close();
}

const fail = (e: unknown): void => answer({ ok: false, error: String((e as Error)?.stack ?? e) });

// The shard's thread waits on STATE and reads PROGRESS when it wakes (at least every 100 ms), so
// a record applied is counted without waking it.
const progress = (): void => void Atomics.add(shared, PROGRESS, 1);

port.on('message', (m: ToHelper) => {
  try {
    replay.begin(m.held, m.reserve, m.handover);
    replay.replayLog(nodeIO.readAt, m.log, progress);
    const handover = replay.handOver();
    answer({ ok: true, handover }, handoverTransfer(handover));
  } catch (e) {
    fail(e);
  }
});
// The shard's thread waits blocked, so it sees no 'error' event: anything thrown outside the
// handler above is answered as an error too.
process.on('uncaughtException', (e) => {
  if (Atomics.load(shared, STATE) !== ANSWERED) fail(e);
});
Atomics.store(shared, STATE, READY);
Atomics.notify(shared, STATE);
