import { describe, expect, it } from 'vitest';
import { buildSchemas, toIssues, type ApiLimits } from '../../../src/api/schemas.js';
import type { Issue } from '../../../src/errors.js';

const limits: ApiLimits = { maxIdLength: 16, maxMetricsPerEvent: 3, maxMetricNameLength: 12, maxTagsPerEvent: 2, maxTagLength: 8, maxQueryLimit: 1000 };
const s = buildSchemas(limits);

const valid = { event_id: 'e1', device_id: 'd1', timeStamp: '2025-01-15T10:00:00Z', metrics: { cpu: 1.5, mem: 2 }, tags: ['a'] };

/** The FastAPI `detail` items of an invalid body, or the parsed value. */
function eventIssues(body: unknown): Issue[] {
  const r = s.event.safeParse(body);
  if (r.success) throw new Error(`expected invalid, parsed ${JSON.stringify(r.data)}`);
  return toIssues(r.error, ['body'], body);
}

const omit = (k: keyof typeof valid) => {
  const o: Record<string, unknown> = { ...valid };
  delete o[k];
  return o;
};

describe('event schema: valid events', () => {
  it('parses a valid event, with timeStamp as epoch ms', () => {
    expect(s.event.parse(valid)).toEqual({ ...valid, timeStamp: Date.UTC(2025, 0, 15, 10) });
  });

  it('defaults tags to []', () => {
    expect(s.event.parse(omit('tags')).tags).toEqual([]);
  });

  it('takes epoch milliseconds as timeStamp', () => {
    expect(s.event.parse({ ...valid, timeStamp: 1_736_935_200_000 }).timeStamp).toBe(1_736_935_200_000);
  });

  it('reads an offset-less timeStamp as UTC', () => {
    expect(s.event.parse({ ...valid, timeStamp: '2025-07-01 12:00:00' }).timeStamp).toBe(Date.UTC(2025, 6, 1, 12));
  });

  it('accepts empty metrics, negative and zero values, and ids at the length limit', () => {
    expect(s.event.parse({ ...valid, metrics: {} }).metrics).toEqual({});
    expect(s.event.parse({ ...valid, metrics: { a: -1e300, b: 0 } }).metrics).toEqual({ a: -1e300, b: 0 });
    expect(s.event.parse({ ...valid, event_id: 'x'.repeat(16) }).event_id).toHaveLength(16);
  });

  it('accepts unicode ids and tags', () => {
    expect(s.event.parse({ ...valid, device_id: 'capteur-é-🚀', tags: ['ü'] }).device_id).toBe('capteur-é-🚀');
  });

  it('drops unknown fields', () => {
    expect(s.event.parse({ ...valid, extra: 1 })).not.toHaveProperty('extra');
  });
});

