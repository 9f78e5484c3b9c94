import { Shard } from '../dist/shard/shard.js';
import { tempDir, writeLog, DEVICES } from './lib.mjs';
import { join } from 'node:path';
const events = Number(process.env.EVENTS ?? 1_000_000);
const dir = process.env.DIR ?? tempDir('rp-');
if (!process.env.DIR) { writeLog(dir, events, 1); console.log(dir); }
const t = performance.now();
const shard = new Shard({ index: 0, limits: { ringCapacity: Math.ceil(events / DEVICES), rawRetentionMs: 1e15, rollupRetentionMs: 1e15 }, storage: { dir: join(dir, 'shard-0'), fsync: 'never', segmentBytesMax: 2 ** 30, snapshotLogBytes: 2 ** 40, snapshotIntervalMs: 0 } });
const r = shard.open();
console.log(JSON.stringify({ ms: Math.round(performance.now() - t), faults: process.resourceUsage().minorPageFault, report: r }));
