// Fuzzing the real server process with fast-check: random and mutated bodies, query strings, paths,
// methods and headers must never give a 500 (nor kill the process), and a model-based property checks
// that batches mixing valid and invalid events are answered, and stored, exactly as the contract says.
import { connect } from 'node:net';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './server.js';

// Small limits so that 413s are cheap to reach; a short body timeout so that a body that never
// arrives (a Content-Length larger than what is sent) is answered quickly.
const MAX_BODY_BYTES = 65_536;
const MAX_BATCH_BODY_BYTES = 262_144;
const BODY_TIMEOUT_MS = 1000;
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const fcOpts = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: false });

let server: RunningServer;
let base: string;

beforeAll(async () => {
  server = await startServer({
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    MAX_BATCH_BODY_BYTES: String(MAX_BATCH_BODY_BYTES),
    BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
    FSYNC: 'never',
  });
  base = server.url;
});

afterAll(async () => {
  await server?.stop();
});

// ---------------------------------------------------------------------------------------------
// HTTP clients

interface Answer {
  status: number;
  contentType: string;
  allow: string | null;
  text: string;
}

/** fetch (undici keeps connections alive); an event stream is not read, only its head. */
async function send(method: string, path: string, body?: string | Uint8Array, contentType?: string): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (contentType !== undefined) headers['Content-Type'] = contentType;
  const init: RequestInit = { method, headers };
  // A string body would get text/plain from fetch; bytes get no Content-Type at all.
  if (body !== undefined) init.body = typeof body === 'string' ? Buffer.from(body) : body;
  const r = await fetch(base + path, init);
  const ct = r.headers.get('content-type') ?? '';
  if (ct.startsWith('text/event-stream')) {
    await r.body?.cancel();
    return { status: r.status, contentType: ct, allow: r.headers.get('allow'), text: '' };
  }
  return { status: r.status, contentType: ct, allow: r.headers.get('allow'), text: await r.text() };
}

const isJson = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

async function expectAlive(): Promise<void> {
  const h = await fetch(`${base}/healthz`);
  expect(h.status).toBe(200);
  await h.text();
  expect(server.proc.exitCode).toBeNull();
}

interface RawAnswer {
  status?: number;
  head: string;
  body: Buffer;
  /** The server closed the connection. */
  closed: boolean;
  timedOut: boolean;
}

/**
 * Sends bytes on a fresh socket and reads the first response: its head, and its body as far as
 * Content-Length (or the chunked terminator) says; an event stream only to its head.
 */
function rawExchange(port: number, bytes: Buffer, timeoutMs = 5000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (a: Omit<RawAnswer, 'head' | 'body' | 'status'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const k = buf.indexOf('\r\n\r\n');
      const head = k === -1 ? buf.toString('latin1') : buf.subarray(0, k).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      const out: RawAnswer = { ...a, head, body: k === -1 ? Buffer.alloc(0) : buf.subarray(k + 4) };
      if (m) out.status = Number(m[1]);
      resolve(out);
    };
    const timer = setTimeout(() => finish({ closed: false, timedOut: true }), timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const k = buf.indexOf('\r\n\r\n');
      if (k === -1) return;
      const head = buf.subarray(0, k).toString('latin1');
      const body = buf.subarray(k + 4);
      if (/\r\ncontent-type: *text\/event-stream/i.test(head)) return finish({ closed: false, timedOut: false });
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (cl && body.length >= Number(cl[1])) return finish({ closed: false, timedOut: false });
      if (/\r\ntransfer-encoding: *chunked/i.test(head) && body.includes('0\r\n\r\n')) return finish({ closed: false, timedOut: false });
      if (!cl && !/\r\ntransfer-encoding/i.test(head)) return finish({ closed: false, timedOut: false });
    });
    socket.on('error', () => finish({ closed: true, timedOut: false }));
    socket.on('close', () => finish({ closed: true, timedOut: false }));
  });
}

// ---------------------------------------------------------------------------------------------
// JSON-ish values with control over the exact text: raw number tokens (1e999, -0, 1e-400), objects
// with any keys in any order (__proto__ included, as JSON.parse would make them: own properties).

class Raw {
  constructor(
    readonly text: string,
    readonly js: unknown,
  ) {}
}
class Obj {
  constructor(public entries: [string, J][] = []) {}
  get(k: string): J | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]![0] === k) return this.entries[i]![1];
    return undefined;
  }
  with(k: string, v: J): Obj {
    const i = this.entries.findIndex(([x]) => x === k);
    const entries = [...this.entries];
    if (i === -1) entries.push([k, v]);
    else entries[i] = [k, v];
    return new Obj(entries);
  }
  without(k: string): Obj {
    return new Obj(this.entries.filter(([x]) => x !== k));
  }
  toJSON(): unknown {
    return Object.fromEntries(this.entries);
  }
}
type J = null | boolean | number | string | Raw | Obj | J[];

function toJson(v: J): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Obj) return '{' + v.entries.map(([k, x]) => JSON.stringify(k) + ':' + toJson(x)).join(',') + '}';
  if (Array.isArray(v)) return '[' + v.map(toJson).join(',') + ']';
  return JSON.stringify(v);
}

/** For msgpack: objects become Maps (so a `__proto__` key is written as a key like any other). */
function toJs(v: J): unknown {
  if (v instanceof Raw) return v.js;
  if (v instanceof Obj) return new Map(v.entries.map(([k, x]) => [k, toJs(x)]));
  if (Array.isArray(v)) return v.map(toJs);
  return v;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: false });

// ---------------------------------------------------------------------------------------------
// Valid events, with what the service must store for them