describe('event schema: FastAPI-shaped issues', () => {
  it.each(['event_id', 'device_id', 'timeStamp', 'metrics'] as const)('a missing %s is type "missing" with msg "Field required"', (k) => {
    expect(eventIssues(omit(k))).toEqual([{ loc: ['body', k], msg: 'Field required', type: 'missing' }]);
  });

  it('a non-string id is a string_type issue at its field', () => {
    expect(eventIssues({ ...valid, event_id: 5 })).toEqual([expect.objectContaining({ loc: ['body', 'event_id'], type: 'string_type' })]);
    expect(eventIssues({ ...valid, device_id: null })).toEqual([expect.objectContaining({ loc: ['body', 'device_id'], type: 'string_type' })]);
  });

  it('a metric value that is a string is a float_type issue at the metric', () => {
    expect(eventIssues({ ...valid, metrics: { cpu: '5' } })).toEqual([expect.objectContaining({ loc: ['body', 'metrics', 'cpu'], type: 'float_type' })]);
  });

  it.each([Infinity, -Infinity, NaN])('a metric value of %s is refused at the metric, as a number problem (not "missing")', (v) => {
    const [i, ...rest] = eventIssues({ ...valid, metrics: { cpu: v } });
    expect(rest).toEqual([]);
    expect(i!.loc).toEqual(['body', 'metrics', 'cpu']);
    expect(['float_type', 'finite_number']).toContain(i!.type);
  });

  it('metrics that are not an object is a dict_type issue', () => {
    expect(eventIssues({ ...valid, metrics: null })).toEqual([expect.objectContaining({ loc: ['body', 'metrics'], type: 'dict_type' })]);
    expect(eventIssues({ ...valid, metrics: [1] })).toEqual([expect.objectContaining({ loc: ['body', 'metrics'], type: 'dict_type' })]);
  });

  it('tags that are not a list is a list_type issue', () => {
    expect(eventIssues({ ...valid, tags: 'a' })).toEqual([expect.objectContaining({ loc: ['body', 'tags'], type: 'list_type' })]);
  });

  it('a body that is not an object is one issue at ["body"], not "Field required"', () => {
    const [i, ...rest] = eventIssues([valid]);
    expect(rest).toEqual([]);
    expect(i!.loc).toEqual(['body']);
    expect(i!.type).not.toBe('missing');
  });

  it('an impossible or malformed timeStamp is a value_error at timeStamp', () => {
    for (const t of ['2025-02-30T00:00:00Z', '2025-01-15T25:00:00', 'yesterday', '']) {
      expect(eventIssues({ ...valid, timeStamp: t }), t).toEqual([expect.objectContaining({ loc: ['body', 'timeStamp'], type: 'value_error' })]);
    }
    expect(eventIssues({ ...valid, timeStamp: Infinity })).toEqual([expect.objectContaining({ loc: ['body', 'timeStamp'] })]);
  });

  it('a timeStamp of the wrong type is one issue at timeStamp, not "missing"', () => {
    const [i, ...rest] = eventIssues({ ...valid, timeStamp: true });
    expect(rest).toEqual([]);
    expect(i!.loc).toEqual(['body', 'timeStamp']);
    expect(i!.type).not.toBe('missing');
  });

  it.each(['__proto__', 'constructor', 'prototype'])('the metric name %s is refused at its key, and never reaches a prototype', (name) => {
    const metrics = JSON.parse(`{"cpu": 1, "${name}": 2}`) as Record<string, number>;
    expect(eventIssues({ ...valid, metrics })).toEqual([expect.objectContaining({ loc: ['body', 'metrics', name], type: 'value_error' })]);
    expect(({} as Record<string, unknown>).cpu).toBeUndefined();
  });

  it.each(['__proto__', 'constructor', 'prototype'])('refusing the metric name %s says it is reserved (not just "Invalid key in record")', (name) => {
    const metrics = JSON.parse(`{"${name}": 2}`) as Record<string, number>;
    expect(eventIssues({ ...valid, metrics })[0]!.msg).toMatch(/reserved/);
  });

  it.each([
    ['event_id', 'e\u0000'],
    ['event_id', 'e\n1'],
    ['device_id', 'd\u001b[31m'],
    ['device_id', 'd\u007f'],
    ['device_id', '\ud800'],
  ])('control characters or lone surrogates in %s are refused', (k, v) => {
    expect(eventIssues({ ...valid, [k]: v })).toEqual([expect.objectContaining({ loc: ['body', k], type: 'value_error' })]);
  });

  it('control characters in a tag or a metric name are refused', () => {
    expect(eventIssues({ ...valid, tags: ['ok', 't\tx'] })).toEqual([expect.objectContaining({ loc: ['body', 'tags', 1], type: 'value_error' })]);
    expect(eventIssues({ ...valid, metrics: { 'c\u0000pu': 1 } })).toEqual([expect.objectContaining({ loc: ['body', 'metrics', 'c\u0000pu'] })]);
  });

  it('too many tags is a too_long issue at tags', () => {
    expect(eventIssues({ ...valid, tags: ['a', 'b', 'c'] })).toEqual([expect.objectContaining({ loc: ['body', 'tags'], type: 'too_long' })]);
  });

  it('too many metrics is an issue at metrics', () => {
    const issues = eventIssues({ ...valid, metrics: { a: 1, b: 2, c: 3, d: 4 } });
    expect(issues).toEqual([expect.objectContaining({ loc: ['body', 'metrics'] })]);
    expect(issues[0]!.msg).toContain('3');
  });

  it('too long ids, tags and metric names are string_too_long issues', () => {
    expect(eventIssues({ ...valid, event_id: 'x'.repeat(17) })).toEqual([expect.objectContaining({ loc: ['body', 'event_id'], type: 'string_too_long' })]);
    expect(eventIssues({ ...valid, tags: ['x'.repeat(9)] })).toEqual([expect.objectContaining({ loc: ['body', 'tags', 0], type: 'string_too_long' })]);
    expect(eventIssues({ ...valid, metrics: { ['m'.repeat(13)]: 1 } })).toEqual([expect.objectContaining({ loc: ['body', 'metrics', 'm'.repeat(13)] })]);
  });

  it('empty ids and tags are string_too_short issues; an empty metric name is refused', () => {
    expect(eventIssues({ ...valid, event_id: '' })).toEqual([expect.objectContaining({ loc: ['body', 'event_id'], type: 'string_too_short' })]);
    expect(eventIssues({ ...valid, device_id: '' })).toEqual([expect.objectContaining({ loc: ['body', 'device_id'], type: 'string_too_short' })]);
    expect(eventIssues({ ...valid, tags: [''] })).toEqual([expect.objectContaining({ loc: ['body', 'tags', 0], type: 'string_too_short' })]);
    expect(eventIssues({ ...valid, metrics: { '': 1 } })).toEqual([expect.objectContaining({ loc: ['body', 'metrics', ''] })]);
  });

  it('reports every problem of an event, each at its own loc, under the given prefix', () => {
    const body = { event_id: '', device_id: 7, timeStamp: 'nope', metrics: {}, tags: [] };
    const r = s.event.safeParse(body);
    expect(r.success).toBe(false);
    if (r.success) return;
    const locs = toIssues(r.error, ['body', 3], body).map((i) => i.loc);
    expect(locs).toEqual(expect.arrayContaining([['body', 3, 'event_id'], ['body', 3, 'device_id'], ['body', 3, 'timeStamp']]));
  });
});

