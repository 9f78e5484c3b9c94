// Memory per stored event: 1,000,000 events (200 devices, 3 metrics, 2 tags, ids `ev-<n>`) applied
// to a shard in this process, heap plus typed-array memory measured after full GCs before and
// after. Run with --expose-gc (run.mjs does). One JSON line.
import { BatchBuilder, unpackBatch } from '../dist/shard/protocol.js';
import { Shard } from '../dist/shard/shard.js';
import { DEVICES, event, T0 } from './lib.mjs';

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc bench/memory.mjs');
  process.exit(2);
}
const EVENTS = Number(process.env.MEMORY_EVENTS ?? 1_000_000);
const used = () => {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
// Rings sized to hold every event, as a full ring would.
const shard = new Shard({ index: 0, limits: { ringCapacity: Math.ceil(EVENTS / DEVICES), rawRetentionMs: 1e15, rollupRetentionMs: 1e15 } });
shard.open();
const before = used();
let idChars = 0;
for (let n = 0; n < EVENTS; ) {
  const b = new BatchBuilder();
  for (let i = 0; i < 1000 && n < EVENTS; i++, n++) {
    const e = event(n);
    idChars += e.event_id.length;
    b.add(i, e.device_id, e.event_id, T0 + n * 10, e.metrics, e.tags);
  }
  shard.applyBatch(unpackBatch(b.finish()));
}
// Every row in the tag postings too (ingest adds a device's newest rows to them 256 at a time; a search adds the rest).
shard.engine.search(['fw:v0'], -Infinity, Infinity, 1);
if ([...shard.engine.devices.values()].some((d) => d.postedRows !== d.ring.length)) throw new Error('postings left behind');
const after = used();
const stats = shard.engine.stats();
if (stats.rawEvents !== EVENTS) throw new Error(`expected ${EVENTS} events held, got ${stats.rawEvents}`);
const perEvent = (after - before) / EVENTS;
console.log(
  JSON.stringify({
    scenario: 'memory',
    events: EVENTS,
    bytesPerEvent: Number(perEvent.toFixed(1)),
    idCharsPerEvent: Number((idChars / EVENTS).toFixed(1)),
    bytesPerEventWithoutIdChars: Number((perEvent - idChars / EVENTS).toFixed(1)),
    ringBytesPerEvent: Number((stats.rawBytes / EVENTS).toFixed(1)),
    rollupBytesPerEvent: Number((stats.rollupBytes / EVENTS).toFixed(1)),
  }),
);
