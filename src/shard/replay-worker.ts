// Entry of a replay helper thread (see replay-thread.ts): an engine of its own replays one part of
// the shard's devices from the records it is sent, then hands them over.
import { workerData } from 'node:worker_threads';
import { ReplayPart } from './replay.js';
import { ANSWERED, BLOCK_BYTES, BUSY, handoverTransfer, PROGRESS, READY, STATE, type FromHelper, type ReplayWorkerData, type ToHelper } from './replay-thread.js';

const { port, shared, blocks, limits, part, parts } = workerData as ReplayWorkerData;
const inbox = new Uint8Array(blocks);
// A block's records are decoded from a copy: decoding reads strings through Buffer's own methods,
// which neither a plain Uint8Array nor shared memory offers.
const local = Buffer.alloc(BLOCK_BYTES);
const replay = new ReplayPart(limits, part, parts);

function answer(m: FromHelper, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
  Atomics.store(shared, STATE, ANSWERED);
  Atomics.notify(shared, STATE);
  port.close();
}

const fail = (e: unknown): void => answer({ ok: false, error: String((e as Error)?.stack ?? e) });

port.on('message', (m: ToHelper) => {
  try {
    switch (m.op) {
      case 'begin':
        replay.begin(m.held, m.reserve);
        break;
      case 'block': {
        const used = m.ends[m.ends.length - 1]!;
        local.set(inbox.subarray(m.block * BLOCK_BYTES, m.block * BLOCK_BYTES + used));
        Atomics.store(shared, BUSY + m.block, 0);
        Atomics.notify(shared, BUSY + m.block);
        let from = 0;
        for (const end of m.ends) {
          replay.record(local.subarray(from, end));
          from = end;
        }
        break;
      }
      case 'record':
        replay.record(Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength));
        break;
      case 'finish': {
        const handover = replay.handOver();
        answer({ ok: true, handover }, handoverTransfer(handover));
        return;
      }
    }
    Atomics.add(shared, PROGRESS, 1);
    Atomics.notify(shared, PROGRESS);
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
