// Property tests: ShardEngine (and Shard.applyBatch) against the naive model in ./model.ts.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { AlertRule, FiredAlert } from '../../src/engine/alerts.js';
import { ShardEngine, STORED, DUPLICATE } from '../../src/engine/engine.js';
import { Shard } from '../../src/shard/shard.js';
import {
  DEVICES,
  INTERVALS,
  METRICS,
  TAGS,
  eventArb,
  intervalArb,
  limitArb,
  rangeArb,
  relativeRangeArb,
  resolveRange,
  ruleArb,
  type RelativeRange,
  scenarioArb,
  tsArb,
  eventsArb,
  worldArb,
} from './arbitraries.js';
import { allAnswers, buildBatch, byAlertId, expectEngineBucketsMatch, expectSameAnswers, hitRows, ingestInto, modelHitRows, show } from './helpers.js';
import { MODEL_DUPLICATE, MODEL_STORED, Model, bucketRows, type ModelEvent } from './model.js';

const params = { numRuns: 300 };
/** The query properties are cheap: more runs. */
const queryParams = { numRuns: 500 };

expect(STORED).toBe(MODEL_STORED);
expect(DUPLICATE).toBe(MODEL_DUPLICATE);

function run(limits: ShardEngine['limits'], events: readonly ModelEvent[]): { engine: ShardEngine; model: Model; statuses: number[]; expected: number[] } {
  const engine = new ShardEngine(limits);
  const model = new Model(limits);
  const statuses: number[] = [];
  const expected: number[] = [];
  for (const e of events) {
    expected.push(model.ingest(e).status);
    statuses.push(ingestInto(engine, e));
  }
  return { engine, model, statuses, expected };
}

/** A query range: absolute, or relative to the minute edges of the scenario's events (resolved later). */
const queryRangeArb: fc.Arbitrary<[number, number] | RelativeRange> = fc.oneof(rangeArb, relativeRangeArb);

function range(r: [number, number] | RelativeRange, events: readonly ModelEvent[]): [number, number] {
  return Array.isArray(r) ? r : resolveRange(r, events);
}

const recentQueryArb = fc.record({
  device: fc.constantFrom(...DEVICES, 'unknown'),
  range: queryRangeArb,
  limit: limitArb,
});

const aggregateQueryArb = fc.record({
  metric: fc.constantFrom(...METRICS, 'q'),
  device: fc.option(fc.constantFrom(...DEVICES, 'unknown'), { nil: undefined }),
  range: queryRangeArb,
  interval: intervalArb,
});

const tagQueryArb = fc.oneof(
  fc.constantFrom(...TAGS).map((t) => [t]),
  fc.uniqueArray(fc.constantFrom(...TAGS, 'v'), { minLength: 1, maxLength: 3 }),
  fc.array(fc.constantFrom(...TAGS), { minLength: 1, maxLength: 3 }), // may repeat a tag
);

const searchQueryArb = fc.record({ tags: tagQueryArb, range: queryRangeArb, limit: limitArb });

