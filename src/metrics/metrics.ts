// Every metric of the service, defined once (prom-client), named by Prometheus conventions: one
// prefix, base units (seconds, bytes), `_total` for counters, never a device_id label.
//
// The front's own numbers (HTTP, SSE, validation) are counted as they happen. The shards' numbers
// are asked for once per scrape (one task per shard) and copied in: nothing crosses a thread per
// event for the sake of metrics.
import client from 'prom-client';
import type { ShardStats } from '../shard/protocol.js';
import { emptyHistogram, mergeInto, type HistogramData } from './buckets.js';

export const PREFIX = 'telemetry_';

export interface FrontNumbers {
  sseClients: number;
  alertsPublished: number;
  sseClientsDropped: number;
  queueDepth: number[];
  webhooks: { delivered: number; failed: number; dropped: number };
  queryCache: { hits: number; misses: number; entries: number };
}

/** A histogram whose buckets are kept elsewhere (in shard threads) and merged on scrape. */
class ExternalHistogram {
  private data: HistogramData = emptyHistogram();
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly collect = undefined;

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  set(data: HistogramData): void {
    this.data = data;
  }

  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let cumulative = 0;
    const { bounds, counts } = this.data;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += counts[i]!;
      values.push({ labels: { le: bounds[i]! }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    cumulative += counts[bounds.length]!;
    values.push({ labels: { le: '+Inf' }, value: cumulative, metricName: `${this.name}_bucket` });
    values.push({ labels: {}, value: this.data.sum, metricName: `${this.name}_sum` });
    values.push({ labels: {}, value: this.data.count, metricName: `${this.name}_count` });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    this.data = emptyHistogram();
  }
}

export class Metrics {
  readonly registry = new client.Registry();
  private readonly httpDuration: client.Histogram<'route' | 'method' | 'status'>;
  private readonly httpChildren = new Map<string, client.Histogram.Internal<'route' | 'method' | 'status'>>();
  private readonly taskDuration: client.Histogram<'op'>;
  private readonly rejected: client.Counter<'reason'>;
  private readonly fsync = new ExternalHistogram(`${PREFIX}fsync_duration_seconds`, 'Time one log fdatasync took (one covers a whole group commit).');
  private readonly shardCounters: Record<string, client.Counter<'shard'>>;
  private readonly shardGauges: Record<string, client.Gauge<'shard'>>;
  private readonly memoryRows: client.Gauge<'shard' | 'kind'>;
  private readonly memoryBytes: client.Gauge<'shard' | 'kind'>;
  private readonly front: Record<string, client.Gauge | client.Counter>;
  private readonly queueDepth: client.Gauge<'shard'>;
  private readonly webhooks: client.Counter<'outcome'>;
  private readonly queryCache: client.Counter<'result'>;
  private readonly queryCacheEntries: client.Gauge;
  private readonly threadRestarts: client.Counter<'shard'>;
  private readonly refused: client.Counter<'reason'>;