const BASE_MS = Date.UTC(2025, 0, 15, 10);
const DEVICE_POOL = ['devA', 'dév B', 'd/3', 'emoji😀', 'x%41y'];
const EVENT_POOL = ['e1', 'e2', 'e3', 'E1', 'é', 'e 5', '😀', 'a/b', '%41', 'e10', 'z"q', 'b\\s'];
const METRIC_NAMES = ['temp', 'cpu', 'a b', 'ü', '😀', '1', '0', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'isPrototypeOf', 'm'.repeat(128)];
const TAGS = ['room:101', 'sensor:v2', 'ü', '😀', 'a b', 'x', 'X', 't'.repeat(256)];

interface Expected {
  event_id: string;
  ms: number;
  metrics: [string, number][];
  tags: string[];
}

interface EventSpec {
  device: number;
  eventId: string;
  node: (deviceId: string) => Obj;
  expected: Expected;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** A timestamp in one of the accepted spellings, and the ms it stands for. */
const timeArb: fc.Arbitrary<{ j: J; ms: number }> = fc
  .tuple(
    fc.oneof(fc.integer({ min: 0, max: 30 }).map((k) => BASE_MS + k * 60_000), fc.integer({ min: BASE_MS, max: BASE_MS + 3_600_000 })),
    fc.constantFrom('isoZ', 'isoNoOffset', 'isoOffset', 'isoMicro', 'isoSpace', 'isoLowerZ', 'epoch', 'epochFraction', 'epochExp'),
    fc.integer({ min: -14 * 60, max: 14 * 60 }),
  )
  .map(([ms, fmt, off]) => {
    const iso = new Date(ms).toISOString();
    switch (fmt) {
      case 'isoZ':
        return { j: iso, ms };
      case 'isoNoOffset':
        return { j: iso.slice(0, -1), ms };
      case 'isoOffset': {
        const local = new Date(ms + off * 60_000).toISOString().slice(0, 23);
        const a = Math.abs(off);
        return { j: `${local}${off < 0 ? '-' : '+'}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`, ms };
      }
      case 'isoMicro':
        return { j: iso.slice(0, -1) + '987Z', ms };
      case 'isoSpace':
        return { j: iso.replace('T', ' '), ms };
      case 'isoLowerZ':
        return { j: iso.slice(0, -1) + 'z', ms };
      case 'epoch':
        return { j: ms, ms };
      case 'epochFraction':
        return { j: new Raw(`${ms}.75`, ms + 0.75), ms };
      default:
        return { j: new Raw(`${ms}E0`, ms), ms };
    }
  });

const RAW_VALUES: [string, number][] = [
  ['-0', -0],
  ['1e-400', 0],
  ['1E2', 100],
  ['0.1e1', 1],
  ['-1e308', -1e308],
  ['5e-324', 5e-324],
  ['123456789012345678901234567890', 123456789012345678901234567890],
  ['1.7976931348623157e308', 1.7976931348623157e308],
  ['2.5e+3', 2500],
  ['9007199254740993', 9007199254740993],
];

const metricValueArb: fc.Arbitrary<{ j: J; v: number }> = fc.oneof(
  fc.integer({ min: -1_000_000, max: 1_000_000 }).map((v) => ({ j: v, v })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => ({ j: v, v })),
  fc.constantFrom(...RAW_VALUES).map(([t, v]) => ({ j: new Raw(t, v), v })),
);

const validEventArb: fc.Arbitrary<EventSpec> = fc
  .record({
    device: fc.integer({ min: 0, max: DEVICE_POOL.length - 1 }),
    eventId: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...EVENT_POOL) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 6, unit: fc.constantFrom('a', 'b', 'é', '😀', ' ', '/', '?', '#', '&') }) }),
    time: timeArb,
    metrics: fc.uniqueArray(fc.tuple(fc.constantFrom(...METRIC_NAMES), metricValueArb), { maxLength: 4, selector: ([n]) => n }),
    tags: fc.option(fc.array(fc.constantFrom(...TAGS), { maxLength: 5 }), { nil: undefined }),
    extra: fc.option(fc.constantFrom('extra', 'note'), { nil: undefined }),
    order: fc.boolean(),
  })
  .map(({ device, eventId, time, metrics, tags, extra, order }) => {
    const expected: Expected = {
      event_id: eventId,
      ms: time.ms,
      metrics: metrics.map(([n, mv]) => [n, mv.v === 0 ? 0 : mv.v]),
      tags: tags === undefined ? [] : [...new Set(tags)],
    };
    const node = (deviceId: string) => {
      const entries: [string, J][] = [
        ['event_id', eventId],
        ['device_id', deviceId],
        ['timeStamp', time.j],
        ['metrics', new Obj(metrics.map(([n, mv]) => [n, mv.j]))],
      ];
      if (tags !== undefined) entries.push(['tags', tags]);
      if (extra !== undefined) entries.push([extra, 'ignored']);
      if (order) entries.reverse();
      return new Obj(entries);
    };
    return { device, eventId, node, expected };
  });

// ---------------------------------------------------------------------------------------------
// Mutations that make an event invalid, each one certainly (the model relies on it)

const metricsOf = (e: Obj): Obj => {
  const m = e.get('metrics');
  return m instanceof Obj ? m : new Obj();
};
const withMetric = (e: Obj, name: string, v: J): Obj => e.with('metrics', metricsOf(e).with(name, v));
const tagsOf = (e: Obj): J[] => {
  const t = e.get('tags');
  return Array.isArray(t) ? t : [];
};

