// The route table of the API: method, path, body limit and handler, in one place (the same table
// will feed the OpenAPI document). Handlers validate at the edge, then route by device hash or
// scatter to every shard and merge.
import { z } from 'zod';
import type { Config } from '../config.js';
import type { AlertRule, FiredAlert } from '../engine/alerts.js';
import { BucketAccumulator, bucketsJson } from '../engine/buckets.js';
import { compareHitsDesc, DUPLICATE } from '../engine/engine.js';
import { ApiError, issue, validationError, type Issue } from '../errors.js';
import { decodeList, decodeOne, formatOf } from '../api/decode.js';
import { fastEvent } from '../api/fast-event.js';
import { scanEventBatch } from '../api/fast-batch.js';
import { IngestCoalescer } from './coalescer.js';
import { toIssues, type ApiLimits, type EventIn, type Schemas } from '../api/schemas.js';
import { BatchBuilder, type EventBatch, type ScannedBatch, type TaskOf } from '../shard/protocol.js';
import type { IdColumn } from '../codec/id-column.js';
import type { ShardClient } from '../shard/client.js';
import { formatIso } from '../time.js';
import type { Reply, RequestContext, Route } from './server.js';
import type { AlertStream } from './sse.js';
import type { QueryCache } from './query-cache.js';
import type { FrontNumbers, Metrics } from '../metrics/metrics.js';

export type Phase = 'starting' | 'ready' | 'stopping';

export interface RouteDeps {
  config: Config;
  schemas: Schemas;
  /** The limits the schemas were built with. */
  limits: ApiLimits;
  shards: ShardClient;
  stream: AlertStream;
  queryCache: QueryCache;
  /** starting: recovering its data; ready; stopping: finishing what is in flight. */
  phase(): Phase;
  nextRuleId(): number;
  metrics: Metrics;
  /** The front's own numbers for /metrics. */
  frontNumbers(): FrontNumbers;
  /** Alerts whose rule has a callback_url. */
  onCallback?(alerts: FiredAlert[]): void;
}

const json = (body: string | Buffer, status = 200): Reply => ({ status, body });

const ANSWER_HEAD = '{"event_id":"';
const ANSWER_STORED = '","status":"stored"}';
const ANSWER_DUPLICATE = '","status":"duplicate"}';

function putAscii(out: Buffer, at: number, s: string): number {
  for (let k = 0; k < s.length; k++) out[at++] = s.charCodeAt(k);
  return at;
}

/**
 * The 200 answer of a batch whose events were all valid and whose ids are printable ASCII without
 * quotes or backslashes (as scanEventBatch reads them, one byte each): written into one buffer,
 * the ids copied from the batch's id column, where a string of about a thousand pieces would be
 * flattened and converted to UTF-8 again when written out.
 */
export function plainAnswer(ids: IdColumn, statuses: Uint8Array): Buffer {
  const { chars, ends } = ids;
  const n = ends.length;
  let length = 2 + Math.max(0, n - 1) + chars.length;
  for (let i = 0; i < n; i++) length += ANSWER_HEAD.length + (statuses[i] === DUPLICATE ? ANSWER_DUPLICATE.length : ANSWER_STORED.length);
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  out[at++] = 0x5b;
  for (let i = 0, c = 0; i < n; i++) {
    if (i > 0) out[at++] = 0x2c;
    at = putAscii(out, at, ANSWER_HEAD);
    for (const end = ends[i]!; c < end; c++) out[at++] = chars[c]!;
    at = putAscii(out, at, statuses[i] === DUPLICATE ? ANSWER_DUPLICATE : ANSWER_STORED);
  }
  out[at] = 0x5d;
  return out;
}

/** Most validation issues listed in one 422: enough to fix a request, bounded for huge batches. */
const ISSUES_MAX = 100;

/** Query string -> object; a repeated key becomes an array. Keys live in a null-prototype object. */
function queryObject(q: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of q) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

function parseQuery<S extends { safeParse(v: unknown): { success: true; data: unknown } | { success: false; error: z.ZodError } }>(
  schema: S,
  q: URLSearchParams,
  arrays: string[] = [],
): S extends { safeParse(v: unknown): infer R } ? (R extends { success: true; data: infer D } ? D : never) : never {
  const obj = queryObject(q);
  for (const k of arrays) {
    const v = obj[k];
    if (typeof v === 'string') obj[k] = [v];
  }
  const r = schema.safeParse(obj);
  if (!r.success) throw validationError(toIssues(r.error, ['query'], obj));
  return r.data as never;
}