  constructor(version: string) {
    const r = this.registry;
    client.collectDefaultMetrics({ register: r, prefix: PREFIX });
    const build = new client.Gauge({ name: `${PREFIX}build_info`, help: 'Always 1; labels say which build runs.', labelNames: ['version', 'node'], registers: [r] });
    build.set({ version, node: process.versions.node }, 1);
    this.httpDuration = new client.Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'HTTP requests by route pattern, method and status, from arrival to answer.',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [r],
    });
    this.taskDuration = new client.Histogram({
      name: `${PREFIX}shard_task_duration_seconds`,
      help: 'Shard tasks by operation, from sending to answer (queueing, work and, for writes, the group commit).',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [r],
    });
    this.rejected = new client.Counter({
      name: `${PREFIX}events_rejected_total`,
      help: 'Events not stored, by reason: duplicate (already held), invalid (failed validation), limit (batch or body over a limit).',
      labelNames: ['reason'],
      registers: [r],
    });
    r.registerMetric(this.fsync as unknown as client.Metric);
    const counter = (name: string, help: string) => new client.Counter({ name: `${PREFIX}${name}`, help, labelNames: ['shard'], registers: [r] });
    const gauge = (name: string, help: string) => new client.Gauge({ name: `${PREFIX}${name}`, help, labelNames: ['shard'], registers: [r] });
    this.shardCounters = {
      eventsStored: counter('events_stored_total', 'Events stored (not duplicates).'),
      rawEvicted: counter('ring_evictions_total', 'Raw events dropped from device rings (capacity or age).'),
      rollupMinutesEvicted: counter('rollup_buckets_evicted_total', 'Minute rollup buckets dropped by rollup retention.'),
      logBytes: counter('log_written_bytes_total', 'Bytes appended to the log.'),
      tornRecords: counter('log_torn_records_total', 'Torn records cut off the end of a log segment during recovery.'),
      corruptSegments: counter('log_corrupt_segments_total', 'Log segments found damaged (checksum) during recovery.'),
      snapshots: counter('snapshots_total', 'Snapshots written.'),
    };
    this.shardGauges = {
      devices: gauge('devices', 'Devices held.'),
      series: gauge('series', 'Rollup series (device, metric) held.'),
      rollupBuckets: gauge('rollup_buckets', 'Minute rollup buckets held.'),
      tagIndexEntries: gauge('tag_index_entries', 'Entries in the tag postings lists.'),
      alertRules: gauge('alert_rules', 'Alert rules held.'),
      snapshotSeconds: gauge('snapshot_duration_seconds', 'Time the last snapshot took.'),
      snapshotBytes: gauge('snapshot_size_bytes', 'Size of the last snapshot.'),
      snapshotAge: gauge('snapshot_age_seconds', 'Time since the last snapshot (since start when none yet).'),
      replaySeconds: gauge('replay_duration_seconds', 'Time recovery (snapshot load and log replay) took at start.'),
      idIndexesPending: gauge('id_indexes_pending', 'Devices whose event-id index (dedup) is still being built after recovery.'),
      failed: gauge('shard_failed', '1 when the shard stopped accepting writes after a storage error.'),
    };
    this.memoryRows = new client.Gauge({ name: `${PREFIX}memory_rows`, help: 'Rows held in memory, by kind (raw events, rollup minutes, postings).', labelNames: ['shard', 'kind'], registers: [r] });
    this.memoryBytes = new client.Gauge({ name: `${PREFIX}memory_bytes`, help: 'Bytes of the columnar arrays held in memory, by kind (raw: with the event id arenas and indexes).', labelNames: ['shard', 'kind'], registers: [r] });
    this.queueDepth = gauge('shard_queue_depth', 'Tasks waiting in the front for a shard thread.');
    this.threadRestarts = new client.Counter({ name: `${PREFIX}shard_thread_restarts_total`, help: 'Shard threads that died and were replaced (the new one recovers from disk).', labelNames: ['shard'], registers: [r] });
    this.refused = new client.Counter({
      name: `${PREFIX}requests_refused_total`,
      help: 'Requests refused before any work, by reason: overload (shard queue full, 503), devices (device limit, 429), body_too_large (413), body_timeout (408), unauthorized (401), sse_full (503).',
      labelNames: ['reason'],
      registers: [r],
    });
    this.webhooks = new client.Counter({ name: `${PREFIX}alert_callbacks_total`, help: 'Alert callback POSTs by outcome.', labelNames: ['outcome'], registers: [r] });
    this.queryCache = new client.Counter({ name: `${PREFIX}query_cache_requests_total`, help: 'Read queries by whether an unchanged earlier answer was served (hit) or the shards were asked (miss).', labelNames: ['result'], registers: [r] });
    this.queryCacheEntries = new client.Gauge({ name: `${PREFIX}query_cache_entries`, help: 'Answers held by the query cache.', registers: [r] });
    this.front = {
      sseClients: new client.Gauge({ name: `${PREFIX}sse_clients`, help: 'Alert stream clients connected.', registers: [r] }),
      alerts: new client.Counter({ name: `${PREFIX}alerts_fired_total`, help: 'Alerts fired (one per rule an event satisfied).', registers: [r] }),
      dropped: new client.Counter({ name: `${PREFIX}sse_clients_dropped_total`, help: 'Alert stream clients disconnected for falling too far behind.', registers: [r] }),
    };
  }

  observeHttp(route: string, method: string, status: number, seconds: number): void {
    // The labelled child, looked up once per (route, method, status): labelling per request costs
    // prom-client a hash of the label object, more than the observation itself.
    const key = `${route} ${method} ${status}`;
    let child = this.httpChildren.get(key);
    if (child === undefined) this.httpChildren.set(key, (child = this.httpDuration.labels({ route, method, status: String(status) })));
    child.observe(seconds);
  }

  observeTask(op: string, seconds: number): void {
    this.taskDuration.observe({ op }, seconds);
  }

  countThreadRestart(shard: number): void {
    this.threadRestarts.inc({ shard: String(shard) });
  }

  countRefused(reason: 'overload' | 'devices' | 'body_too_large' | 'body_timeout' | 'unauthorized' | 'sse_full'): void {
    this.refused.inc({ reason });
  }

  countRejected(reason: 'invalid' | 'limit', n: number): void {
    if (n > 0) this.rejected.inc({ reason }, n);
  }

  /** Copies the shards' and the front's absolute numbers in, then renders the exposition text. */
  async render(shards: ShardStats[], front: FrontNumbers): Promise<string> {
    // Counters kept elsewhere are copied in as absolute values.
    const setCounter = (c: client.Counter<string>, labels: Record<string, string>, value: number) => {
      if (Object.keys(labels).length === 0) c.reset();
      else c.remove(labels);
      c.inc(labels, value);
    };
    let duplicates = 0;
    const fsync = emptyHistogram();
    const now = Date.now();
    shards.forEach((s, i) => {
      const shard = String(i);
      const e = s.engine;
      duplicates += e.eventsDuplicate;
      setCounter(this.shardCounters.eventsStored!, { shard }, e.eventsStored);
      setCounter(this.shardCounters.rawEvicted!, { shard }, e.rawEvicted);
      setCounter(this.shardCounters.rollupMinutesEvicted!, { shard }, e.rollupMinutesEvicted);
      const g = this.shardGauges;
      g.devices!.set({ shard }, e.devices);
      g.series!.set({ shard }, e.rollupSeries);
      g.rollupBuckets!.set({ shard }, e.rollupMinutes);
      g.tagIndexEntries!.set({ shard }, e.postingsEntries);
      g.alertRules!.set({ shard }, e.alertRules);
      g.idIndexesPending!.set({ shard }, e.idIndexesPending);
      g.failed!.set({ shard }, s.failed ? 1 : 0);
      this.memoryRows.set({ shard, kind: 'raw' }, e.rawEvents);
      this.memoryRows.set({ shard, kind: 'rollup' }, e.rollupMinutes);
      this.memoryRows.set({ shard, kind: 'postings' }, e.postingsEntries);
      this.memoryBytes.set({ shard, kind: 'raw' }, e.rawBytes);
      this.memoryBytes.set({ shard, kind: 'rollup' }, e.rollupBytes);
      if (s.store) {
        const st = s.store;
        setCounter(this.shardCounters.logBytes!, { shard }, st.logBytes);
        setCounter(this.shardCounters.tornRecords!, { shard }, st.tornRecords);
        setCounter(this.shardCounters.corruptSegments!, { shard }, st.corruptSegments);
        setCounter(this.shardCounters.snapshots!, { shard }, st.snapshots);
        g.snapshotSeconds!.set({ shard }, st.snapshotSecondsLast);
        g.snapshotBytes!.set({ shard }, st.snapshotBytesLast);
        g.snapshotAge!.set({ shard }, (now - st.snapshotAtMs) / 1000);
        g.replaySeconds!.set({ shard }, st.replaySeconds);
        mergeInto(fsync, st.fsyncSeconds);
      }
    });
    setCounter(this.rejected as client.Counter<string>, { reason: 'duplicate' }, duplicates);
    this.fsync.set(fsync);
    front.queueDepth.forEach((d, i) => this.queueDepth.set({ shard: String(i) }, d));
    (this.front.sseClients as client.Gauge).set(front.sseClients);
    setCounter(this.front.alerts as client.Counter<string>, {}, front.alertsPublished);
    setCounter(this.front.dropped as client.Counter<string>, {}, front.sseClientsDropped);
    setCounter(this.webhooks, { outcome: 'delivered' }, front.webhooks.delivered);
    setCounter(this.webhooks, { outcome: 'failed' }, front.webhooks.failed);
    setCounter(this.webhooks, { outcome: 'dropped' }, front.webhooks.dropped);
    setCounter(this.queryCache, { result: 'hit' }, front.queryCache.hits);
    setCounter(this.queryCache, { result: 'miss' }, front.queryCache.misses);
    this.queryCacheEntries.set(front.queryCache.entries);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
