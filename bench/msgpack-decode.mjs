// Decoding one 1,000-event request body (the events of bench/lib.mjs), in µs per event: JSON.parse
// of it as JSON; the JSON batch scan the ingest route takes (straight into the batch's columns,
// validation included: json_scan); the msgpack decoding as it was before the fast route (maps as
// Map, then defineProperty per key); the general route as it is now (the same, assigning keys); the
// new unpackUntrusted; and msgpackr building the objects itself, the floor. Needs `npm run build`.
// One JSON line; the median of ROUNDS rounds, every variant timed in each round, so a noisy
// neighbour on the machine hits all of them alike.
import { Unpackr } from 'msgpackr';
import { BODY_DEPTH_MAX, decodesAsObjects, pack, unpackUntrusted, unpackUntrustedViaMaps } from '../dist/codec/msgpack.js';
import { scanEventBatch } from '../dist/api/fast-batch.js';
import { apiLimitsOf, loadConfig } from '../dist/config.js';
import { event } from './lib.mjs';

const EVENTS = Number(process.env.EVENTS ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 31);
const CALLS = Number(process.env.CALLS ?? 100);

const batch = Array.from({ length: EVENTS }, (_, i) => event(i));
const json = Buffer.from(JSON.stringify(batch));
const msgpack = Buffer.from(pack(batch));

// unpackUntrusted before this change, verbatim.
const mapsUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: false });
function before(v, depth) {
  if (v === null || typeof v !== 'object') return v;
  if (depth >= BODY_DEPTH_MAX) throw new Error(`nested deeper than ${BODY_DEPTH_MAX} levels`);
  if (v instanceof Map) {
    const out = {};
    for (const [k, x] of v) Object.defineProperty(out, String(k), { value: before(x, depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (Array.isArray(v)) return v.map((x) => before(x, depth + 1));
  if (v instanceof Uint8Array || v instanceof Date) return v;
  throw new Error('unsupported msgpack value');
}
const objectsUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

// The service's default limits, as the route passes them.
const limits = apiLimitsOf(loadConfig({}, []));

const variants = {
  json_parse: () => JSON.parse(json.toString('utf8')),
  json_scan: () => scanEventBatch(json, limits),
  msgpack_before: () => before(mapsUnpackr.unpack(msgpack), 0),
  msgpack_general_route: () => unpackUntrustedViaMaps(msgpack),
  msgpack_unpack_untrusted: () => unpackUntrusted(msgpack),
  msgpack_scan_only: () => decodesAsObjects(msgpack),
  msgpackr_objects: () => objectsUnpackr.unpack(msgpack),
};

// Every variant must give the same events before its time counts.
const expected = JSON.stringify(batch);
for (const [name, f] of Object.entries(variants)) {
  if (name !== 'msgpack_scan_only' && name !== 'json_scan' && JSON.stringify(f()) !== expected) throw new Error(`${name} decoded something else`);
}
// The scan's batch: every event, in order (its columns are checked against JSON.parse by the property tests).
const scanned = scanEventBatch(json, limits);
if (scanned === undefined || scanned.length !== EVENTS || batch.some((e, i) => scanned.deviceId(i) !== e.device_id)) throw new Error('json_scan did not take the events');
if (!decodesAsObjects(msgpack)) throw new Error('the batch did not take the fast route');

const samples = Object.fromEntries(Object.keys(variants).map((n) => [n, []]));
for (const f of Object.values(variants)) for (let i = 0; i < 3 * CALLS; i++) f(); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, f] of Object.entries(variants)) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) f();
    samples[name].push(Number(process.hrtime.bigint() - t) / 1000 / CALLS / EVENTS);
  }
}
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
const usPerEvent = Object.fromEntries(Object.entries(samples).map(([n, xs]) => [n, +median(xs).toFixed(3)]));
console.log(
  JSON.stringify({
    scenario: 'msgpack-decode',
    events: EVENTS,
    json_bytes: json.length,
    msgpack_bytes: msgpack.length,
    us_per_event: usPerEvent,
    unpack_untrusted_vs_json_parse: +(usPerEvent.msgpack_unpack_untrusted / usPerEvent.json_parse).toFixed(2),
  }),
);