describe('ShardEngine against the naive model', () => {
  test('1. ingest statuses (duplicates, out of order, late, ring eviction) and the held raw set', () => {
    fc.assert(
      fc.property(scenarioArb, ({ limits, events }) => {
        const engine = new ShardEngine(limits);
        const model = new Model(limits);
        events.forEach((e, i) => {
          const want = model.ingest(e).status;
          const got = ingestInto(engine, e);
          if (got !== want) expect.fail(`ingest #${i} ${show(e)}: status ${got}, model ${want}`);
          // the held raw set of the device touched, after every ingest
          const held = JSON.parse(engine.recentJson(e.device, -Infinity, Infinity, 1e9)) as unknown;
          expect(held, `held raw of ${e.device} after ingest #${i}`).toEqual(model.recent(e.device, -Infinity, Infinity, 1e9));
        });
        const stats = engine.stats();
        expect(stats.eventsStored).toBe(events.length - stats.eventsDuplicate);
        expect(stats.rawEvents).toBe(model.devices().reduce((n, d) => n + model.held(d).length, 0));
      }),
      params,
    );
  });

  test('2. recentJson', () => {
    fc.assert(
      fc.property(scenarioArb, fc.array(recentQueryArb, { minLength: 1, maxLength: 6 }), ({ limits, events }, queries) => {
        const { engine, model } = run(limits, events);
        for (const q of queries) {
          const [from, to] = range(q.range, events);
          const got = JSON.parse(engine.recentJson(q.device, from, to, q.limit)) as unknown;
          expect(got, show({ ...q, from, to })).toEqual(model.recent(q.device, from, to, q.limit));
        }
      }),
      queryParams,
    );
  });

  test('2b. recentJson wire format: ISO time with ms and Z, exact key order of the event object', () => {
    fc.assert(
      fc.property(scenarioArb, ({ limits, events }) => {
        const { engine, model } = run(limits, events);
        for (const d of model.devices()) {
          const arr = JSON.parse(engine.recentJson(d, -Infinity, Infinity, 1e9)) as Record<string, unknown>[];
          for (const o of arr) {
            expect(Object.keys(o)).toEqual(['event_id', 'device_id', 'timeStamp', 'metrics', 'tags']);
            expect(o.timeStamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
          }
        }
      }),
      { numRuns: 50 },
    );
  });

  test('3. aggregate at 10s, 1m, 5m, 1h, 1d, 90s and random intervals, per device and across devices', () => {
    fc.assert(
      fc.property(scenarioArb, fc.array(aggregateQueryArb, { minLength: 1, maxLength: 8 }), ({ limits, events }, queries) => {
        const { engine, model } = run(limits, events);
        for (const q of queries) {
          const [from, to] = range(q.range, events);
          const got = engine.aggregate(q.metric, q.device, from, to, q.interval, 1e9);
          expectEngineBucketsMatch(got, model.aggregate(q.metric, q.device, from, to, q.interval), show({ ...q, from, to }));
        }
        // every fixed interval, unbounded, for every metric, all devices and each device
        for (const interval of INTERVALS) {
          for (const metric of METRICS) {
            for (const device of [undefined, ...model.devices()]) {
              const got = engine.aggregate(metric, device, -Infinity, Infinity, interval, 1e9);
              expectEngineBucketsMatch(got, model.aggregate(metric, device, -Infinity, Infinity, interval), { metric, device, interval });
            }
          }
        }
      }),
      queryParams,
    );
  });

  test('3b. aggregate maxBuckets: TOO_MANY_BUCKETS exactly when the answer has more non-empty buckets', () => {
    fc.assert(
      fc.property(scenarioArb, aggregateQueryArb, fc.integer({ min: 0, max: 6 }), ({ limits, events }, q, maxBuckets) => {
        const { engine, model } = run(limits, events);
        const [from, to] = range(q.range, events);
        const want = model.aggregate(q.metric, q.device, from, to, q.interval);
        if (want.length > maxBuckets) {
          expect(() => engine.aggregate(q.metric, q.device, from, to, q.interval, maxBuckets)).toThrow(
            expect.objectContaining({ code: 'TOO_MANY_BUCKETS' }),
          );
        } else {
          expectEngineBucketsMatch(engine.aggregate(q.metric, q.device, from, to, q.interval, maxBuckets), want, show({ ...q, from, to }));
        }
      }),
      queryParams,
    );
  });

  test('4. search, single and multi tag', () => {
    fc.assert(
      fc.property(scenarioArb, fc.array(searchQueryArb, { minLength: 1, maxLength: 6 }), ({ limits, events }, queries) => {
        const { engine, model } = run(limits, events);
        for (const q of queries) {
          const [from, to] = range(q.range, events);
          const got = hitRows(engine.search(q.tags, from, to, q.limit));
          expect(got, show({ ...q, from, to })).toEqual(modelHitRows(model.search(q.tags, from, to, q.limit)));
        }
        for (const tag of TAGS) {
          const got = hitRows(engine.search([tag], -Infinity, Infinity, 1e9));
          expect(got, tag).toEqual(modelHitRows(model.search([tag], -Infinity, Infinity, 1e9)));
        }
      }),
      queryParams,
    );
  });
});

/** Distinct events: at most one per (device, event_id). */
function distinct(events: readonly ModelEvent[]): ModelEvent[] {
  const seen = new Set<string>();
  return events.filter((e) => {
    const k = `${e.device}\u0000${e.id}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

describe('order independence and batches', () => {
  test('5. any permutation of distinct events gives the same answers', () => {
    const scenario = worldArb.chain(({ limits, devices, ids, ts }) =>
      eventsArb(devices, 40, ids, ts)
        .map(distinct)
        .chain((events) =>
          fc
            .tuple(
              fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
              fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
            )
            .map(([p1, p2]) => ({ limits, events, p1, p2 })),
        ),
    );
    fc.assert(
      fc.property(scenario, ({ limits, events, p1, p2 }) => {
        const ordered = [...events].sort((a, b) => a.ts - b.ts);
        const answers = [ordered, p1, p2].map((perm) => {
          const { engine, statuses } = run(limits, perm);
          expect(statuses.every((s) => s === STORED)).toBe(true);
          return allAnswers(engine);
        });
        expectSameAnswers(answers[1], answers[0]);
        expectSameAnswers(answers[2], answers[0]);
      }),
      { numRuns: 200 },
    );
  });

  test('6. Shard.applyBatch gives the same statuses, alerts and state as ingest one by one', () => {
    const scenario = worldArb.chain(({ limits, devices, ids, ts }) =>
      fc.record({
        limits: fc.constant(limits),
        events: eventsArb(devices, 50, ids, ts),
        rules: fc.array(ruleArb(devices), { maxLength: 4 }),
        cuts: fc.array(fc.nat(), { maxLength: 4 }),
      }),
    );
    fc.assert(
      fc.property(scenario, ({ limits, events, rules, cuts }) => {
        const shard = new Shard({ index: 0, limits });
        const engine = new ShardEngine(limits);
        for (const r of rules) {
          shard.engine.rules.add({ ...r });
          engine.rules.add({ ...r });
        }
        // split into consecutive batches at the cut points
        const points = [...new Set(cuts.map((c) => (events.length === 0 ? 0 : c % events.length)))].sort((a, b) => a - b);
        const bounds = [0, ...points, events.length];
        const gotStatuses: number[] = [];
        const gotAlerts: FiredAlert[] = [];
        for (let i = 0; i + 1 < bounds.length; i++) {
          const part = events.slice(bounds[i], bounds[i + 1]);
          const r = shard.applyBatch(buildBatch(part));
          expect(r.statuses.length).toBe(part.length);
          gotStatuses.push(...r.statuses);
          gotAlerts.push(...r.alerts);
        }
        const wantAlerts: FiredAlert[] = [];
        const wantStatuses = events.map((e) => ingestInto(engine, e, wantAlerts));
        expect(gotStatuses).toEqual(wantStatuses);
        expect(gotAlerts).toEqual(wantAlerts);
        // and the same statuses as the model
        const model = new Model(limits);
        expect(gotStatuses).toEqual(events.map((e) => model.ingest(e).status));
        expectSameAnswers(allAnswers(shard.engine), allAnswers(engine));
      }),
      params,
    );
  });

  test('6c. replaying the stored events (no dedup lookups, id indexes built at the end) gives the live state', () => {
    const scenario = worldArb.chain(({ limits, devices, ids, ts }) =>
      fc.record({ limits: fc.constant(limits), events: eventsArb(devices, 60, ids, ts), split: fc.nat() }),
    );
    fc.assert(
      fc.property(scenario, ({ limits, events, split }) => {
        const { engine: live, statuses } = run(limits, events);
        const stored = events.filter((_, i) => statuses[i] === STORED);
        // Part live before the replay (a snapshot's state), the rest replayed, as recovery does.
        const cut = stored.length === 0 ? 0 : split % (stored.length + 1);
        const replayed = new ShardEngine(limits);
        for (const e of stored.slice(0, cut)) ingestInto(replayed, e);
        replayed.beginReplay();
        for (const e of stored.slice(cut)) expect(ingestInto(replayed, e)).toBe(STORED);
        replayed.endReplay();
        // The id indexes are built between tasks (indexIds) or by a device's next event, whichever
        // comes first: half the runs leave them all to the events.
        if (split % 2 === 0) expect(replayed.indexIds()).toBe(false);
        expectSameAnswers(allAnswers(replayed), allAnswers(live));
        // The dedup window is whole again: every event is a duplicate exactly when it is live.
        for (const e of events) {
          const probe = { ...e };
          expect(ingestInto(replayed, probe)).toBe(ingestInto(live, probe));
        }
        expect(replayed.takeIdRepeats()).toBe(0);
      }),
      params,
    );
  });

  test('6b. a repeat inside one batch is a duplicate', () => {
    fc.assert(
      fc.property(eventArb(['d0']), tsArb, (e, ts2) => {
        const shard = new Shard({ index: 0, limits: { ringCapacity: 4, rawRetentionMs: 1e12, rollupRetentionMs: 1e12 } });
        const r = shard.applyBatch(buildBatch([e, { ...e, ts: ts2, metrics: [['a', 42]] }]));
        expect([...r.statuses]).toEqual([STORED, DUPLICATE]);
      }),
      { numRuns: 50 },
    );
  });
});

describe('alerts', () => {
  test('7. fired alerts match the model (rules added, replaced and removed between ingests)', () => {
    type Op = { kind: 'ingest'; e: ModelEvent } | { kind: 'add'; rule: AlertRule } | { kind: 'remove'; id: number };
    const scenario = worldArb.chain(({ limits, devices, ids, ts }) =>
      fc.record({
        limits: fc.constant(limits),
        ops: fc.array(
          fc.oneof(
            { weight: 6, arbitrary: eventArb(devices, ids, ts).map((e): Op => ({ kind: 'ingest', e })) },
            {
              weight: 2,
              arbitrary: fc
                .tuple(ruleArb(devices), fc.option(fc.constantFrom('http://h/cb', 'http://h/other'), { nil: undefined }))
                .map(([rule, cb]): Op => ({ kind: 'add', rule: cb === undefined ? rule : { ...rule, callback_url: cb } })),
            },
            { weight: 1, arbitrary: fc.integer({ min: 1, max: 5 }).map((id): Op => ({ kind: 'remove', id })) },
          ),
          { maxLength: 50, size: 'max' },
        ),
      }),
    );
    fc.assert(
      fc.property(scenario, ({ limits, ops }) => {
        const engine = new ShardEngine(limits);
        const model = new Model(limits);
        ops.forEach((op, i) => {
          if (op.kind === 'add') {
            engine.rules.add({ ...op.rule });
            model.addRule({ ...op.rule });
          } else if (op.kind === 'remove') {
            expect(engine.rules.remove(op.id)).toBe(model.removeRule(op.id));
          } else {
            const alerts: FiredAlert[] = [];
            const got = ingestInto(engine, op.e, alerts);
            const want = model.ingest(op.e);
            expect(got, `op #${i}`).toBe(want.status);
            expect(byAlertId(alerts), `op #${i} ${show(op.e)}`).toEqual(byAlertId(want.alerts));
          }
          expect(engine.rules.list()).toEqual([...model.rules.values()].sort((a, b) => a.id - b.id));
        });
      }),
      params,
    );
  });
});