const INVALIDATE: Record<string, (e: Obj) => J> = {
  'drop event_id': (e) => e.without('event_id'),
  'drop device_id': (e) => e.without('device_id'),
  'drop timeStamp': (e) => e.without('timeStamp'),
  'drop metrics': (e) => e.without('metrics'),
  'event_id empty': (e) => e.with('event_id', ''),
  'event_id 129 chars': (e) => e.with('event_id', 'i'.repeat(129)),
  'event_id control char': (e) => e.with('event_id', `${e.get('event_id') as string}\u0007`),
  'event_id DEL': (e) => e.with('event_id', `\u007f${e.get('event_id') as string}`),
  'event_id lone surrogate': (e) => e.with('event_id', `\ud800${e.get('event_id') as string}`),
  'event_id number': (e) => e.with('event_id', 42),
  'event_id null': (e) => e.with('event_id', null),
  'device_id empty': (e) => e.with('device_id', ''),
  'device_id newline': (e) => e.with('device_id', `${e.get('device_id') as string}\n`),
  'device_id lone low surrogate': (e) => e.with('device_id', `x\udc00`),
  'device_id array': (e) => e.with('device_id', [e.get('device_id') as string]),
  'timeStamp Feb 30': (e) => e.with('timeStamp', '2025-02-30T00:00:00'),
  'timeStamp hour 24': (e) => e.with('timeStamp', '2025-01-15T24:00:00'),
  'timeStamp words': (e) => e.with('timeStamp', 'yesterday'),
  'timeStamp bool': (e) => e.with('timeStamp', true),
  'timeStamp 1e999': (e) => e.with('timeStamp', new Raw('1e999', Infinity)),
  'timeStamp past Date range': (e) => e.with('timeStamp', 8.64e15 + 1),
  'timeStamp empty': (e) => e.with('timeStamp', ''),
  'timeStamp object': (e) => e.with('timeStamp', new Obj([['t', 1]])),
  'metrics null': (e) => e.with('metrics', null),
  'metrics array': (e) => e.with('metrics', [1, 2]),
  'metrics string': (e) => e.with('metrics', 'temp=1'),
  'metric 1e999': (e) => withMetric(e, 'temp', new Raw('1e999', Infinity)),
  'metric -1e999': (e) => withMetric(e, 'cpu', new Raw('-1e999', -Infinity)),
  'metric string': (e) => withMetric(e, 'temp', '1'),
  'metric null': (e) => withMetric(e, 'temp', null),
  'metric bool': (e) => withMetric(e, 'temp', false),
  'metric object': (e) => withMetric(e, 'temp', new Obj([['v', 1]])),
  'metric __proto__': (e) => withMetric(e, '__proto__', 1),
  'metric __proto__ object': (e) => withMetric(e, '__proto__', new Obj([['polluted', 1]])),
  'metric constructor': (e) => withMetric(e, 'constructor', 1),
  'metric prototype': (e) => withMetric(e, 'prototype', 2),
  'metric empty name': (e) => withMetric(e, '', 1),
  'metric name with tab': (e) => withMetric(e, 'a\tb', 1),
  'metric name lone surrogate': (e) => withMetric(e, '\udfff', 1),
  'metric name 129 chars': (e) => withMetric(e, 'n'.repeat(129), 1),
  '65 metrics': (e) => e.with('metrics', new Obj(Array.from({ length: 65 }, (_, i) => [`k${i}`, i] as [string, J]))),
  'tags string': (e) => e.with('tags', 'room:101'),
  'tags [1]': (e) => e.with('tags', [1]),
  'tags [""]': (e) => e.with('tags', ['']),
  'tag with NUL': (e) => e.with('tags', [...tagsOf(e), 'a\u0000b']),
  'tag lone surrogate': (e) => e.with('tags', [...tagsOf(e), 'ok\ud800']),
  '33 tags': (e) => e.with('tags', Array.from({ length: 33 }, (_, i) => `t${i}`)),
  'tag 257 chars': (e) => e.with('tags', ['t'.repeat(257)]),
  'tags null': (e) => e.with('tags', null),
  'event null': () => null,
  'event number': () => 7,
  'event string': (e) => toJson(e),
  'event array': (e) => [e],
};

/** The event_id the service echoes for an invalid event: its event_id when that is a string. */
const echoOf = (v: J): string | null => {
  if (!(v instanceof Obj)) return null;
  const id = v.get('event_id');
  return typeof id === 'string' ? id : null;
};

type Item = { kind: 'valid'; spec: EventSpec } | { kind: 'invalid'; spec: EventSpec; mutation: string };

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  { weight: 3, arbitrary: validEventArb.map((spec): Item => ({ kind: 'valid', spec })) },
  { weight: 1, arbitrary: fc.tuple(validEventArb, fc.constantFrom(...Object.keys(INVALIDATE))).map(([spec, mutation]): Item => ({ kind: 'invalid', spec, mutation })) },
);

const nodeOf = (item: Item, deviceId: string): J => (item.kind === 'valid' ? item.spec.node(deviceId) : INVALIDATE[item.mutation]!(item.spec.node(deviceId)));

// ---------------------------------------------------------------------------------------------
// 1. Random and mutated bodies

/** Any-shape mutations for the body fuzz (no model: validity is not predicted). */
const nested = (depth: number, leaf: unknown, wrap: (x: unknown) => unknown): unknown => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = wrap(v);
  return v;
};
const deepArray = (depth: number): Raw => new Raw('['.repeat(depth) + ']'.repeat(depth), nested(depth - 1, [], (x) => [x]));
const deepObject = (depth: number): Raw => new Raw('{"a":'.repeat(depth) + '1' + '}'.repeat(depth), nested(depth, 1, (x) => new Map([['a', x]])));

