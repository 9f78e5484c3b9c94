// The request messages of the HTTP API, one zod schema each, with their TypeScript types inferred
// from them. Limits come from the configuration, so the schemas are built once at start-up.
// These same schemas validate requests and (later) generate the OpenAPI document.
import { z } from 'zod';
import { ALERT_OPS } from '../engine/alerts.js';
import type { Issue } from '../errors.js';
import { parseIntervalMs, parseQueryTimeMs, parseTimeMs } from '../time.js';

export interface ApiLimits {
  maxIdLength: number;
  maxMetricsPerEvent: number;
  maxMetricNameLength: number;
  maxTagsPerEvent: number;
  maxTagLength: number;
  maxQueryLimit: number;
}

/** Names that would reach an object prototype if used as plain keys anywhere downstream. */
export const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

// No control characters (they break logs, SSE lines and terminals) and no lone surrogates (they
// cannot be written as UTF-8).
export const PRINTABLE = /^[^\u0000-\u001f\u007f]*$/;

const text = (what: string, max: number) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .refine((s) => PRINTABLE.test(s) && s.isWellFormed(), `${what} must not contain control characters or unpaired surrogates`);

const timeInput = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseTimeMs(v);
  if (ms === undefined) {
    ctx.issues.push({
      code: 'custom',
      input: v,
      message: 'must be an ISO 8601 date-time (UTC unless it has an offset) or epoch milliseconds',
    });
    return z.NEVER;
  }
  return ms;
});

export function buildSchemas(l: ApiLimits) {
  const metricName = text('metric name', l.maxMetricNameLength).refine(
    (s) => !RESERVED_NAMES.has(s),
    'metric name is reserved (__proto__, constructor and prototype are not allowed)',
  );
  const metrics = z
    .record(metricName, z.number({ error: 'metric values must be finite numbers' }))
    .superRefine((m, ctx) => {
      if (Object.keys(m).length > l.maxMetricsPerEvent) {
        ctx.addIssue({ code: 'custom', message: `at most ${l.maxMetricsPerEvent} metrics per event` });
      }
    });
  // zod drops a `__proto__` key from records silently; a client must hear that it was refused.
  const metricsChecked = z.preprocess((input, ctx) => {
    if (input !== null && typeof input === 'object' && Object.hasOwn(input, '__proto__')) {
      ctx.issues.push({
        code: 'custom',
        input,
        path: ['__proto__'],
        message: 'metric name is reserved (__proto__, constructor and prototype are not allowed)',
      });
    }
    return input;
  }, metrics);

  const event = z.object({
    event_id: text('event_id', l.maxIdLength),
    device_id: text('device_id', l.maxIdLength),
    timeStamp: timeInput,
    metrics: metricsChecked,
    tags: z
      .array(text('tag', l.maxTagLength))
      .max(l.maxTagsPerEvent, `at most ${l.maxTagsPerEvent} tags per event`)
      .default([]),
  });

  const alertRule = z.object({
    device_id: text('device_id', l.maxIdLength),
    metric: metricName,
    op: z.enum(ALERT_OPS),
    threshold: z.number({ error: 'threshold must be a finite number' }),
    callback_url: z
      .url({ protocol: /^https?$/, error: 'callback_url must be an http(s) URL' })
      .max(2048)
      .optional(),
  });

  const queryTime = z
    .string()
    .transform((s, ctx) => {
      const ms = parseQueryTimeMs(s);
      if (ms === undefined) {
        ctx.issues.push({ code: 'custom', input: s, message: 'must be an ISO 8601 date-time or epoch milliseconds' });
        return z.NEVER;
      }
      return ms;
    })
    .optional();
  const limit = z.coerce
    .number({ error: 'limit must be an integer' })
    .int('limit must be an integer')
    .min(1, 'limit must be at least 1')
    .max(l.maxQueryLimit, `limit must be at most ${l.maxQueryLimit}`)
    .default(100);

  const recentQuery = z.object({ from_time: queryTime, to_time: queryTime, limit });

  const aggregateQuery = z.object({
    metric: metricName,
    device_id: text('device_id', l.maxIdLength).optional(),
    from_time: queryTime,
    to_time: queryTime,
    interval: z
      .string()
      .default('1m')
      .transform((s, ctx) => {
        const ms = parseIntervalMs(s);
        if (ms === undefined) {
          ctx.issues.push({
            code: 'custom',
            input: s,
            message: 'interval must be a positive whole number followed by s, m, h or d (10s, 1m, 5m, 1h, 1d)',
          });
          return z.NEVER;
        }
        return ms;
      }),
  });

  const searchQuery = z.object({
    tag: z.array(text('tag', l.maxTagLength)).min(1, 'at least one tag is required').max(l.maxTagsPerEvent),
    from_time: queryTime,
    to_time: queryTime,
    limit,
  });

  const batchQuery = z.object({ partial: z.enum(['true', 'false', '1', '0']).default('false') });

  return { event, alertRule, recentQuery, aggregateQuery, searchQuery, batchQuery };
}

export type Schemas = ReturnType<typeof buildSchemas>;
export type EventIn = z.output<Schemas['event']>;
export type AlertRuleIn = z.output<Schemas['alertRule']>;
export type RecentQuery = z.output<Schemas['recentQuery']>;
export type AggregateQuery = z.output<Schemas['aggregateQuery']>;
export type SearchQuery = z.output<Schemas['searchQuery']>;

const TYPE_BY_EXPECTED: Record<string, string> = {
  string: 'string_type',
  number: 'float_type',
  int: 'int_type',
  array: 'list_type',
  object: 'dict_type',
  record: 'dict_type',
};

/** True when the value at `path` inside `input` is absent (its parent exists but lacks the key). */
function isMissing(input: unknown, path: readonly PropertyKey[]): boolean {
  if (path.length === 0) return input === undefined;
  let v: unknown = input;
  for (let k = 0; k < path.length - 1; k++) {
    if (v === null || typeof v !== 'object') return false;
    v = (v as Record<PropertyKey, unknown>)[path[k]!];
  }
  return v !== null && typeof v === 'object' && !Object.hasOwn(v, path[path.length - 1]!);
}

/** zod issues -> FastAPI's `detail` items, located under `prefix` (e.g. ['body', 3]); `input` is what was validated. */
export function toIssues(error: z.ZodError, prefix: (string | number)[], input: unknown): Issue[] {
  return error.issues.map((i) => {
    const loc = [...prefix, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (isMissing(input, i.path)) return { loc, msg: 'Field required', type: 'missing' };
    let type = 'value_error';
    if (i.code === 'invalid_type') type = TYPE_BY_EXPECTED[i.expected] ?? 'type_error';
    else if (i.code === 'too_big') type = i.origin === 'string' ? 'string_too_long' : 'too_long';
    else if (i.code === 'too_small') type = i.origin === 'string' ? 'string_too_short' : 'too_short';
    else if (i.code === 'invalid_value') type = 'enum';
    else if (i.code === 'unrecognized_keys') type = 'extra_forbidden';
    // A refused record key: zod's own message is generic; the key schema's says why.
    const msg = i.code === 'invalid_key' && i.issues[0] !== undefined ? i.issues[0].message : i.message;
    return { loc, msg, type };
  });
}
