import { describe, expect, it } from 'vitest';
import { buildSchemas } from '../../../src/api/schemas.js';
import { decodeList, decodeOne, formatOf, parseJson } from '../../../src/api/decode.js';
import {
  BODY_DEPTH_MAX,
  decodesAsObjects,
  MsgpackDepthError,
  MsgpackValueError,
  pack,
  unpackUntrusted,
  unpackUntrustedViaMaps,
} from '../../../src/codec/msgpack.js';
import { ApiError, type Issue } from '../../../src/errors.js';
import { arr, bin, bytes, type Bytes, ext, map, nil, str, uint } from '../../support/msgpack-bytes.js';

const buf = (s: string) => Buffer.from(s, 'utf8');

function decodeIssues(f: () => unknown): Issue[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    const err = e as ApiError;
    expect(err.status).toBe(422);
    expect(err.code).toBe('VALIDATION');
    expect(JSON.parse(err.body())).toEqual({ detail: err.issues });
    return err.issues!;
  }
  throw new Error('expected a 422');
}

describe('formatOf', () => {
  it('picks the body format from the content type, JSON by default', () => {
    expect(formatOf('application/json')).toBe('json');
    expect(formatOf('')).toBe('json');
    expect(formatOf('text/plain')).toBe('json');
    expect(formatOf('application/x-ndjson')).toBe('ndjson');
    expect(formatOf('application/ndjson; charset=utf-8')).toBe('ndjson');
    expect(formatOf('application/jsonl')).toBe('ndjson');
    expect(formatOf('Application/MsgPack')).toBe('msgpack');
    expect(formatOf('application/x-msgpack')).toBe('msgpack');
    expect(formatOf('application/vnd.msgpack')).toBe('msgpack');
  });
});