/** Issues of any schema, located under `prefix`. */
function issuesOf(schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, input: unknown, prefix: (string | number)[]): Issue[] {
  const r = schema.safeParse(input);
  if (r.success) throw new Error(`expected invalid: ${JSON.stringify(input)}`);
  return toIssues(r.error as Parameters<typeof toIssues>[0], prefix, input);
}

describe('alert rule schema', () => {
  const rule = { device_id: 'd1', metric: 'cpu', op: '>', threshold: 90 };

  it('accepts each operator and an optional http(s) callback_url', () => {
    for (const op of ['>', '<', '>=', '<=', '==', '!=']) expect(s.alertRule.parse({ ...rule, op }).op).toBe(op);
    expect(s.alertRule.parse({ ...rule, callback_url: 'https://example.com/hook' }).callback_url).toBe('https://example.com/hook');
  });

  it('an unknown op is an enum issue at op', () => {
    expect(issuesOf(s.alertRule, { ...rule, op: '=>' }, ['body'])).toEqual([expect.objectContaining({ loc: ['body', 'op'], type: 'enum' })]);
  });

  it('refuses a non-http callback_url, a non-finite threshold and a reserved metric name', () => {
    expect(s.alertRule.safeParse({ ...rule, callback_url: 'file:///etc/passwd' }).success).toBe(false);
    expect(s.alertRule.safeParse({ ...rule, threshold: Infinity }).success).toBe(false);
    expect(s.alertRule.safeParse({ ...rule, metric: 'constructor' }).success).toBe(false);
  });

  it('a missing threshold is type "missing"', () => {
    expect(issuesOf(s.alertRule, { device_id: 'd1', metric: 'cpu', op: '>' }, ['body'])).toEqual([{ loc: ['body', 'threshold'], msg: 'Field required', type: 'missing' }]);
  });
});

describe('query schemas', () => {
  it('recent: limit defaults to 100, coerces from the query string, and is bounded', () => {
    expect(s.recentQuery.parse({})).toEqual({ limit: 100 });
    expect(s.recentQuery.parse({ limit: '5' }).limit).toBe(5);
    for (const limit of ['0', '1001', '1.5', '-1']) expect(s.recentQuery.safeParse({ limit }).success, limit).toBe(false);
  });

  it('a non-numeric limit is an issue at ["query", "limit"] (not "missing")', () => {
    const [i] = issuesOf(s.recentQuery, { limit: 'abc' }, ['query']);
    expect(i!.loc).toEqual(['query', 'limit']);
    expect(i!.type).not.toBe('missing');
  });

  it('times are ISO 8601 (UTC without offset) or epoch ms', () => {
    expect(s.recentQuery.parse({ from_time: '2025-01-15', to_time: '1736935200000' })).toEqual({
      from_time: Date.UTC(2025, 0, 15),
      to_time: 1_736_935_200_000,
      limit: 100,
    });
    expect(issuesOf(s.recentQuery, { from_time: '2025-02-30' }, ['query'])).toEqual([expect.objectContaining({ loc: ['query', 'from_time'], type: 'value_error' })]);
  });

  it('aggregate: metric is required, interval defaults to 1m and is parsed to ms', () => {
    expect(s.aggregateQuery.parse({ metric: 'cpu' })).toEqual({ metric: 'cpu', interval: 60_000 });
    expect(s.aggregateQuery.parse({ metric: 'cpu', interval: '5m', device_id: 'd1' })).toMatchObject({ interval: 300_000, device_id: 'd1' });
    expect(issuesOf(s.aggregateQuery, {}, ['query'])).toEqual([{ loc: ['query', 'metric'], msg: 'Field required', type: 'missing' }]);
  });

  it.each(['7x', '0m', '-1m', '1.5m'])('aggregate: the interval %j is a 422 issue at ["query", "interval"]', (interval) => {
    expect(issuesOf(s.aggregateQuery, { metric: 'cpu', interval }, ['query'])).toEqual([expect.objectContaining({ loc: ['query', 'interval'], type: 'value_error' })]);
  });

  it('search: at least one tag', () => {
    expect(s.searchQuery.parse({ tag: ['a', 'b'] })).toEqual({ tag: ['a', 'b'], limit: 100 });
    expect(s.searchQuery.safeParse({ tag: [] }).success).toBe(false);
    expect(s.searchQuery.safeParse({}).success).toBe(false);
  });

  it('batch: partial is true/false/1/0, default false', () => {
    expect(s.batchQuery.parse({})).toEqual({ partial: 'false' });
    expect(s.batchQuery.parse({ partial: '1' })).toEqual({ partial: '1' });
    expect(s.batchQuery.safeParse({ partial: 'yes' }).success).toBe(false);
  });
});