const FREE_MUTATIONS: Record<string, (e: Obj, n: number) => J> = {
  ...Object.fromEntries(Object.entries(INVALIDATE).map(([k, f]) => [k, (e: Obj) => f(e)])),
  'top-level __proto__': (e) => new Obj([['__proto__', new Obj([['event_id', 'polluted'], ['isAdmin', true]])], ...e.entries]),
  'top-level constructor': (e) => e.with('constructor', new Obj([['prototype', new Obj([['x', 1]])]])),
  'top-level prototype': (e) => e.with('prototype', 1),
  'metrics __proto__ first': (e) => e.with('metrics', new Obj([['__proto__', new Obj([['temp', 1]])], ['temp', 2]])),
  'duplicate keys': (e) => new Obj([...e.entries, ['event_id', 5], ['event_id', 'again']]),
  'deep array in metric': (e, n) => withMetric(e, 'temp', deepArray(1 + (n % 5000))),
  'deep object in tags': (e, n) => e.with('tags', [deepObject(1 + (n % 3000))]),
  'deep array as event': (_e, n) => deepArray(1 + (n % 20_000)),
  'huge tag': (e, n) => e.with('tags', ['h'.repeat(1000 + n * 40)]),
  'huge event_id': (e, n) => e.with('event_id', 'i'.repeat(100 + n * 20)),
  'many metrics': (e, n) => e.with('metrics', new Obj(Array.from({ length: 1 + (n % 2000) }, (_, i) => [`m${i}`, i] as [string, J]))),
  'many tags': (e, n) => e.with('tags', Array.from({ length: 1 + (n % 2000) }, (_, i) => `t${i}`)),
  'emoji everywhere': (e) => e.with('event_id', '😀'.repeat(64)).with('device_id', '👩‍👩‍👧‍👦').with('tags', ['🏳️‍🌈']),
  'emoji past id limit': (e) => e.with('event_id', '😀'.repeat(65)),
  'escaped lone surrogates': (e) => e.with('event_id', new Raw('"\\ud800\\udbff\\udc00x"', undefined)),
  'escaped NUL': (e) => e.with('device_id', new Raw('"a\\u0000b"', undefined)),
  'bad escape': (e) => e.with('device_id', new Raw('"a\\xb"', undefined)),
  'raw control in string': (e) => e.with('device_id', new Raw('"a\u0001b"', undefined)),
  'NaN token': (e) => withMetric(e, 'temp', new Raw('NaN', NaN)),
  'Infinity token': (e) => withMetric(e, 'temp', new Raw('Infinity', Infinity)),
  'hex number': (e) => withMetric(e, 'temp', new Raw('0x10', 16)),
  'leading zero': (e) => withMetric(e, 'temp', new Raw('007', 7)),
  'plus sign': (e) => withMetric(e, 'temp', new Raw('+1', 1)),
  'dot number': (e) => withMetric(e, 'temp', new Raw('.5', 0.5)),
  'huge exponent time': (e) => e.with('timeStamp', new Raw('1e400', Infinity)),
  'negative time': (e) => e.with('timeStamp', -8.64e15),
  'fractional negative time': (e) => e.with('timeStamp', new Raw('-1.5', -1.5)),
  '-0 time': (e) => e.with('timeStamp', new Raw('-0', -0)),
  'tiny time': (e) => e.with('timeStamp', new Raw('1e-400', 0)),
  'year 0': (e) => e.with('timeStamp', '0000-01-01T00:00:00Z'),
  'year 9999 offset': (e) => e.with('timeStamp', '9999-12-31T23:59:59.999-23:59'),
  'year 275760': (e) => e.with('timeStamp', '275760-09-13T00:00:00Z'),
  'leap day': (e) => e.with('timeStamp', '2024-02-29T12:00:00+14:00'),
  'time 40+ chars': (e) => e.with('timeStamp', '2025-01-15T10:00:00.123456789012345678901234567890Z'),
  'bigint-like metric': (e) => withMetric(e, 'temp', new Raw('1' + '0'.repeat(400), Infinity)),
  'long fraction metric': (e) => withMetric(e, 'temp', new Raw('0.' + '3'.repeat(2000), 1 / 3)),
  'metric -0': (e) => withMetric(e, 'temp', new Raw('-0', -0)),
  'metric 1e-400': (e) => withMetric(e, 'temp', new Raw('1e-400', 0)),
  'BOM before': (e) => new Raw('\ufeff' + toJson(e), undefined),
  'trailing comma': (e) => new Raw(toJson(e).slice(0, -1) + ',}', undefined),
  'comment': (e) => new Raw('/* x */' + toJson(e), undefined),
};

type Payload =
  | { kind: 'events'; items: { base: EventSpec; mutations: [string, number][] }[]; single: boolean }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'text'; text: string };

const payloadArb: fc.Arbitrary<Payload> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('events' as const),
      items: fc.array(
        fc.record({
          base: validEventArb,
          mutations: fc.array(fc.tuple(fc.constantFrom(...Object.keys(FREE_MUTATIONS)), fc.nat({ max: 5000 })), { maxLength: 3 }),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      single: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes): Payload => ({ kind: 'bytes', bytes })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 200, unit: 'binary' }),
        fc.constantFrom('', ' ', 'null', '[]', '{}', '[null]', '[[]]', '[{}]', '"x"', '1e999', '-0', 'true', '\n\n\n', '[' .repeat(50_000), '{"a":'.repeat(10_000), '\ud800', '"\\ud800"', '[1,]', '\u0000'),
        fc.json({ maxDepth: 4 }),
      )
      .map((text): Payload => ({ kind: 'text', text })),
  },
);

type ContentType = 'application/json' | 'application/x-ndjson' | 'application/msgpack' | 'text/plain' | 'none' | 'garbage';
const contentTypeArb = fc.constantFrom<ContentType>('application/json', 'application/x-ndjson', 'application/msgpack', 'text/plain', 'none', 'garbage');

