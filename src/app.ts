// Wires the service together: data directory, shards, the alert stream, the route table and the
// HTTP server. Built separately from the process entry, so tests can build and close it in-process.
//
// Start: check the data directory, start the shard threads, listen (so /healthz and /readyz answer
// at once), let every shard recover (snapshot + log replay; /readyz is 503 meanwhile), then take
// writes.
// Stop, in this order: refuse new writes (503) and stop accepting connections; wait for requests
// in flight; each shard flushes, fsyncs, snapshots and closes its log; end the alert streams; stop
// the shard threads; release the data directory.
import { apiLimitsOf, replayThreadsOf, type Config } from './config.js';
import { buildSchemas, type ApiLimits } from './api/schemas.js';
import { docsRoutes } from './http/docs.js';
import { buildOpenApi } from './http/openapi.js';
import { buildRoutes, type Phase } from './http/routes.js';
import { makeAuthorizer } from './http/auth.js';
import { createServer, type Route, type ServerHooks, type ServerOptions } from './http/server.js';
import { QueryCache } from './http/query-cache.js';
import { AlertStream } from './http/sse.js';
import { Webhooks } from './http/webhooks.js';
import { ShardClient } from './shard/client.js';
import { prepareDataDir, releaseDataDir, shardDir } from './storage/data-dir.js';
import { Metrics } from './metrics/metrics.js';
import { version } from './version.js';

export interface App {
  /** Starts listening, then recovers; resolves to the bound port once listening. */
  listen(): Promise<number>;
  /** Resolves once every shard has recovered and writes are taken. */
  ready: Promise<void>;
  /** The graceful stop described above. */
  close(): Promise<void>;
}

import type { Log } from './log.js';

export interface AppOptions {
  log?: Log;
}

/** Longest a stop waits for requests in flight before closing the shards anyway. */
const DRAIN_MS_MAX = 10_000;