const range = (from: number | undefined, to: number | undefined) => ({
  fromMs: from ?? -Infinity,
  toMs: to ?? Infinity,
});

export function buildRoutes(d: RouteDeps): Route[] {
  const { config, schemas, shards, stream, queryCache } = d;

  const notReady = (phase: Phase) =>
    new ApiError(
      'NOT_READY',
      phase === 'starting' ? 'the service is starting (recovering its data); retry shortly' : 'the service is shutting down; retry against its replacement',
      undefined,
      { 'Retry-After': '1' },
    );
  /** Writes: only when ready. */
  const requireReady = () => {
    const phase = d.phase();
    if (phase !== 'ready') throw notReady(phase);
  };
  /** Reads: once recovery is over (also while stopping). */
  const requireRecovered = () => {
    const phase = d.phase();
    if (phase === 'starting') throw notReady(phase);
  };

  /** One event: the fast check accepts exactly what the schema accepts; the schema explains refusals. */
  const validateEvent = (item: unknown, loc: (string | number)[]): { event: EventIn } | { issues: Issue[] } => {
    const fast = fastEvent(item, d.limits);
    if (fast) return { event: fast };
    const r = schemas.event.safeParse(item);
    return r.success ? { event: r.data } : { issues: toIssues(r.error, loc, item) };
  };

  /**
   * Validates events, splits them per shard, sends one task per shard, and returns each event's
   * status in request order ('stored' | 'duplicate' | the invalid event's issues).
   */
  async function ingestBatch(items: unknown[], partial: boolean) {
    const builders: (BatchBuilder | undefined)[] = new Array(shards.count);
    const statuses: ('stored' | 'duplicate' | Issue[])[] = new Array(items.length);
    const eventIds: unknown[] = new Array(items.length);
    const problems: Issue[] = [];
    let invalid = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      const r = validateEvent(item, ['body', i]);
      if ('issues' in r) {
        invalid++;
        const iss = r.issues;
        statuses[i] = iss;
        eventIds[i] = item !== null && typeof item === 'object' && typeof (item as { event_id?: unknown }).event_id === 'string' ? (item as { event_id: string }).event_id : null;
        if (problems.length < ISSUES_MAX) problems.push(...iss.slice(0, ISSUES_MAX - problems.length));
        continue;
      }
      const e = r.event;
      eventIds[i] = e.event_id;
      const s = shards.shardOf(e.device_id);
      const b = (builders[s] ??= new BatchBuilder());
      b.add(i, e.device_id, e.event_id, e.timeStamp, e.metrics, e.tags);
    }
    // A refused batch refuses all its events; a partial one only the invalid ones.
    if (invalid > 0) d.metrics.countRejected('invalid', partial ? invalid : items.length);
    if (problems.length > 0 && !partial) throw validationError(problems);
    const codes = new Uint8Array(items.length);
    const alerts: FiredAlert[] = [];
    await ingestParts(builders, codes, alerts);
    publishAlerts(alerts);
    for (const b of builders) if (b !== undefined) for (const p of b.positions) statuses[p] = codes[p] === DUPLICATE ? 'duplicate' : 'stored';
    return { statuses, eventIds };
  }

  /**
   * Sends one shard its part of a request's events and puts each event's status (0 stored,
   * DUPLICATE) at its place in the request; `positions` undefined: the part is the whole request.
   */
  async function ingestPart(shard: number, batch: EventBatch, positions: ArrayLike<number> | undefined, statuses: Uint8Array, alerts: FiredAlert[]): Promise<void> {
    const result = await shards.ingest(shard, batch).catch(countDeviceRefusal);
    if (positions === undefined) statuses.set(result.statuses);
    else for (let k = 0; k < positions.length; k++) statuses[positions[k]!] = result.statuses[k]!;
    for (const a of result.alerts) alerts.push(a);
  }

  /** ingestPart for each shard's builder, all at once. */
  async function ingestParts(builders: readonly (BatchBuilder | undefined)[], statuses: Uint8Array, alerts: FiredAlert[]): Promise<void> {
    await Promise.all(builders.map((b, s) => (b === undefined ? undefined : ingestPart(s, b.build(), b.positions, statuses, alerts))));
  }

  /**
   * A batch of events all valid (from scanEventBatch): split per shard, one task per shard; each
   * event's status (0 stored, DUPLICATE) in request order.
   */
  async function ingestScanned(batch: ScannedBatch): Promise<Uint8Array> {
    const n = batch.length;
    const statuses = new Uint8Array(n);
    const alerts: FiredAlert[] = [];
    let only = n === 0 ? -1 : shards.shardOf(batch.deviceId(0));
    for (let i = 1; i < n && only >= 0; i++) if (shards.shardOf(batch.deviceId(i)) !== only) only = -1;
    if (only >= 0) await ingestPart(only, batch.packed, undefined, statuses, alerts);
    else if (n > 0) {
      const parts = batch.split(shards.count, (deviceId) => shards.shardOf(deviceId));
      await Promise.all(parts.map((p, s) => (p === undefined ? undefined : ingestPart(s, p.packed, p.positions, statuses, alerts))));
    }
    publishAlerts(alerts);
    return statuses;
  }

  function publishAlerts(alerts: FiredAlert[]): void {
    if (alerts.length === 0) return;
    stream.publish(alerts);
    if (d.onCallback) {
      const withUrl = alerts.filter((a) => a.callback_url !== undefined);
      if (withUrl.length > 0) d.onCallback(withUrl);
    }
  }

  /** Buckets of one device (from its shard) or of all (merged from every shard), as JSON. */
  async function aggregate(deviceId: string | undefined, task: Omit<TaskOf<'aggregate'>, 'deviceId'>): Promise<string> {
    if (deviceId !== undefined) return shards.run<'aggregateJson'>(shards.shardOf(deviceId), { ...task, op: 'aggregateJson', deviceId });
    if (shards.count === 1) return shards.run<'aggregateJson'>(0, { ...task, op: 'aggregateJson' });
    const acc = new BucketAccumulator(config.MAX_BUCKETS);
    for (const p of await shards.all<'aggregate'>(task)) acc.addAll(p);
    return bucketsJson(acc.sorted());
  }

  /** Events carrying all of tags, newest first, merged from every shard, as JSON. */
  async function search(tags: string[], fromMs: number, toMs: number, limit: number): Promise<string> {
    if (shards.count === 1) return shards.run<'searchJson'>(0, { op: 'searchJson', tags, fromMs, toMs, limit });
    const parts = await shards.all<'search'>({ op: 'search', tags, fromMs, toMs, limit });
    // k-way merge of the shards' newest-first lists
    const pos = parts.map(() => 0);
    const out: string[] = [];
    while (out.length < limit) {
      let best = -1;
      for (let p = 0; p < parts.length; p++) {
        const h = parts[p]!;
        const i = pos[p]!;
        if (i >= h.ts.length) continue;
        if (best === -1) {
          best = p;
          continue;
        }
        const b = parts[best]!;
        const j = pos[best]!;
        if (compareHitsDesc(h.ts[i]!, h.deviceIds[i]!, h.eventIds[i]!, b.ts[j]!, b.deviceIds[j]!, b.eventIds[j]!) < 0) best = p;
      }
      if (best === -1) break;
      out.push(parts[best]!.json[pos[best]!]!);
      pos[best]!++;
    }
    return '[' + out.join(',') + ']';
  }

  const coalescer = new IngestCoalescer(shards, publishAlerts);
  const countDeviceRefusal = (e: unknown): never => {
    if ((e as { code?: string }).code === 'TOO_MANY_DEVICES') d.metrics.countRefused('devices');
    throw e;
  };

  const routes: Route[] = [
    {
      method: 'post',
      path: '/v1/events',
      access: 'write',
      doc: {
        tag: 'events',
        summary: 'Ingest one event',
        description: 'Idempotent by (device_id, event_id): a repeat answers {"status":"duplicate"} and changes nothing.',
        body: { schema: schemas.event, example: { event_id: 'e001', device_id: 'deviceA', timeStamp: '2025-01-15T10:00:00', metrics: { temp: 34.2, cpu: 0.44 }, tags: ['room:101', 'sensor:v2'] }, contentTypes: ['application/json', 'application/msgpack'] },
        responses: { 200: { description: 'Stored, or a duplicate', example: { status: 'ok' } } },
      },
      maxBodyBytes: config.MAX_BODY_BYTES,
      async handle(ctx) {
        requireReady();
        const value = decodeOne(await ctx.body, formatOf(ctx.headers.contentType));
        const r = validateEvent(value, ['body']);
        if ('issues' in r) {
          d.metrics.countRejected('invalid', 1);
          throw validationError(r.issues);
        }
        const status = await coalescer.submit(r.event).catch(countDeviceRefusal);
        return json(status === DUPLICATE ? '{"status":"duplicate"}' : '{"status":"ok"}');
      },
    },
    {
      method: 'post',
      path: '/v1/events/batch',
      access: 'write',
      doc: {
        tag: 'events',
        summary: 'Ingest a batch of events',
        description:
          'A JSON array of events (or NDJSON, or a msgpack array). Answers one status per event, in request order. One invalid event makes the whole batch a 422 and stores nothing, unless ?partial=true.',
        query: schemas.batchQuery,
        body: {
          schema: z.array(schemas.event),
          example: [
            { event_id: 'e002', device_id: 'deviceA', timeStamp: '2025-01-15T10:02:00', metrics: { temp: 30 }, tags: ['room:101'] },
            { event_id: 'e003', device_id: 'deviceA', timeStamp: '2025-01-15T10:03:00', metrics: { temp: 35 }, tags: ['room:102'] },
          ],
          contentTypes: ['application/json', 'application/x-ndjson', 'application/msgpack'],
        },
        responses: {
          200: {
            description: 'One status per event: stored, duplicate, or (with partial=true) invalid with an error',
            example: [
              { event_id: 'e002', status: 'stored' },
              { event_id: 'e003', status: 'duplicate' },
            ],
          },
        },
      },
      maxBodyBytes: config.MAX_BATCH_BODY_BYTES,
      async handle(ctx) {
        requireReady();
        const { partial } = parseQuery(schemas.batchQuery, ctx.query);
        const body = await ctx.body;
        const format = formatOf(ctx.headers.contentType);
        const scanned = format === 'json' ? scanEventBatch(body, d.limits) : undefined;
        if (scanned !== undefined && scanned.length <= config.MAX_BATCH_EVENTS) {
          return json(plainAnswer(scanned.ids, await ingestScanned(scanned)));
        }
        const items = decodeList(body, format);
        if (!Array.isArray(items)) throw validationError([issue(['body'], 'a batch must be a JSON array of events', 'list_type')]);
        if (items.length > config.MAX_BATCH_EVENTS) {
          d.metrics.countRejected('limit', items.length);
          throw validationError([issue(['body'], `a batch holds at most ${config.MAX_BATCH_EVENTS} events (got ${items.length}); split it`, 'too_long')]);
        }
        const { statuses, eventIds } = await ingestBatch(items, partial === 'true' || partial === '1');
        let out = '[';
        for (let i = 0; i < statuses.length; i++) {
          const s = statuses[i]!;
          if (i > 0) out += ',';
          const id = eventIds[i];
          // A stored or duplicate event's id was validated (no control characters, well-formed):
          // unless it holds a quote or a backslash it needs no escaping, so no JSON.stringify.
          const plain = typeof s === 'string' && typeof id === 'string' && id.indexOf('"') < 0 && id.indexOf('\\') < 0;
          out += plain ? '{"event_id":"' + id + '","status":' : '{"event_id":' + JSON.stringify(id ?? null) + ',"status":';
          out += typeof s === 'string' ? `"${s}"}` : `"invalid","error":${JSON.stringify(s.map((x) => `${x.loc.slice(2).join('.')}: ${x.msg}`).join('; '))}}`;
        }
        return json(out + ']');
      },
    },
    {
      method: 'get',
      path: '/v1/devices/:device_id/events',
      access: 'read',
      doc: {
        tag: 'queries',
        summary: "A device's recent events, newest first",
        pathParams: [{ name: 'device_id', description: 'The device' }],
        query: schemas.recentQuery,
        responses: { 200: { description: 'Events, newest first ([] for an unknown device)', example: [{ event_id: 'e001', device_id: 'deviceA', timeStamp: '2025-01-15T10:00:00.000Z', metrics: { temp: 34.2, cpu: 0.44 }, tags: ['room:101', 'sensor:v2'] }] } },
      },
      handle(ctx) {
        requireRecovered();
        const deviceId = ctx.params[0]!;
        const key = `recent\n${deviceId}\n${ctx.rawQuery}`;
        const cached = queryCache.get(key);
        if (cached !== undefined) return json(cached);
        const q = parseQuery(schemas.recentQuery, ctx.query);
        const { fromMs, toMs } = range(q.from_time, q.to_time);
        const shard = shards.shardOf(deviceId);
        return queryCache.answer(key, shard, () => shards.run<'recent'>(shard, { op: 'recent', deviceId, fromMs, toMs, limit: q.limit })).then(json);
      },
    },
    {
      method: 'get',
      path: '/v1/metrics/aggregate',
      access: 'read',
      doc: {
        tag: 'queries',
        summary: 'Aggregate a metric into time buckets',
        description:
          'Buckets aligned to the Unix epoch in UTC; non-empty buckets only, ascending. count counts samples of the metric. Without device_id: all devices.',
        query: schemas.aggregateQuery,
        responses: {
          200: {
            description: 'Buckets',
            example: [{ bucket: '2025-01-15T10:00:00.000Z', count: 1, sum: 34.2, avg: 34.2, min: 34.2, max: 34.2 }],
          },
        },
      },
      handle(ctx) {
        requireRecovered();
        const key = `aggregate\n${ctx.rawQuery}`;
        const cached = queryCache.get(key);
        if (cached !== undefined) return json(cached);
        const q = parseQuery(schemas.aggregateQuery, ctx.query);
        const { fromMs, toMs } = range(q.from_time, q.to_time);
        const task = { op: 'aggregate' as const, metric: q.metric, fromMs, toMs, intervalMs: q.interval, maxBuckets: config.MAX_BUCKETS };
        const scope = q.device_id === undefined ? 'all' : shards.shardOf(q.device_id);
        return queryCache.answer(key, scope, () => aggregate(q.device_id, task)).then(json);
      },
    },
    {
      method: 'get',
      path: '/v1/search',
      access: 'read',
      doc: {
        tag: 'queries',
        summary: 'Events carrying a tag (repeat tag for all of several)',
        query: schemas.searchQuery,
        responses: { 200: { description: 'Events of any device, newest first', example: [{ event_id: 'e001', device_id: 'deviceA', timeStamp: '2025-01-15T10:00:00.000Z', metrics: { temp: 34.2, cpu: 0.44 }, tags: ['room:101', 'sensor:v2'] }] } },
      },
      handle(ctx) {
        requireRecovered();
        const key = `search\n${ctx.rawQuery}`;
        const cached = queryCache.get(key);
        if (cached !== undefined) return json(cached);
        const q = parseQuery(schemas.searchQuery, ctx.query, ['tag']);
        const { fromMs, toMs } = range(q.from_time, q.to_time);
        return queryCache.answer(key, 'all', () => search(q.tag, fromMs, toMs, q.limit)).then(json);
      },
    },
    {
      method: 'post',
      path: '/v1/alerts',
      access: 'write',
      doc: {
        tag: 'alerts',
        summary: 'Register an alert rule',
        body: { schema: schemas.alertRule, example: { device_id: 'deviceA', metric: 'temp', op: '>', threshold: 32 } },
        responses: { 200: { description: 'Registered', example: { status: 'alert registered', id: 1 } } },
      },
      maxBodyBytes: config.MAX_BODY_BYTES,
      async handle(ctx) {
        requireReady();
        const value = decodeOne(await ctx.body, formatOf(ctx.headers.contentType));
        const r = schemas.alertRule.safeParse(value);
        if (!r.success) throw validationError(toIssues(r.error, ['body'], value));
        const rule: AlertRule = { id: d.nextRuleId(), ...r.data } as AlertRule;
        if (rule.callback_url === undefined) delete rule.callback_url;
        await shards.run<'addRule'>(shards.shardOf(rule.device_id), { op: 'addRule', rule });
        return json(JSON.stringify({ status: 'alert registered', id: rule.id }));
      },
    },
    {
      method: 'get',
      path: '/v1/alerts',
      access: 'read',
      doc: {
        tag: 'alerts',
        summary: 'List alert rules',
        responses: { 200: { description: 'Rules by id', example: [{ id: 1, device_id: 'deviceA', metric: 'temp', op: '>', threshold: 32 }] } },
      },
      async handle() {
        requireRecovered();
        const lists = await shards.all<'listRules'>({ op: 'listRules' });
        return json(JSON.stringify(lists.flat().sort((a, b) => a.id - b.id)));
      },
    },
    {
      method: 'del',
      path: '/v1/alerts/:id',
      access: 'write',
      doc: {
        tag: 'alerts',
        summary: 'Remove an alert rule',
        pathParams: [{ name: 'id', description: 'The rule id', schema: { type: 'integer', minimum: 1 } }],
        responses: {
          200: { description: 'Removed', example: { status: 'alert deleted', id: 1 } },
          404: { description: 'No such rule', example: { detail: 'no alert rule with id 1' } },
        },
      },
      async handle(ctx) {
        requireReady();
        const raw = ctx.params[0]!;
        if (!/^\d{1,15}$/.test(raw)) throw validationError([issue(['path', 'id'], 'id must be a positive integer', 'int_parsing')]);
        const id = Number(raw);
        const removed = await shards.all<'removeRule'>({ op: 'removeRule', id });
        if (!removed.some(Boolean)) throw new ApiError('NOT_FOUND', `no alert rule with id ${id}`);
        return json(JSON.stringify({ status: 'alert deleted', id }));
      },
    },
    {
      method: 'get',
      path: '/v1/alerts/stream',
      access: 'read',
      doc: {
        tag: 'alerts',
        summary: 'Alert stream (Server-Sent Events)',
        description:
          'One `id:` + `data:` message per alert (no `event:` field, so EventSource.onmessage receives it), a `retry:` hint first, a comment heartbeat every 15 s. Reconnect with the Last-Event-ID header (or ?last_event_id=) to replay the alerts missed since that id from a bounded buffer. A client too slow to keep up is disconnected.',
        query: z.object({
          device_id: z.string().optional().describe('Only this device (absent: every device)'),
          last_event_id: z.string().optional().describe('Replay alerts after this id (the Last-Event-ID header does the same)'),
        }),
        responses: {
          200: {
            description: 'An endless text/event-stream',
            contentType: 'text/event-stream',
            example:
              'retry: 2000\n\nid: 1795766648446001\ndata: {"device_id":"deviceA","metrics":{"temp":40},"time":"2025-01-15T11:01:00.000Z","event_id":"t002","alert_id":1,"metric":"temp","op":">","threshold":32,"value":40}\n\n',
          },
        },
      },
      handle(ctx) {
        const q = queryObject(ctx.query);
        const deviceId = q.device_id;
        if (Array.isArray(deviceId)) throw validationError([issue(['query', 'device_id'], 'give device_id at most once', 'string_type')]);
        const lastEventId = ctx.headers.lastEventId || (typeof q.last_event_id === 'string' ? q.last_event_id : '');
        if (stream.clientCount >= config.SSE_CLIENTS_MAX) {
          d.metrics.countRefused('sse_full');
          throw new ApiError('OVERLOADED', `the alert stream has its ${config.SSE_CLIENTS_MAX} clients (SSE_CLIENTS_MAX); retry later`, undefined, { 'Retry-After': '5' });
        }
        stream.subscribe(
          ctx.res,
          deviceId,
          lastEventId,
          (fn) => {
            ctx.onAbort = fn;
          },
          ctx.extraHeaders,
        );
        return undefined;
      },
    },
    {
      method: 'get',
      path: '/metrics',
      doc: {
        tag: 'operations',
        summary: 'Prometheus metrics',
        responses: { 200: { description: 'Prometheus text exposition', contentType: 'text/plain; version=0.0.4' } },
      },
      async handle() {
        const stats = await shards.all<'stats'>({ op: 'stats' });
        return { status: 200, body: await d.metrics.render(stats, d.frontNumbers()), contentType: d.metrics.contentType };
      },
    },
    {
      method: 'get',
      path: '/healthz',
      doc: { tag: 'operations', summary: 'Liveness: 200 while the process lives', responses: { 200: { description: 'Alive', example: { status: 'ok' } } } },
      handle: () => json('{"status":"ok"}'),
    },
    {
      method: 'get',
      path: '/readyz',
      doc: {
        tag: 'operations',
        summary: 'Readiness: 200 once recovered, 503 while recovering or stopping',
        responses: { 200: { description: 'Ready', example: { status: 'ready' } }, 503: { description: 'Recovering or stopping', example: { status: 'recovering' } } },
      },
      handle: () => {
        const phase = d.phase();
        return phase === 'ready' ? json('{"status":"ready"}') : json(JSON.stringify({ status: phase === 'starting' ? 'recovering' : 'stopping' }), 503);
      },
    },
  ];
  return routes;
}