describe('JSON bodies', () => {
  it('decode an object or an array', () => {
    expect(decodeOne(buf('{"a":1,"b":[true,null]}'), 'json')).toEqual({ a: 1, b: [true, null] });
    expect(decodeList(buf('[{"a":1},{"a":2}]'), 'json')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(parseJson(buf(' "é" '))).toBe('é');
  });

  it('an empty body is a "missing" issue at ["body"]', () => {
    expect(decodeIssues(() => decodeOne(Buffer.alloc(0), 'json'))).toEqual([{ loc: ['body'], msg: 'Field required', type: 'missing' }]);
  });

  it('malformed JSON is a json_invalid issue located at ["body", position]', () => {
    const [i] = decodeIssues(() => decodeOne(buf('{"a":1'), 'json'));
    expect(i).toMatchObject({ loc: ['body', 6], type: 'json_invalid' });
    expect(i!.msg).toMatch(/^JSON decode error/);
    expect(decodeIssues(() => decodeOne(buf('{"a":1}x'), 'json'))).toEqual([expect.objectContaining({ loc: ['body', 7], type: 'json_invalid' })]);
  });

  it.each([
    ['{"a":}', 5],
    ['[1,]', 3],
    ['x', 0],
  ])('every malformed JSON body (%j) says at which position it went wrong', (text, pos) => {
    expect(decodeIssues(() => decodeOne(buf(text), 'json'))).toEqual([expect.objectContaining({ loc: ['body', pos], type: 'json_invalid' })]);
  });

  it('a JSON object with a __proto__ key keeps it as an own key (so the schema can refuse it)', () => {
    const v = decodeOne(buf('{"metrics":{"__proto__":{"polluted":1}}}'), 'json') as { metrics: object };
    expect(Object.hasOwn(v.metrics, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(v.metrics)).toBe(Object.prototype);
  });
});

describe('NDJSON bodies', () => {
  it('decode one value per line, skipping blank lines and tolerating CRLF and a trailing newline', () => {
    const text = '{"a":1}\n\n  \r\n{"a":2}\r\n{"a":3}\n';
    expect(decodeList(buf(text), 'ndjson')).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  it('an empty body decodes to an empty list', () => {
    expect(decodeList(Buffer.alloc(0), 'ndjson')).toEqual([]);
    expect(decodeList(buf('\n\n'), 'ndjson')).toEqual([]);
  });

  it('a malformed line is a json_invalid issue at ["body", line, position]', () => {
    expect(decodeIssues(() => decodeList(buf('{"a":1}\n{"a" 1}\n'), 'ndjson'))).toEqual([
      expect.objectContaining({ loc: ['body', 1, 5], type: 'json_invalid' }),
    ]);
  });

  it('a single value (decodeOne) with an NDJSON content type is read as JSON', () => {
    expect(decodeOne(buf('{"a":1}'), 'ndjson')).toEqual({ a: 1 });
  });
});

describe('msgpack bodies', () => {
  it('decode maps to plain objects and arrays to arrays', () => {
    const value = [{ event_id: 'e1', device_id: 'd1', timeStamp: 1_736_935_200_000, metrics: { cpu: 1.5, n: -3 }, tags: ['a'] }];
    const out = decodeList(Buffer.from(pack(value)), 'msgpack');
    expect(out).toEqual(value);
    expect(Object.getPrototypeOf((out as object[])[0])).toBe(Object.prototype);
    expect(decodeOne(Buffer.from(pack({ x: 'é' })), 'msgpack')).toEqual({ x: 'é' });
  });

  it('an empty body is a "missing" issue at ["body"]', () => {
    expect(decodeIssues(() => decodeOne(Buffer.alloc(0), 'msgpack'))).toEqual([{ loc: ['body'], msg: 'Field required', type: 'missing' }]);
  });

  it('truncated msgpack is a 422 msgpack_invalid issue at ["body"]', () => {
    expect(decodeIssues(() => decodeList(Buffer.from([0x92, 0x01]), 'msgpack'))).toEqual([
      expect.objectContaining({ loc: ['body'], type: 'msgpack_invalid' }),
    ]);
  });

  it('trailing bytes after one msgpack value are refused', () => {
    expect(decodeIssues(() => decodeOne(Buffer.from([0x01, 0x02]), 'msgpack'))).toEqual([
      expect.objectContaining({ loc: ['body'], type: 'msgpack_invalid' }),
    ]);
  });

  it('the never-used byte 0xc1 is malformed msgpack, refused with msgpack_invalid', () => {
    expect(decodeIssues(() => decodeOne(Buffer.from([0xc1]), 'msgpack'))).toEqual([
      expect.objectContaining({ loc: ['body'], type: 'msgpack_invalid' }),
    ]);
  });

  it('a msgpack body nested absurdly deep is refused with a 422, not recursed into', () => {
    let v: unknown = 1;
    for (let i = 0; i < 200; i++) v = [v];
    expect(decodeIssues(() => decodeOne(Buffer.from(pack(v)), 'msgpack'))).toEqual([expect.objectContaining({ loc: ['body'], type: 'msgpack_invalid' })]);
  });

  it('a msgpack map with a __proto__ key decodes it as an own key, as JSON does, and never as a prototype', () => {
    const metrics = JSON.parse('{"__proto__": 1, "cpu": 2}') as Record<string, number>;
    const v = decodeOne(Buffer.from(pack({ metrics })), 'msgpack') as { metrics: Record<string, number> };
    expect(Object.getPrototypeOf(v.metrics)).toBe(Object.prototype);
    expect(Object.keys(v.metrics).sort()).toEqual(['__proto__', 'cpu']);
  });

  it('an event whose metric is named __proto__ is refused the same in msgpack as in JSON', () => {
    const s = buildSchemas({ maxIdLength: 128, maxMetricsPerEvent: 64, maxMetricNameLength: 128, maxTagsPerEvent: 32, maxTagLength: 256, maxQueryLimit: 10_000 });
    const text = '{"event_id":"e1","device_id":"d1","timeStamp":0,"metrics":{"__proto__":1,"cpu":2}}';
    const fromJson = s.event.safeParse(decodeOne(buf(text), 'json'));
    const fromMsgpack = s.event.safeParse(decodeOne(Buffer.from(pack(JSON.parse(text))), 'msgpack'));
    expect(fromJson.success).toBe(false);
    expect(fromMsgpack.success).toBe(false);
  });
});

describe('unpackUntrusted', () => {
  const nested = (levels: number, leaf: Bytes): Bytes => (levels === 0 ? leaf : arr([nested(levels - 1, leaf)]));
  const ownKeys = (v: unknown) => Reflect.ownKeys(v as object);
  const event = (n: number) => ({
    event_id: `ev-${n}`,
    device_id: `dev-${n % 200}`,
    timeStamp: new Date(1_735_689_600_000 + n * 10).toISOString(),
    metrics: { temp: 20 + (n % 17), cpu: (n % 100) / 100, mem: n % 4096 },
    tags: [`room:${n % 50}`, `fw:v${n % 3}`],
  });

  it('a batch of ordinary events takes the fast route and decodes to what JSON.parse gives for it', () => {
    const batch = Array.from({ length: 1000 }, (_, i) => event(i));
    const body = Buffer.from(pack(batch));
    expect(decodesAsObjects(body)).toBe(true);
    const out = unpackUntrusted(body) as object[];
    expect(out).toStrictEqual(JSON.parse(JSON.stringify(batch)));
    expect(Object.getPrototypeOf(out[0])).toBe(Object.prototype);
    expect(Object.getPrototypeOf((out[0] as { metrics: object }).metrics)).toBe(Object.prototype);
  });

  it('a body inside a larger buffer decodes from its own bytes only', () => {
    const body = Buffer.from(pack({ a: 'x'.repeat(40), b: [1, 2] }));
    const backing = Buffer.alloc(body.length + 20, 0xc1);
    body.copy(backing, 10);
    const view = backing.subarray(10, 10 + body.length);
    expect(decodesAsObjects(view)).toBe(true);
    expect(unpackUntrusted(view)).toStrictEqual({ a: 'x'.repeat(40), b: [1, 2] });
  });

  it.each(['fix', 8, 16, 32] as const)('a __proto__ key in string format %s is kept as an own data property', (format) => {
    const body = bytes(map([[str('__proto__', format), map([[str('x'), uint(1)]])], [str('cpu'), uint(2)]]));
    expect(decodesAsObjects(body)).toBe(false);
    const v = unpackUntrusted(body) as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(ownKeys(v)).toEqual(['__proto__', 'cpu']);
    expect(Object.getOwnPropertyDescriptor(v, '__proto__')).toEqual({ value: { x: 1 }, enumerable: true, writable: true, configurable: true });
    expect(Object.getPrototypeOf(v['__proto__'])).toBe(Object.prototype);
  });

  it('__proto_ and __proto__ in one map stay two keys (msgpackr alone would rename one onto the other)', () => {
    const body = bytes(map([[str('__proto_'), uint(1)], [str('__proto__'), uint(2)]]));
    expect(unpackUntrusted(body)).toEqual(JSON.parse('{"__proto_": 1, "__proto__": 2}'));
    expect(ownKeys(unpackUntrusted(body))).toEqual(['__proto_', '__proto__']);
    const alone = bytes(map([[str('__proto_'), uint(1)]]));
    expect(decodesAsObjects(alone)).toBe(true);
    expect(ownKeys(unpackUntrusted(alone))).toEqual(['__proto_']);
  });

  it('a key only resembling __proto__ in malformed UTF-8 takes the fast route and decodes as the general route does', () => {
    const overlong = new Uint8Array([0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0xc1, 0x9f]); // "__proto_" + an overlong "_"
    for (const body of [bytes(map([[str(overlong), uint(1)]])), bytes(map([[str(overlong.subarray(1)), uint(1)]]))]) {
      expect(decodesAsObjects(body)).toBe(true);
      const v = unpackUntrusted(body);
      expect(ownKeys(v)).toEqual(ownKeys(unpackUntrustedViaMaps(body)));
      expect(ownKeys(v)).not.toContain('__proto__');
      expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    }
  });

  it('keys named after Object.prototype members become own keys', () => {
    const text = '{"constructor":1,"toString":2,"hasOwnProperty":3,"valueOf":{"__proto__":4}}';
    const v = unpackUntrusted(Buffer.from(pack(JSON.parse(text))));
    expect(v).toEqual(JSON.parse(text));
    expect(ownKeys(v)).toEqual(['constructor', 'toString', 'hasOwnProperty', 'valueOf']);
  });

  it('non-string keys are stringified, as the general route always did', () => {
    const body = bytes(map([[uint(1), uint(10)], [nil, uint(11)], [[0xc3], uint(12)], [[0xff], uint(13)], [arr([uint(1), str('a')]), uint(14)], [map([]), uint(15)]]));
    expect(decodesAsObjects(body)).toBe(false);
    const v = unpackUntrusted(body);
    expect(v).toEqual({ '1': 10, null: 11, true: 12, '-1': 13, '1,a': 14, '[object Map]': 15 });
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
  });

  it(`nesting up to ${BODY_DEPTH_MAX} levels decodes by the fast route; a map, array or bin one level deeper is refused`, () => {
    const deepest = bytes(nested(BODY_DEPTH_MAX, uint(7)));
    expect(decodesAsObjects(deepest)).toBe(true);
    let v = unpackUntrusted(deepest);
    for (let i = 0; i < BODY_DEPTH_MAX; i++) v = (v as unknown[])[0];
    expect(v).toBe(7);
    const binDeepest = bytes(nested(BODY_DEPTH_MAX - 2, map([[str('b'), bin(new Uint8Array([1]))]])));
    expect(decodesAsObjects(binDeepest)).toBe(true);
    expect(JSON.stringify(unpackUntrusted(binDeepest))).toContain('{"b":{"type":"Buffer","data":[1]}}');
    for (const leaf of [arr([]), map([]), bin(new Uint8Array(0)), map([[str('k'), uint(1)]])]) {
      const body = bytes(nested(BODY_DEPTH_MAX, leaf));
      expect(decodesAsObjects(body)).toBe(false);
      expect(() => unpackUntrusted(body)).toThrow(MsgpackDepthError);
    }
  });

  it('extension values other than timestamps and undefined are refused, records and references included', () => {
    const record = [0xd4, 0x72, 0x40, ...arr([str('a')]), ...uint(1)]; // msgpackr's record extension: a plain object when decoded
    for (const body of [bytes(record), bytes(arr([uint(1), record])), Buffer.from(pack(new Set([1]))), Buffer.from(pack(new Int16Array([1]))), bytes([0xc1])]) {
      expect(decodesAsObjects(body)).toBe(false);
      expect(() => unpackUntrusted(body)).toThrow(MsgpackValueError);
    }
    expect(() => unpackUntrusted(bytes(ext(0x20, new Uint8Array(3))))).toThrow('Unknown extension type');
  });

  it('msgpackr\'s id and pointer extensions are refused with one message, whatever bodies came before', () => {
    const secret = map([[str('secret'), uint(7)]]);
    const id = [0xd6, 0x69, 0, 0, 0, 1];
    const pointer = [0xd6, 0x70, 0, 0, 0, 1];
    const bodies = [bytes([0x92, ...id, ...secret]), bytes(map([[str('x'), pointer]])), bytes(arr([[...id, ...secret], pointer])), bytes([...id, ...secret, 0xc1])];
    for (const round of [1, 2])
      for (const body of bodies) {
        expect(decodesAsObjects(body), `round ${round}`).toBe(false);
        expect(() => unpackUntrusted(body), `round ${round}`).toThrow('Structured clone extension is disabled');
      }
  });

  it('timestamps, bin, 64-bit integers and msgpackr\'s undefined come through as the general route gives them', () => {
    const body = bytes(
      map([
        [str('t'), ext(0xff, new Uint8Array([0, 0, 0, 1]))],
        [str('b'), bin(new Uint8Array([1, 2]), 16)],
        [str('u'), [0xcf, 0, 0, 0, 1, 0, 0, 0, 0]],
        [str('n'), ext(0, new Uint8Array(1))],
      ]),
    );
    expect(unpackUntrusted(body)).toEqual({ t: new Date(1000), b: Buffer.from([1, 2]), u: 2n ** 32n, n: undefined });
    const fast = bytes(map([[str('b'), bin(new Uint8Array([1, 2]), 32)], [str('i'), [0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]]]));
    expect(decodesAsObjects(fast)).toBe(true);
    expect(unpackUntrusted(fast)).toEqual({ b: Buffer.from([1, 2]), i: -2n });
  });

  it('wide formats of small maps, arrays and strings take the fast route', () => {
    const body = bytes(map([[str('a', 32), arr([str('x', 16), uint(1)], 32)], [str('b', 8), map([], 16)]], 32));
    expect(decodesAsObjects(body)).toBe(true);
    expect(unpackUntrusted(body)).toStrictEqual({ a: ['x', 1], b: {} });
  });

  it('malformed bodies throw what the general route throws', () => {
    const ok = map([[str('a'), arr([uint(1), str('xy')])]]);
    for (const body of [bytes(ok.slice(0, -1)), bytes(ok, uint(1)), bytes([0xdc, 0x00]), bytes([0xdb, 0, 0, 0, 9, 0x61]), bytes(map([[str('a'), uint(1)]]).slice(0, 3))]) {
      expect(decodesAsObjects(body)).toBe(false);
      expect(() => unpackUntrustedViaMaps(body)).toThrow();
      expect(() => unpackUntrusted(body)).toThrow(errorOf(() => unpackUntrustedViaMaps(body)).message);
    }
  });
});

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}
