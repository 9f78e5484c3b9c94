import { describe, expect, it } from 'vitest';
import { buildSchemas } from '../../../src/api/schemas.js';
import { decodeList, decodeOne, formatOf, parseJson } from '../../../src/api/decode.js';
import { pack } from '../../../src/codec/msgpack.js';
import { ApiError, type Issue } from '../../../src/errors.js';

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