type BodyMutation = { kind: 'none' } | { kind: 'truncate'; at: number } | { kind: 'flip'; at: number; byte: number } | { kind: 'splice'; at: number; bytes: Uint8Array };
const bodyMutationArb: fc.Arbitrary<BodyMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<BodyMutation>({ kind: 'none' }) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((at): BodyMutation => ({ kind: 'truncate', at })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.nat({ max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('splice' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
);

function encodeBody(p: Payload, encoding: 'json' | 'ndjson' | 'msgpack'): { bytes: Buffer; events: number | undefined } {
  if (p.kind === 'bytes') return { bytes: Buffer.from(p.bytes), events: undefined };
  if (p.kind === 'text') return { bytes: Buffer.from(p.text), events: undefined };
  const nodes = p.items.map(({ base, mutations }) => {
    let v: J = base.node(`fz-${DEVICE_POOL[base.device]!}`);
    for (const [name, n] of mutations) v = v instanceof Obj ? FREE_MUTATIONS[name]!(v, n) : v;
    return v;
  });
  if (encoding === 'msgpack') {
    try {
      return { bytes: Buffer.from(packr.pack(toJs(p.single ? nodes[0]! : nodes))), events: p.single ? 1 : nodes.length };
    } catch {
      return { bytes: Buffer.from(toJson(nodes)), events: undefined }; // a value msgpack cannot write
    }
  }
  if (encoding === 'ndjson') return { bytes: Buffer.from(nodes.map(toJson).join('\n') + '\n'), events: nodes.length };
  return { bytes: Buffer.from(toJson(p.single ? nodes[0]! : nodes)), events: p.single ? 1 : nodes.length };
}

function mutateBytes(b: Buffer, m: BodyMutation): Buffer {
  const at = (f: number) => Math.min(b.length, Math.floor(f * b.length));
  switch (m.kind) {
    case 'none':
      return b;
    case 'truncate':
      return b.subarray(0, at(m.at));
    case 'flip': {
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      c[Math.min(c.length - 1, at(m.at))] = m.byte;
      return c;
    }
    case 'splice':
      return Buffer.concat([b.subarray(0, at(m.at)), Buffer.from(m.bytes), b.subarray(at(m.at))]);
  }
}

const ALLOWED_BODY_STATUSES = [200, 413, 415, 422];

describe('fuzzing request bodies', () => {
  it('POST /v1/events and /v1/events/batch never answer 500; always 200/413/415/422 with a JSON body; the server stays up', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('single', 'batch'),
        fc.constantFrom(undefined, 'true', 'false', '1', '0', 'yes', '', 'TRUE', '%zz'),
        contentTypeArb,
        fc.oneof({ weight: 3, arbitrary: fc.constant('match' as const) }, { weight: 1, arbitrary: fc.constantFrom('json' as const, 'ndjson' as const, 'msgpack' as const) }),
        payloadArb,
        bodyMutationArb,
        async (route, partial, contentType, enc, payload, bodyMutation) => {
          const encoding = enc !== 'match' ? enc : contentType === 'application/x-ndjson' ? 'ndjson' : contentType === 'application/msgpack' ? 'msgpack' : 'json';
          const { bytes: encoded, events } = encodeBody(payload, encoding);
          const bytes = mutateBytes(encoded, bodyMutation);
          const path = route === 'single' ? '/v1/events' : `/v1/events/batch${partial === undefined ? '' : `?partial=${partial}`}`;
          const ct = contentType === 'none' ? undefined : contentType === 'garbage' ? 'x/y;;; charset=' : contentType;
          const limit = route === 'single' ? MAX_BODY_BYTES : MAX_BATCH_BODY_BYTES;
          let a: Answer;
          try {
            a = await send('POST', path, new Uint8Array(bytes), ct);
          } catch (e) {
            // A 413 may close the connection while an oversized body is still going out.
            if (bytes.length > limit) return;
            throw e;
          }
          seen.set(a.status, (seen.get(a.status) ?? 0) + 1);
          expect(ALLOWED_BODY_STATUSES, `status ${a.status}: ${a.text.slice(0, 500)}`).toContain(a.status);
          expect(isJson(a.text), `body is not JSON: ${a.text.slice(0, 500)}`).toBe(true);
          if (a.status === 413) expect(bytes.length).toBeGreaterThan(limit);
          const body = JSON.parse(a.text);
          if (a.status === 422) {
            expect(Array.isArray(body.detail) || typeof body.detail === 'string').toBe(true);
            if (Array.isArray(body.detail)) for (const d of body.detail) expect(d).toMatchObject({ loc: expect.any(Array), msg: expect.any(String), type: expect.any(String) });
          }
          if (a.status === 200) {
            if (route === 'single') expect(['{"status":"ok"}', '{"status":"duplicate"}']).toContain(a.text);
            else {
              expect(Array.isArray(body)).toBe(true);
              // One answer per event when the body is what its Content-Type says: a JSON array sent as
              // NDJSON is one line, one (invalid) item.
              const declared = contentType === 'application/x-ndjson' ? 'ndjson' : contentType === 'application/msgpack' ? 'msgpack' : 'json';
              if (bodyMutation.kind === 'none' && encoding === declared && events !== undefined && payload.kind === 'events' && !payload.single) expect(body).toHaveLength(events);
              for (const s of body) {
                expect(['stored', 'duplicate', 'invalid']).toContain(s.status);
                if (partial !== 'true' && partial !== '1') expect(s.status).not.toBe('invalid');
              }
            }
          }
          await expectAlive();
        },
      ),
      fcOpts(500),
    );
    // The generators reach every kind of answer (a guard against a fuzzer that only makes 422s).
    for (const status of [200, 413, 422]) expect(seen.get(status) ?? 0, `answers by status: ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    // Nothing reached an object prototype in the service: a stored event still reads back plainly.
    const r = await send('GET', `/v1/devices/${encodeURIComponent('fz-devA')}/events?limit=1`);
    expect(r.status).toBe(200);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// 2. Query strings, paths and methods

const QUERY_KEYS = ['from_time', 'to_time', 'limit', 'metric', 'device_id', 'interval', 'tag', 'last_event_id', 'partial', '', '%zz', '%ff', 'limit%00', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'LIMIT', 'tag[]'];
const QUERY_VALUES = [
  '', '1', '0', '-1', '10000', '10001', '1e3', '1e999', 'NaN', 'Infinity', '-Infinity', '9999999999999999999999', '0x10', ' 5', '5 ', '1.5', '-0',
  '2025-01-15T10:00:00', '2025-01-15T10:00:00Z', '2025-01-15T10:00:00%2B02:00', '2025-01-15T10:00:00+02:00', '2025-01-15', '2025-13-01', '2025-02-29',
  '1736935200000', '-8640000000000001', '8640000000000000', '99999999999999999', '0000-01-01', '+275760-09-13T00:00:00Z',
  '1m', '0m', '10s', '1s', '1d', '1h', '1w', '999999999d', '1000000000s', '1M', '5 m', '5%20m', 'm', '-1m', '1.5m', '01m', '36600d', '36601d',
  '%zz', '%ff', '%', '%e2%82', '%e2%82%ac', '%00', '%0a', '%0d%0a', '%2B', '+', '%25', '%26', '%3D', '😀', '%F0%9F%98%80', '%ed%a0%80', '%c0%af',
  'temp', 'cpu', '__proto__', 'constructor', 'prototype', 'room:101', 'fz-devA', 'x'.repeat(300), 'true',
];

const queryPartArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.constantFrom(...QUERY_VALUES)).map(([k, v]) => `${k}=${v}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 12 })).map(([k, v]) => `${k}=${encodeURIComponent(v)}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 12, unit: fc.constantFrom('%', 'z', 'f', 'F', '0', '=', '+', '&', ';', 'a') })).map(([k, v]) => `${k}=${v}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '&', '=', '==', '&&&', 'limit', 'tag', '%', '?', ';', 'a=b=c') },
);
const queryArb = fc.array(queryPartArb, { maxLength: 8 }).map((parts) => parts.join('&'));

