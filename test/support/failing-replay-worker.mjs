// A replay helper thread that fails as soon as it is told to begin (for the shard thread's side
// of the protocol, replay-thread.ts): it answers an error the way the real one does.
import { workerData } from 'node:worker_threads';

const { port, shared } = workerData;
const STATE = 1;
const READY = 1;
const ANSWERED = 2;
port.on('message', () => {
  port.postMessage({ ok: false, error: 'Error: the helper could not apply a record' });
  Atomics.store(shared, STATE, ANSWERED);
  Atomics.notify(shared, STATE);
  port.close();
});
Atomics.store(shared, STATE, READY);
Atomics.notify(shared, STATE);