export function createApp(config: Config, options: AppOptions = {}): App {
  const log = options.log ?? (() => {});
  prepareDataDir(config.DATA_DIR, config.SHARDS);
  const metrics = new Metrics(version);
  // Each shard counts its state changes here; the query cache reads them (see http/query-cache.ts).
  const changes = new Int32Array(new SharedArrayBuffer(4 * config.SHARDS));
  const queryCache = new QueryCache(changes, { maxEntries: config.QUERY_CACHE_ENTRIES, maxBytes: config.QUERY_CACHE_BYTES });
  const shards = new ShardClient({
    shards: config.SHARDS,
    onTask: (op, seconds) => metrics.observeTask(op, seconds),
    queueMax: config.SHARD_QUEUE_MAX,
    onOverload: () => metrics.countRefused('overload'),
    onThreadError: (shard, err) => log('error', 'a shard thread failed', { shard, err: String(err?.stack ?? err) }),
    onThreadReplaced: (shard) => {
      metrics.countThreadRestart(shard);
      log('error', 'a shard thread died; a new one recovers from the log and snapshots', { shard });
    },
    shard: (index) => ({
      index,
      changes,
      logLevel: config.LOG_LEVEL,
      maxDevices: Math.ceil(config.MAX_DEVICES / config.SHARDS),
      testHooks: config.TEST_HOOKS,
      limits: {
        ringCapacity: config.RING_CAPACITY,
        rawRetentionMs: config.RAW_RETENTION_MS,
        rollupRetentionMs: config.ROLLUP_RETENTION_MS,
      },
      replay: { threads: replayThreadsOf(config), logBytesMin: config.REPLAY_THREADS_MIN_LOG_BYTES },
      youngGenerationMb: config.SHARD_YOUNG_GENERATION_MB,
      storage: {
        dir: shardDir(config.DATA_DIR, index),
        fsync: config.FSYNC,
        segmentBytesMax: config.SEGMENT_BYTES_MAX,
        snapshotLogBytes: config.SNAPSHOT_LOG_BYTES,
        snapshotIntervalMs: config.SNAPSHOT_INTERVAL_MS,
      },
    }),
  });
  const stream = new AlertStream({
    replayMax: config.SSE_REPLAY_BUFFER,
    replayBytesMax: config.SSE_REPLAY_BUFFER_BYTES,
    clientBufferBytesMax: config.SSE_CLIENT_BUFFER_BYTES,
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    retryMs: config.SSE_RETRY_MS,
  });
  const webhooks = new Webhooks(undefined, (url, why) => log('error', 'alert callback failed', { url, why }));
  let phase: Phase = 'starting';
  let lastRuleId = 0;
  const limits: ApiLimits = apiLimitsOf(config);
  const schemas = buildSchemas(limits);
  const hooks: ServerHooks = {
    onReply: (route, method, status, startedMs) => {
      const seconds = (performance.now() - startedMs) / 1000;
      metrics.observeHttp(route, method, status, seconds);
      if (config.ACCESS_LOG) log('info', 'request', { route, method, status, ms: Number((seconds * 1000).toFixed(3)) });
    },
    onError: (err) => log('error', 'unhandled error in a request', { err: String((err as Error)?.stack ?? err) }),
  };
  const routes = buildRoutes({
      config,
      schemas,
      limits,
      shards,
      stream,
      queryCache,
      phase: () => phase,
      metrics,
      frontNumbers: () => ({
        sseClients: stream.counters.clients,
        alertsPublished: stream.counters.alertsPublished,
        sseClientsDropped: stream.counters.clientsDropped,
        queueDepth: shards.queueDepths(),
        webhooks: webhooks.counters,
        queryCache: { hits: queryCache.hits, misses: queryCache.misses, entries: queryCache.size },
      }),
      nextRuleId: () => ++lastRuleId,
      onCallback: (alerts) => webhooks.deliver(alerts),
  });
  const openapi = JSON.stringify(buildOpenApi(routes, version));
  const authorize = makeAuthorizer({ apiToken: config.API_TOKEN, readToken: config.READ_TOKEN });
  const serverOptions: ServerOptions = {
    bodyTimeoutMs: config.BODY_TIMEOUT_MS,
    onRefused: (reason) => metrics.countRefused(reason),
  };
  if (authorize) serverOptions.authorize = authorize;
  if (config.CORS_ORIGIN) serverOptions.corsOrigin = config.CORS_ORIGIN;
  const server = createServer([...routes, ...docsRoutes(() => openapi), ...testRoutes()], serverOptions, hooks);

  /** Tests only (TEST_HOOKS): end a shard thread as a crash would. */
  function testRoutes(): Route[] {
    if (!config.TEST_HOOKS) return [];
    return [
      {
        method: 'post',
        path: '/_test/shards/:index/die',
        async handle(ctx) {
          const index = Number(ctx.params[0]);
          await shards.run(index, { op: 'testDie' } as never).catch(() => {});
          return { status: 200, body: '{"status":"died"}' };
        },
      },
    ];
  }

  let markReady: () => void = () => {};
  let markFailed: (e: unknown) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });

  async function recover(): Promise<void> {
    const started = performance.now();
    const reports = await shards.all<'open'>({ op: 'open' });
    // Rule ids continue after the highest one ever used (deleted rules included).
    for (const s of await shards.all<'stats'>({ op: 'stats' })) lastRuleId = Math.max(lastRuleId, s.engine.ruleIdMax);
    const events = reports.reduce((n, r) => n + r.events, 0);
    log('info', 'recovered', {
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
      eventsReplayed: events,
      tornRecords: reports.reduce((n, r) => n + r.torn, 0),
      corruptSegments: reports.reduce((n, r) => n + r.corrupt, 0),
    });
    if (phase === 'starting') phase = 'ready';
  }

  return {
    ready,
    async listen() {
      const port = await server.listen(config.HOST, config.PORT);
      recover().then(markReady, (e: unknown) => {
        // A stop during recovery ends the shards under it: that is the stop, not a failure.
        if (phase === 'stopping') markReady();
        else markFailed(e);
      });
      return port;
    },
    async close() {
      phase = 'stopping';
      server.close();
      await Promise.race([server.idle(), new Promise((r) => setTimeout(r, DRAIN_MS_MAX).unref())]);
      try {
        // Every shard closes (flushes its log, writes its snapshot) before the threads end, even
        // when another shard's close failed: all() waits for every answer.
        await shards.all<'close'>({ op: 'close' });
      } finally {
        stream.close();
        webhooks.close();
        await shards.close();
        releaseDataDir(config.DATA_DIR);
      }
    },
  };
}