describe('fuzzing query strings', () => {
  it('GET /v1/devices/{id}/events, /v1/metrics/aggregate, /v1/search, /v1/alerts/stream: never 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('recent', 'aggregate', 'search', 'stream'),
        fc.oneof(fc.constantFrom(...DEVICE_POOL.map((d) => encodeURIComponent(`fz-${d}`)), '%zz', '%ff', '%e2%82', '%00', 'a%2Fb', '~', '😀'), fc.string({ minLength: 1, maxLength: 10 }).map(encodeURIComponent).filter((s) => s !== '.' && s !== '..')),
        queryArb,
        async (route, device, query) => {
          const path =
            route === 'recent' ? `/v1/devices/${device}/events` : route === 'aggregate' ? '/v1/metrics/aggregate' : route === 'search' ? '/v1/search' : '/v1/alerts/stream';
          const a = await send('GET', `${path}?${query}`);
          const allowed = route === 'recent' ? [200, 404, 422] : [200, 422];
          expect(allowed, `GET ${path}?${query} -> ${a.status} ${a.text.slice(0, 300)}`).toContain(a.status);
          if (route === 'stream' && a.status === 200) expect(a.contentType).toMatch(/^text\/event-stream/);
          else {
            expect(isJson(a.text), `not JSON: ${a.text.slice(0, 300)}`).toBe(true);
            if (a.status === 200) expect(Array.isArray(JSON.parse(a.text))).toBe(true);
          }
          await expectAlive();
        },
      ),
      fcOpts(300),
    );
  }, 120_000);
});

const ROUTES: { method: string; re: RegExp }[] = [
  { method: 'POST', re: /^\/v1\/events$/ },
  { method: 'POST', re: /^\/v1\/events\/batch$/ },
  { method: 'GET', re: /^\/v1\/devices\/[^/]+\/events$/ },
  { method: 'GET', re: /^\/v1\/metrics\/aggregate$/ },
  { method: 'GET', re: /^\/v1\/search$/ },
  { method: 'POST', re: /^\/v1\/alerts$/ },
  { method: 'GET', re: /^\/v1\/alerts$/ },
  { method: 'DELETE', re: /^\/v1\/alerts\/[^/]+$/ },
  { method: 'GET', re: /^\/v1\/alerts\/stream$/ },
  // Dot segments can lead out of /v1.
  { method: 'GET', re: /^\/metrics$/ },
  { method: 'GET', re: /^\/healthz$/ },
  { method: 'GET', re: /^\/readyz$/ },
  { method: 'GET', re: /^\/openapi\.json$/ },
  { method: 'GET', re: /^\/docs$/ },
  { method: 'GET', re: /^\/docs\/[^/]+$/ },
];

const SEGMENTS = ['v1', 'events', 'batch', 'devices', 'metrics', 'aggregate', 'search', 'alerts', 'stream', 'x', '1', '0', '99999999999999999999', '', '..', '.', '%2e%2e', '%2F', '%zz', '%ff', '😀', 'Events', 'V1', '_test', 'healthz', '*', ':id'];

