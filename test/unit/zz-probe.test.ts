import { test } from 'vitest';
import { buildSchemas, toIssues } from '../../src/api/schemas.js';
import { decodeOne, decodeList } from '../../src/api/decode.js';
import { pack } from '../../src/codec/msgpack.js';
import { BatchBuilder, unpackBatch } from '../../src/shard/protocol.js';
const s = buildSchemas({ maxIdLength: 8, maxMetricsPerEvent: 2, maxMetricNameLength: 10, maxTagsPerEvent: 2, maxTagLength: 5, maxQueryLimit: 1000 });
const base = { event_id: 'e1', device_id: 'd1', timeStamp: '2025-01-01T00:00:00Z', metrics: { cpu: 1 }, tags: ['a'] };
const show = (name: string, v: unknown) => { const r = s.event.safeParse(v); console.log(name, r.success ? JSON.stringify(r.data) : JSON.stringify(toIssues(r.error, ['body']))); };
test('p', () => {
  show('ok', base);
  for (const k of Object.keys(base)) { const c: any = { ...base }; delete c[k]; show('missing ' + k, c); }
  show('ts bool', { ...base, timeStamp: true });
  show('ts bad', { ...base, timeStamp: '2025-02-30' });
  show('id num', { ...base, event_id: 5 });
  show('inf', { ...base, metrics: { cpu: Infinity } });
  show('nan', { ...base, metrics: { cpu: NaN } });
  show('str', { ...base, metrics: { cpu: '5' } });
  show('proto', { ...base, metrics: JSON.parse('{"__proto__": 1, "cpu": 2}') });
  show('ctor', { ...base, metrics: { constructor: 1 } });
  show('prototype', { ...base, metrics: { prototype: 1 } });
  show('ctrl', { ...base, device_id: 'd\u0001' });
  show('tags', { ...base, tags: ['a', 'b', 'c'] });
  show('empty', { ...base, event_id: '' });
  show('emptytag', { ...base, tags: [''] });
  show('long', { ...base, event_id: '123456789' });
  show('many metrics', { ...base, metrics: { a: 1, b: 2, c: 3 } });
  show('metrics null', { ...base, metrics: null });
  show('metrics arr', { ...base, metrics: [1] });
  show('emptymetricname', { ...base, metrics: { '': 1 } });
  show('not obj', [1]);
  show('lone', { ...base, event_id: '\ud800' });
  console.log(JSON.stringify(s.aggregateQuery.safeParse({ metric: 'cpu' })));
  console.log(JSON.stringify(s.aggregateQuery.safeParse({ metric: 'cpu', interval: '7x' }).error?.issues));
  console.log(JSON.stringify(s.alertRule.safeParse({ device_id: 'd', metric: 'cpu', op: '=>', threshold: 1 }).error?.issues));
  for (const b of ['{"a":}', '{"a":1', '{"a" 1}', '[1,]', 'x', '{"a":1}x', '']) { try { decodeOne(Buffer.from(b), 'json'); } catch (e: any) { console.log(b, JSON.stringify(e.issues)); } }
  try { decodeList(Buffer.from('{"a":1}\n\n{"a":}\n'), 'ndjson'); } catch (e: any) { console.log(JSON.stringify(e.issues)); }
  try { decodeList(Buffer.from('{"a":1}\n\n{"a" 1}\n'), 'ndjson'); } catch (e: any) { console.log(JSON.stringify(e.issues)); }
  for (const b of [[0xc1], [0x92, 0x01], [0x01, 0x02]]) { try { console.log(decodeOne(Buffer.from(b), 'msgpack')); } catch (e: any) { console.log(JSON.stringify(e.issues)); } }
  const mp = decodeOne(Buffer.from(pack({ metrics: JSON.parse('{"__proto__": {"x": 1}, "cpu": 2}') })), 'msgpack') as any;
  console.log('mp proto', Object.getPrototypeOf(mp.metrics) === Object.prototype, Object.hasOwn(mp.metrics, '__proto__'), JSON.stringify(mp), mp.metrics.x);
  const mp2 = decodeOne(Buffer.from(pack({ metrics: JSON.parse('{"__proto__": 1, "cpu": 2}') })), 'msgpack') as any;
  console.log('mp proto2', Object.hasOwn(mp2.metrics, '__proto__'), Object.keys(mp2.metrics));
  const b = new BatchBuilder(); b.add(0, 'd', 'e', 5, { cpu: 1.5, mem: 2 }, ['x']); b.add(1, 'd2', 'e2', 6, {}, []);
  const u = unpackBatch(b.finish()); console.log(u, u.ts.constructor.name, u.metricEnds.constructor.name);
  const e = unpackBatch(new BatchBuilder().finish()); console.log(e);
});
