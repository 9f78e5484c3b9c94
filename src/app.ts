// Wires the service together: shards, the alert stream, the route table and the HTTP server.
// Built separately from the process entry, so tests can build and close it in-process.
import type { Config } from './config.js';
import { buildSchemas } from './api/schemas.js';
import { buildRoutes } from './http/routes.js';
import { createServer, type ServerHooks } from './http/server.js';
import { AlertStream } from './http/sse.js';
import { ShardClient } from './shard/client.js';
import { Webhooks } from './http/webhooks.js';

export interface App {
  /** Starts listening; resolves to the bound port. */
  listen(): Promise<number>;
  /** Stops accepting, ends the alert streams and stops the shards. */
  close(): Promise<void>;
}

export interface AppOptions {
  log?: (level: 'info' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const log = options.log ?? (() => {});
  const shards = new ShardClient({
    shards: config.SHARDS,
    shard: {
      limits: {
        ringCapacity: config.RING_CAPACITY,
        rawRetentionMs: config.RAW_RETENTION_MS,
        rollupRetentionMs: config.ROLLUP_RETENTION_MS,
      },
    },
  });
  const stream = new AlertStream({
    replayMax: config.SSE_REPLAY_BUFFER,
    clientBufferBytesMax: config.SSE_CLIENT_BUFFER_BYTES,
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    retryMs: config.SSE_RETRY_MS,
  });
  const webhooks = new Webhooks(undefined, (url, why) => log('error', 'alert callback failed', { url, why }));
  let ready = false;
  let lastRuleId = 0;
  const schemas = buildSchemas({
    maxIdLength: config.MAX_ID_LENGTH,
    maxMetricsPerEvent: config.MAX_METRICS_PER_EVENT,
    maxMetricNameLength: config.MAX_METRIC_NAME_LENGTH,
    maxTagsPerEvent: config.MAX_TAGS_PER_EVENT,
    maxTagLength: config.MAX_TAG_LENGTH,
    maxQueryLimit: config.MAX_QUERY_LIMIT,
  });
  const hooks: ServerHooks = {
    onError: (err) => log('error', 'unhandled error in a request', { err: String((err as Error)?.stack ?? err) }),
  };
  const routes = buildRoutes({
    config,
    schemas,
    shards,
    stream,
    isReady: () => ready,
    nextRuleId: () => ++lastRuleId,
    onCallback: (alerts) => webhooks.deliver(alerts),
  });
  const server = createServer(routes, hooks);

  // Rule ids continue after the highest one the shards hold.
  for (const rules of await shards.all<'listRules'>({ op: 'listRules' })) {
    for (const r of rules) lastRuleId = Math.max(lastRuleId, r.id);
  }
  ready = true;

  return {
    listen: () => server.listen(config.HOST, config.PORT),
    async close() {
      ready = false;
      server.close();
      stream.close();
      webhooks.close();
      await shards.close();
    },
  };
}