describe('fuzzing paths and methods', () => {
  it('random paths under /v1 and standard methods: never 500; unknown routes 404, wrong methods 405 (with Allow)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
        fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SEGMENTS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }).map(encodeURIComponent) }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        async (method, segments, trailingSlash) => {
          const raw = '/v1/' + segments.join('/') + (trailingSlash ? '/' : '');
          const pathname = new URL(raw, base).pathname; // what fetch sends (dot segments resolved)
          const matching = ROUTES.filter((r) => r.re.test(pathname));
          // POST routes get a small JSON body; an event stream is only opened (its head read).
          const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? '{}' : undefined;
          const a = await send(method, raw, body, body === undefined ? undefined : 'application/json');
          const what = `${method} ${pathname} -> ${a.status} ${a.text.slice(0, 300)}`;
          expect(a.status, what).not.toBe(500);
          expect(a.status, what).toBeLessThan(500);
          if (matching.length === 0) {
            expect(a.status, what).toBe(404);
          } else if (!matching.some((r) => r.method === method)) {
            expect(a.status, what).toBe(405);
            expect(a.allow?.split(/, */).sort(), what).toEqual([...new Set(matching.map((r) => r.method))].sort());
          } else {
            expect(a.status, what).not.toBe(405);
          }
          if (method !== 'HEAD' && a.contentType.startsWith('application/json')) expect(isJson(a.text), what).toBe(true);
          if (a.status === 404 || a.status === 405) expect(a.contentType, what).toMatch(/^application\/json/);
          await expectAlive();
        },
      ),
      fcOpts(250),
    );
  }, 120_000);

  // uWebSockets.js v20.30 drops the connection of a request whose method it does not know before
  // any route sees it (README, Known limitations): such a request must never be served, nor hurt
  // the service. The standard methods get 405 with Allow (tested above).
  it('an extension method (FOO, PROPFIND, lowercase get) is never served: the connection closes, nothing is stored, the service goes on', async () => {
    for (const method of ['FOO', 'PROPFIND', 'get', 'Post', 'BREW']) {
      const body = JSON.stringify({ event_id: `ext-${method}`, device_id: 'ext-method', timeStamp: 1_736_935_200_000, metrics: { v: 1 } });
      const a = await rawExchange(server.port, Buffer.from(`${method} /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`), 3000);
      expect(a.status === undefined || a.status === 405 || a.status === 501, `${method} -> ${a.status}`).toBe(true);
      if (a.status === undefined) expect(a.closed, `${method}: neither answered nor closed`).toBe(true);
    }
    await expectAlive();
    const stored = await fetch(`${server.url}/v1/devices/ext-method/events`);
    expect(await stored.json()).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Headers

type HeaderCase = {
  route: 'single' | 'batch' | 'stream' | 'recent' | 'health';
  contentType: string | undefined;
  lengthMode: 'exact' | 'smaller' | 'larger' | 'garbage' | 'negative' | 'huge' | 'double' | 'absent' | 'chunked+length';
  lengthGarbage: string;
  delta: number;
  lastEventId: string | undefined;
  longHeader: number;
  extra: [string, string][];
};

const headerValueArb = fc.oneof(
  fc.string({ maxLength: 40, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
  fc.string({ maxLength: 20, unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) }),
  fc.constantFrom('', ' ', 'application/json; charset=utf-16', 'application/msgpack; q=0', 'APPLICATION/X-NDJSON', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', ';;;', 'application/json\t', '*/*', 'application/jsonx'),
);

const headerCaseArb: fc.Arbitrary<HeaderCase> = fc.record({
  route: fc.constantFrom('single', 'batch', 'stream', 'recent', 'health'),
  contentType: fc.option(headerValueArb, { nil: undefined }),
  lengthMode: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('exact', 'smaller', 'garbage', 'negative', 'huge', 'double', 'absent', 'chunked+length') },
    { weight: 1, arbitrary: fc.constant('larger') },
  ) as fc.Arbitrary<HeaderCase['lengthMode']>,
  lengthGarbage: fc.constantFrom('abc', '1e3', '0x10', ' 10', '10 ', '+10', '10,10', '', '١٠'),
  delta: fc.integer({ min: 1, max: 50 }),
  lastEventId: fc.option(
    fc.oneof(fc.constantFrom('0', '-1', '1e20', '99999999999999999999999999', '0x10', 'NaN', '', ' 1', '1.5', '\u00ff\u00fe', '9'.repeat(5000)), fc.string({ maxLength: 30, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) })),
    { nil: undefined },
  ),
  longHeader: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 100_000 }) }),
  extra: fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/), fc.string({ maxLength: 30, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) })), { maxLength: 4 }),
});

const validBody = (i: number) =>
  JSON.stringify([{ event_id: `h${i}`, device_id: 'fz-headers', timeStamp: BASE_MS + i, metrics: { v: i }, tags: ['h'] }]);

describe('fuzzing headers', () => {
  let n = 0;
  it('garbage Content-Type, mismatched Content-Length, junk Last-Event-ID and very long header values never give a 500', async () => {
    await fc.assert(
      fc.asyncProperty(headerCaseArb, async (h) => {
        const i = n++;
        const [method, path] =
          h.route === 'single'
            ? ['POST', '/v1/events']
            : h.route === 'batch'
              ? ['POST', '/v1/events/batch?partial=true']
              : h.route === 'stream'
                ? ['GET', '/v1/alerts/stream']
                : h.route === 'recent'
                  ? ['GET', '/v1/devices/fz-headers/events']
                  : ['GET', '/healthz'];
        const body = Buffer.from(method === 'POST' ? (h.route === 'single' ? JSON.stringify(JSON.parse(validBody(i))[0]) : validBody(i)) : '');
        const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
        if (h.contentType !== undefined) lines.push(`Content-Type: ${h.contentType}`);
        let payload = body;
        switch (h.lengthMode) {
          case 'exact':
            if (body.length > 0) lines.push(`Content-Length: ${body.length}`);
            break;
          case 'smaller':
            lines.push(`Content-Length: ${Math.max(0, body.length - h.delta)}`);
            break;
          case 'larger':
            lines.push(`Content-Length: ${body.length + h.delta}`);
            break;
          case 'garbage':
            lines.push(`Content-Length: ${h.lengthGarbage}`);
            break;
          case 'negative':
            lines.push(`Content-Length: -${h.delta}`);
            break;
          case 'huge':
            lines.push('Content-Length: 99999999999999999999999');
            break;
          case 'double':
            lines.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + h.delta}`);
            break;
          case 'absent':
            break;
          case 'chunked+length':
            lines.push('Transfer-Encoding: chunked', `Content-Length: ${body.length}`);
            payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
            break;
        }
        if (h.lastEventId !== undefined) lines.push(`Last-Event-ID: ${h.lastEventId}`);
        if (h.longHeader > 0) lines.push(`X-Long: ${'L'.repeat(h.longHeader)}`);
        for (const [k, v] of h.extra) lines.push(`${k}: ${v}`);
        const bytes = Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), payload]);
        const a = await rawExchange(server.port, bytes, BODY_TIMEOUT_MS + 4000);
        const what = `${JSON.stringify(lines.map((l) => (l.length > 200 ? l.slice(0, 200) + '...' : l)))} -> ${a.head.slice(0, 200)} ${a.body.toString().slice(0, 200)}`;
        // Either an answer, or the server hung up on a request it would not parse; never silence.
        expect(a.timedOut, `no answer and the connection stays open: ${what}`).toBe(false);
        if (a.status !== undefined) {
          expect(a.status, what).not.toBe(500);
          expect(a.status, what).toBeLessThan(500);
        }
        await expectAlive();
      }),
      fcOpts(120),
    );
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// 4. A model of what is stored

interface Batch {
  items: Item[];
  partial: boolean;
  encoding: 'json' | 'ndjson';
  single: boolean;
}

const batchArb: fc.Arbitrary<Batch> = fc.record({
  items: fc.array(itemArb, { maxLength: 12 }),
  partial: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  encoding: fc.constantFrom('json', 'ndjson'),
  single: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

interface StoredEvent {
  event_id: string;
  device_id: string;
  timeStamp: string;
  ms: number;
  metrics: [string, number][];
  tags: string[];
}

const sortedMetrics = (m: [string, number][]) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

describe('a model of ingest', () => {
  let run = 0;
  const tally = { stored: 0, duplicate: 0, invalid: 0, refusedBatches: 0 };
  it('statuses of mixed valid/invalid batches match the model exactly, and what is stored equals the model, newest first', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(batchArb, { minLength: 1, maxLength: 6 }), async (batches) => {
        const ns = `m${run++}-`;
        const devices = DEVICE_POOL.map((d) => ns + d);
        const model = new Map<string, Map<string, StoredEvent>>(devices.map((d) => [d, new Map()]));

        for (const [bi, batch] of batches.entries()) {
          const single = batch.single && batch.items.length === 1;
          const nodes = batch.items.map((it) => nodeOf(it, devices[it.spec.device]!));
          // What the model expects.
          const expected: { event_id: string | null; status: string }[] = [];
          const pending = new Map<string, Map<string, StoredEvent>>();
          const isStored = (d: string, id: string) => model.get(d)!.has(id) || (pending.get(d)?.has(id) ?? false);
          for (const it of batch.items) {
            if (it.kind === 'invalid') {
              expected.push({ event_id: echoOf(INVALIDATE[it.mutation]!(it.spec.node(devices[it.spec.device]!))), status: 'invalid' });
              continue;
            }
            const d = devices[it.spec.device]!;
            const x = it.spec.expected;
            if (isStored(d, x.event_id)) expected.push({ event_id: x.event_id, status: 'duplicate' });
            else {
              expected.push({ event_id: x.event_id, status: 'stored' });
              if (!pending.has(d)) pending.set(d, new Map());
              pending.get(d)!.set(x.event_id, { event_id: x.event_id, device_id: d, timeStamp: new Date(x.ms).toISOString(), ms: x.ms, metrics: x.metrics, tags: x.tags });
            }
          }
          const anyInvalid = expected.some((e) => e.status === 'invalid');
          const what = `batch ${bi}: ${toJson(nodes).slice(0, 2000)}`;

          let a: Answer;
          if (single) {
            a = await send('POST', '/v1/events', toJson(nodes[0]!), 'application/json');
          } else {
            const body = batch.encoding === 'json' ? toJson(nodes) : nodes.map(toJson).join('\n');
            a = await send('POST', `/v1/events/batch${batch.partial ? '?partial=true' : ''}`, body, batch.encoding === 'json' ? 'application/json' : 'application/x-ndjson');
          }
          const answer = isJson(a.text) ? JSON.parse(a.text) : a.text;
          if (anyInvalid && (single || !batch.partial)) {
            expect(a.status, `${what}\n-> ${a.text.slice(0, 1000)}`).toBe(422);
            expect(Array.isArray(answer.detail)).toBe(true);
            const invalidAt = new Set(expected.flatMap((e, i) => (e.status === 'invalid' ? [i] : [])));
            for (const d of answer.detail) {
              expect(d.loc[0]).toBe('body');
              if (!single) expect(invalidAt.has(d.loc[1]), `${what}\n-> ${a.text.slice(0, 1000)}`).toBe(true);
            }
            tally.refusedBatches++;
            continue; // nothing stored
          }
          expect(a.status, `${what}\n-> ${a.text.slice(0, 1000)}`).toBe(200);
          if (single) {
            expect(answer, what).toEqual({ status: expected[0]!.status === 'stored' ? 'ok' : 'duplicate' });
          } else {
            expect(Array.isArray(answer), what).toBe(true);
            for (const s of answer) if (s.status === 'invalid') expect(typeof s.error === 'string' && s.error.length > 0).toBe(true);
            expect(
              answer.map((s: { event_id: unknown; status: unknown }) => ({ event_id: s.event_id, status: s.status })),
              `${what}\n-> ${a.text.slice(0, 1000)}`,
            ).toEqual(expected);
          }
          for (const e of expected) tally[e.status as 'stored' | 'duplicate' | 'invalid']++;
          for (const [d, evs] of pending) for (const [id, e] of evs) model.get(d)!.set(id, e);
        }

        for (const d of devices) {
          const r = await send('GET', `/v1/devices/${encodeURIComponent(d)}/events?limit=10000`);
          expect(r.status).toBe(200);
          const got = (JSON.parse(r.text) as { event_id: string; device_id: string; timeStamp: string; metrics: Record<string, number>; tags: string[] }[]).map((e) => ({
            ...e,
            metrics: sortedMetrics(Object.entries(e.metrics)),
          }));
          const want = [...model.get(d)!.values()]
            .sort((x, y) => (x.ms !== y.ms ? y.ms - x.ms : x.event_id < y.event_id ? 1 : x.event_id > y.event_id ? -1 : 0))
            .map((e) => ({ event_id: e.event_id, device_id: e.device_id, timeStamp: e.timeStamp, metrics: sortedMetrics(e.metrics), tags: e.tags }));
          expect(got, `device ${JSON.stringify(d)}`).toEqual(want);
        }
      }),
      fcOpts(150),
    );
    for (const [k, v] of Object.entries(tally)) expect(v, `${k}: ${JSON.stringify(tally)}`).toBeGreaterThan(10);
    await expectAlive();
  }, 120_000);
});
