// Engine ingest in process, no HTTP, no threads, no disk: 1,000,000 events (200 devices, 3 metrics,
// 2 tags) in 1,000-event batches packed as the front packs them, then unpacked and applied by a
// Shard as its thread would. Times unpacking and applying only. One JSON line.
import { BatchBuilder, unpackBatch } from '../dist/shard/protocol.js';
import { Shard } from '../dist/shard/shard.js';
import { DEVICES, event, T0 } from './lib.mjs';

const EVENTS = Number(process.env.ENGINE_EVENTS ?? 1_000_000);
const packed = [];
for (let n = 0; n < EVENTS; ) {
  const b = new BatchBuilder();
  for (let i = 0; i < 1000 && n < EVENTS; i++, n++) {
    const e = event(n);
    b.add(i, e.device_id, e.event_id, T0 + n * 10, e.metrics, e.tags);
  }
  packed.push(b.finish());
}
const shard = new Shard({ index: 0, limits: { ringCapacity: Math.ceil(EVENTS / DEVICES), rawRetentionMs: 1e15, rollupRetentionMs: 1e15 } });
shard.open();
const started = performance.now();
let unpackMs = 0;
for (const buf of packed) {
  const u = performance.now();
  const batch = unpackBatch(buf);
  unpackMs += performance.now() - u;
  shard.applyBatch(batch);
}
const seconds = (performance.now() - started) / 1000;
if (shard.engine.stats().eventsStored !== EVENTS) throw new Error('not every event was stored');
console.log(JSON.stringify({ scenario: 'engine-ingest', events: EVENTS, seconds: Number(seconds.toFixed(2)), eventsPerSec: Math.round(EVENTS / seconds), unpackSeconds: Number((unpackMs / 1000).toFixed(2)) }));
