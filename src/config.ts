// Every setting of the service, read once from the environment and command-line flags, validated by
// one zod schema, then frozen. This is the only module that reads process.env or process.argv.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import type { ApiLimits } from './api/schemas.js';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

// A string setting becomes a number only if it says one: a blank value must not turn into 0.
const int = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? NaN : Number(v)) : v),
    z
      .number({ error: 'must be a whole number' })
      .int('must be a whole number')
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`),
  );

/** Each entry: the schema (with its default) and a one-line description for `--help` and the README. */
const settings = {
  PORT: { schema: int(0, 65535).default(8000), help: 'TCP port to listen on (0: any free port)' },
  HOST: { schema: z.string().min(1).default('0.0.0.0'), help: 'address to listen on' },
  DATA_DIR: { schema: z.string().min(1).default('./data'), help: 'directory for the log and snapshots' },
  SHARDS: {
    schema: int(1, 256).default(Math.max(1, availableParallelism() - 1)),
    help: 'worker-thread shards (default: cores - 1, at least 1)',
  },
  REPLAY_THREADS: {
    schema: int(0, 64).default(0),
    help: "threads that replay one shard's log at start-up (0: cores / SHARDS, from 1 to 4)",
  },
  REPLAY_THREADS_MIN_LOG_BYTES: {
    schema: int(0, 2 ** 40).default(32 << 20),
    help: "a shard's log shorter than this replays on one thread (a helper takes longer to start than it saves)",
  },
  // Small, so the scavenger keeps reusing pages already in memory: on the VMs measured a fault on
  // fresh memory costs 14-20 µs (bench/RESULTS.md, sixth session). 12 replayed 1M events 7-8%
  // faster than V8's 48 and 10M as fast; 6 slowed the 10M replay.
  SHARD_YOUNG_GENERATION_MB: {
    schema: int(0, 4096).default(12),
    help: "young generation of each shard and replay thread's JavaScript heap, in MB (0: V8's default, 48 here)",
  },
  FSYNC: { schema: z.enum(['always', 'interval', 'never']).default('always'), help: 'when the log is fsynced' },
  SEGMENT_BYTES_MAX: {
    schema: int(1 << 16, 1 << 30).default(64 << 20),
    help: 'a log segment is closed and a new one started past this size (bytes)',
  },
  SNAPSHOT_LOG_BYTES: {
    schema: int(1 << 16, 2 ** 40).default(256 << 20),
    help: 'a shard snapshots once this many log bytes were written since its last snapshot',
  },
  SNAPSHOT_INTERVAL_MS: {
    schema: int(0, 7 * DAY_MS).default(10 * MINUTE_MS),
    help: 'a shard with new writes snapshots at least this often (0: only by log size and at shutdown)',
  },
  RING_CAPACITY: {
    schema: int(1, 10_000_000).default(100_000),
    help: 'raw events kept per device (oldest out first)',
  },
  RAW_RETENTION_MS: {
    schema: int(1, 100 * 365 * DAY_MS).default(7 * DAY_MS),
    help: "raw events older than the device's newest event by more than this are dropped (ms)",
  },
  ROLLUP_RETENTION_MS: {
    schema: int(MINUTE_MS, 100 * 365 * DAY_MS).default(400 * DAY_MS),
    help: "minute rollups older than the device's newest event by more than this are dropped (ms)",
  },
  MAX_BODY_BYTES: { schema: int(1024, 1 << 30).default(1 << 20), help: 'largest single-event body (bytes)' },
  MAX_BATCH_BODY_BYTES: {
    schema: int(1024, 1 << 30).default(16 << 20),
    help: 'largest batch body (bytes)',
  },
  MAX_BATCH_EVENTS: { schema: int(1, 1_000_000).default(10_000), help: 'most events in one batch' },
  MAX_ID_LENGTH: { schema: int(1, 4096).default(128), help: 'longest event_id and device_id (characters)' },
  MAX_METRICS_PER_EVENT: { schema: int(1, 1024).default(64), help: 'most metrics in one event' },
  MAX_METRIC_NAME_LENGTH: { schema: int(1, 1024).default(128), help: 'longest metric name (characters)' },
  MAX_TAGS_PER_EVENT: { schema: int(0, 1024).default(32), help: 'most tags in one event' },
  MAX_TAG_LENGTH: { schema: int(1, 4096).default(256), help: 'longest tag (characters)' },
  MAX_QUERY_LIMIT: { schema: int(1, 1_000_000).default(10_000), help: 'largest `limit` of a query' },
  MAX_BUCKETS: {
    schema: int(1, 10_000_000).default(100_000),
    help: 'most non-empty buckets one aggregate answers (past it: 422, widen the interval)',
  },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    help: 'least severe log level written',
  },
  ACCESS_LOG: {
    schema: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
    help: 'one log line per HTTP request (true/false)',
  },
  MAX_DEVICES: {
    schema: int(1, 1 << 30).default(1_000_000),
    help: 'devices held in memory, spread over the shards; past it events of new devices get 429',
  },
  SHARD_QUEUE_MAX: {
    schema: int(1, 1_000_000).default(256),
    help: 'tasks waiting for one shard before requests get 503 with Retry-After',
  },
  BODY_TIMEOUT_MS: {
    schema: int(100, 3_600_000).default(30_000),
    help: 'longest time to receive a request body (408 past it)',
  },
  SSE_CLIENTS_MAX: { schema: int(0, 1_000_000).default(1024), help: 'alert stream connections (503 past it)' },
  API_TOKEN: {
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    help: 'bearer token required for writes and alert management (unset: no auth)',
  },
  READ_TOKEN: {
    schema: z.string().min(16, 'must be at least 16 characters').optional(),
    help: 'bearer token required for reads (API_TOKEN works too; unset: reads are open)',
  },
  CORS_ORIGIN: {
    schema: z.string().min(1).optional(),
    help: 'Access-Control-Allow-Origin for browser dashboards (e.g. * or https://dash.example.com; unset: no CORS)',
  },
  QUERY_CACHE_ENTRIES: {
    schema: int(0, 1_000_000).default(1024),
    help: 'answers of read queries kept until a shard they read changes (0: no cache)',
  },
  QUERY_CACHE_BYTES: {
    schema: int(0, 2 ** 40).default(64 * 1024 * 1024),
    help: 'bytes of answers the query cache keeps',
  },
  TEST_HOOKS: {
    schema: z.enum(['true', 'false', '1', '0']).default('false').transform((v) => v === 'true' || v === '1'),
    help: 'tests only: POST /_test/shards/{i}/die ends a shard thread as a crash would',
  },
  SSE_REPLAY_BUFFER: {
    schema: int(0, 10_000_000).default(10_000),
    help: 'alerts kept for Last-Event-ID replay',
  },
  SSE_REPLAY_BUFFER_BYTES: {
    schema: int(0, 2 ** 40).default(16 << 20),
    help: 'bytes of alerts kept for Last-Event-ID replay (the oldest go first past it)',
  },
  SSE_CLIENT_BUFFER_BYTES: {
    schema: int(1024, 1 << 30).default(1 << 20),
    help: 'bytes queued for one slow SSE client before it is disconnected',
  },
  SSE_HEARTBEAT_MS: { schema: int(10, 3_600_000).default(15_000), help: 'SSE comment heartbeat period (ms)' },
  SSE_RETRY_MS: { schema: int(0, 3_600_000).default(2_000), help: 'SSE retry: hint sent to clients (ms)' },
} as const;

type Settings = typeof settings;
export type Config = Readonly<{ [K in keyof Settings]: z.output<Settings[K]['schema']> }>;
export type SettingName = keyof Settings;

export const settingNames = Object.keys(settings) as SettingName[];

/** `RING_CAPACITY` <-> `--ring-capacity`. */
export const flagOf = (name: string): string => `--${name.toLowerCase().replaceAll('_', '-')}`;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/**
 * Flags win over the environment, which wins over defaults. Unknown flags are an error: a typo must
 * not silently leave a default in force.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv.slice(2)): Config {
  const raw: Record<string, string> = Object.create(null);
  for (const name of settingNames) {
    const v = env[name];
    if (v !== undefined && v !== '') raw[name] = v;
  }
  const byFlag = new Map(settingNames.map((n) => [flagOf(n), n] as const));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const name = byFlag.get(flag);
    if (name === undefined) throw new ConfigError(`unknown option ${flag} (see --help)`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new ConfigError(`option ${flag} needs a value`);
    raw[name] = value;
  }
  const out: Record<string, unknown> = {};
  for (const name of settingNames) {
    const result = settings[name].schema.safeParse(raw[name]);
    if (!result.success) {
      const why = result.error.issues[0]?.message ?? 'invalid';
      throw new ConfigError(`invalid setting ${name} (${flagOf(name)}) = ${JSON.stringify(raw[name])}: ${why}`);
    }
    out[name] = result.data;
  }
  const config = out as Config;
  if (config.ROLLUP_RETENTION_MS < config.RAW_RETENTION_MS) {
    throw new ConfigError(
      `invalid setting ROLLUP_RETENTION_MS (${flagOf('ROLLUP_RETENTION_MS')}) = ${config.ROLLUP_RETENTION_MS}: ` +
        `must be at least RAW_RETENTION_MS (${config.RAW_RETENTION_MS}), or aggregates would disagree with each other`,
    );
  }
  return Object.freeze(config);
}

/** Threads replaying each shard's log: REPLAY_THREADS, or the cores the shards leave (at most 4). */
export const replayThreadsOf = (config: Config, cores = availableParallelism()): number =>
  config.REPLAY_THREADS > 0 ? config.REPLAY_THREADS : Math.max(1, Math.min(4, Math.floor(cores / config.SHARDS)));

/** The limits the API's validation (and the JSON batch scan) holds requests to. */
export const apiLimitsOf = (config: Config): ApiLimits => ({
  maxIdLength: config.MAX_ID_LENGTH,
  maxMetricsPerEvent: config.MAX_METRICS_PER_EVENT,
  maxMetricNameLength: config.MAX_METRIC_NAME_LENGTH,
  maxTagsPerEvent: config.MAX_TAGS_PER_EVENT,
  maxTagLength: config.MAX_TAG_LENGTH,
  maxQueryLimit: config.MAX_QUERY_LIMIT,
});

export function helpText(): string {
  const lines = ['Usage: node dist/main.js [--option value ...]', '', 'Every option is also an environment variable.', ''];
  for (const name of settingNames) {
    const def = settings[name].schema.safeParse(undefined);
    lines.push(`  ${flagOf(name).padEnd(28)} ${name.padEnd(24)} ${settings[name].help} [default: ${def.success ? String(def.data) : '-'}]`);
  }
  return lines.join('\n');
}
