// unpackUntrusted (a byte scan choosing between msgpackr's own object building and a Map decode
// converted to objects) must answer every body exactly as the implementation before it did: same
// values, same prototypes, same own properties in the same order, or the same error.
import fc from 'fast-check';
// The reference needs its own decoder; src/codec/msgpack.ts stays the only source module importing msgpackr.
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  BODY_DEPTH_MAX,
  decodesAsObjects,
  MsgpackDepthError,
  MsgpackValueError,
  pack,
  unpackUntrusted,
  unpackUntrustedViaMaps,
} from '../../src/codec/msgpack.js';
import * as mp from '../support/msgpack-bytes.js';

// ---- The definition: unpackUntrusted as it was before the fast route, kept verbatim but for
// structuredClone: false, added to both later (see src/codec/msgpack.ts). ----

const referenceUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, structuredClone: false });

function referenceUnpackUntrusted(bytes: Uint8Array): unknown {
  return referencePlain(referenceUnpackr.unpack(bytes), 0);
}

function referencePlain(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth >= BODY_DEPTH_MAX) throw new MsgpackDepthError(`nested deeper than ${BODY_DEPTH_MAX} levels`);
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) Object.defineProperty(out, String(k), { value: referencePlain(x, depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (Array.isArray(v)) return v.map((x) => referencePlain(x, depth + 1));
  if (v instanceof Uint8Array || v instanceof Date) return v;
  throw new MsgpackValueError(`unsupported msgpack value (${Object.prototype.toString.call(v)})`);
}

// ---- Comparing answers, prototypes and property descriptors included. ----

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

function outcome(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

function expectSameOutcome(actual: Outcome, expected: Outcome, body: Uint8Array): void {
  const where = `body ${Buffer.from(body).toString('hex')}`;
  if (!expected.ok) {
    expect(actual.ok, `${where}: expected a throw of ${String(expected.error)}`).toBe(false);
    const a = (actual as { error: Error }).error;
    const x = expected.error as Error;
    expect(a.constructor, where).toBe(x.constructor);
    expect(a.message, where).toBe(x.message);
    return;
  }
  expect(actual.ok, `${where}: threw ${actual.ok ? '' : String(actual.error)}`).toBe(true);
  const difference = differs((actual as { value: unknown }).value, expected.value, '$');
  if (difference !== null) expect.fail(`${where}: ${difference}`);
}

/** Where and how two decoded values differ (prototypes and property descriptors included), or null. */
function differs(a: unknown, x: unknown, path: string): string | null {
  if (x === null || typeof x !== 'object') return Object.is(a, x) ? null : `${path}: ${String(a)} instead of ${String(x)}`;
  if (a === null || typeof a !== 'object') return `${path}: ${String(a)} instead of an object`;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(x)) return `${path}: another prototype`;
  if (x instanceof Uint8Array) return Buffer.from(a as Uint8Array).equals(Buffer.from(x)) ? null : `${path}: other bytes`;
  if (x instanceof Date) return Object.is((a as Date).getTime(), x.getTime()) ? null : `${path}: another time`;
  const keys = Reflect.ownKeys(x);
  const actualKeys = Reflect.ownKeys(a);
  if (actualKeys.length !== keys.length || actualKeys.some((k, i) => k !== keys[i])) return `${path}: keys ${String(actualKeys)} instead of ${String(keys)}`;
  for (const k of keys) {
    const ad = Object.getOwnPropertyDescriptor(a, k)!;
    const xd = Object.getOwnPropertyDescriptor(x, k)!;
    const at = `${path}.${String(k)}`;
    if (!('value' in ad) || ad.enumerable !== xd.enumerable || ad.writable !== xd.writable || ad.configurable !== xd.configurable) return `${at}: another descriptor`;
    const d = differs(ad.value, xd.value, at);
    if (d !== null) return d;
  }
  return null;
}

// ---- Bodies: hand-built msgpack in every format, then malformed versions of them. ----

const format = fc.constantFrom<mp.LengthFormat>('fix', 'fix', 'fix', 8, 16, 32);
const specialKey = fc.constantFrom(
  '__proto__', '__proto_', '_proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'prototype',
  '0', '1', '-1', '01', '1.5', '4294967294', '4294967295', 'NaN', '', 'é', '😀',
);
// Not UTF-8, or "__proto__" with a character spelled overlong; each must decode the same both ways.
const rawKey = fc.oneof(
  fc.uint8Array({ maxLength: 12 }),
  fc.constantFrom(
    Uint8Array.from([0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0xc1, 0x9f]),
    Uint8Array.from([0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0xe0, 0x81, 0x9f]),
    Uint8Array.from([0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0xdf]),
  ),
);
const text = fc.oneof({ weight: 3, arbitrary: specialKey }, { weight: 2, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) });
const shortString = fc.tuple(fc.oneof({ weight: 6, arbitrary: text }, { weight: 1, arbitrary: rawKey }), format).map(([s, f]) => mp.str(s, f));
// Long strings reach msgpackr's other string decoders (TextDecoder, the native extractor).
const longString = fc.tuple(fc.oneof(fc.string({ minLength: 16, maxLength: 300 }), fc.uint8Array({ minLength: 16, maxLength: 100 })), format).map(([s, f]) => mp.str(s, f));

const WIDTH: Record<number, number> = { 0xcc: 1, 0xd0: 1, 0xcd: 2, 0xd1: 2, 0xca: 4, 0xce: 4, 0xd2: 4, 0xcb: 8, 0xcf: 8, 0xd3: 8 };
const number = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }).map((n) => [n]),
  fc.integer({ min: 0xe0, max: 0xff }).map((n) => [n]),
  fc.tuple(fc.constantFrom(...Object.keys(WIDTH).map(Number)), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([t, p]) => [t, ...p.subarray(0, WIDTH[t])]),
);
const scalar: fc.Arbitrary<mp.Bytes> = fc.oneof(
  { weight: 3, arbitrary: number },
  { weight: 1, arbitrary: fc.constantFrom<mp.Bytes>([0xc0], [0xc2], [0xc3]) },
  { weight: 4, arbitrary: shortString },
  { weight: 1, arbitrary: longString },
  { weight: 1, arbitrary: fc.tuple(fc.uint8Array({ maxLength: 8 }), fc.constantFrom<8 | 16 | 32>(8, 16, 32)).map(([b, f]) => mp.bin(b, f)) },
);

// Values only the general route handles, most of them refused by it.
const exotic: fc.Arbitrary<mp.Bytes> = fc.oneof(
  fc.constant<mp.Bytes>([0xc1]),
  fc.constant(mp.ext(0, new Uint8Array(1))), // msgpackr's undefined
  fc.constantFrom(4, 8, 12, 5).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })).map((d) => mp.ext(0xff, d)), // timestamps
  fc.uint8Array({ minLength: 1, maxLength: 16 }).map((d) => mp.ext(0x42, d)), // bigint
  fc.tuple(fc.integer({ min: 0, max: 0xff }), fc.uint8Array({ maxLength: 20 })).map(([t, d]) => mp.ext(t, d)),
  // msgpackr's own extensions, some of them whole values in as little as a fixext 1 (typed arrays)
  fc.tuple(fc.constantFrom(0, 0x42, 0x65, 0x69, 0x70, 0x73, 0x74, 0x78, 0xff), fc.uint8Array({ minLength: 1, maxLength: 9 })).map(([t, d]) => mp.ext(t, d)),
  fc.tuple(fc.integer({ min: 0, max: 17 }), fc.uint8Array({ maxLength: 8 })).map(([code, d]) => mp.ext(0x74, Uint8Array.from([code, ...d]))),
  fc.tuple(fc.array(specialKey, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0x40, max: 0x7f })).map(([keys, id]) => [
    0xd4, 0x72, id, ...mp.arr(keys.map((k) => mp.str(k))), ...keys.flatMap((_, i) => mp.uint(i)), id,
    ...keys.flatMap((_, i) => mp.uint(i)),
  ]), // a record definition and a second record using it
  fc.constantFrom(new Set([1]), new Int16Array([1, 2]), new Error('e'), /x/g, new Date(0), 2n ** 70n, new ArrayBuffer(2), [undefined]).map((v) => [...pack(v)]),
);

function values(keys: fc.Arbitrary<mp.Bytes>, exoticWeight: number, otherKeyWeight: number): fc.Arbitrary<mp.Bytes> {
  return fc.letrec<{ value: mp.Bytes; array: mp.Bytes; map: mp.Bytes; key: mp.Bytes }>((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, { weight: 4, arbitrary: scalar }, { weight: 2, arbitrary: tie('array') }, { weight: 3, arbitrary: tie('map') }, { weight: exoticWeight, arbitrary: exotic }),
    array: fc.tuple(fc.array(tie('value'), { maxLength: 5 }), format).map(([items, f]) => mp.arr(items, f)),
    map: fc.tuple(fc.array(fc.tuple(tie('key'), tie('value')), { maxLength: 5 }), format).map(([entries, f]) => mp.map(entries, f)),
    key: fc.oneof({ weight: 12, arbitrary: keys }, { weight: otherKeyWeight, arbitrary: tie('value') }),
  })).value;
}
const value = values(shortString, 1, 1);
// Bodies of hundreds of bytes or more, which msgpackr decodes with other string readers than small
// ones (its native extractor, TextDecoder); most take the fast route, and an odd value or key
// (__proto__, a non-string) sends some of them the general way.
const fastKey = fc.tuple(fc.oneof(text.filter((k) => k !== '__proto__'), rawKey), format).map(([s, f]) => mp.str(s, f));
const large = fc
  .tuple(fc.array(values(fastKey, 0, 0), { minLength: 5, maxLength: 40 }), fc.option(fc.tuple(fc.nat(), value), { freq: 3, nil: undefined }), format)
  .map(([items, odd, f]) => {
    if (!odd) return mp.arr(items, f);
    const at = odd[0] % (items.length + 1);
    return mp.arr([...items.slice(0, at), odd[1], ...items.slice(at)], f); // generated values must stay as generated, for shrinking
  });

// Chains of maps and arrays ending around the depth limit, with siblings along the way.
const deep: fc.Arbitrary<mp.Bytes> = fc
  .tuple(
    fc.array(fc.record({ inMap: fc.boolean(), key: shortString, sibling: fc.option(scalar, { nil: undefined }), first: fc.boolean() }), {
      minLength: BODY_DEPTH_MAX - 3,
      maxLength: BODY_DEPTH_MAX + 2,
    }),
    fc.oneof(scalar, fc.constant(mp.arr([])), fc.constant(mp.map([])), fc.constant(mp.bin(new Uint8Array(1)))),
  )
  .map(([levels, leaf]) =>
    levels.reduce<mp.Bytes>((inner, { inMap, key, sibling, first }) => {
      if (!inMap) return mp.arr(sibling === undefined ? [inner] : first ? [inner, sibling] : [sibling, inner]);
      const entries: [mp.Bytes, mp.Bytes][] = [[key, inner]];
      if (sibling !== undefined) entries[first ? 'push' : 'unshift']([mp.str(`s${entries.length}`), sibling]);
      return mp.map(entries);
    }, leaf),
  );

type Edit = ['cut' | 'set' | 'insert' | 'drop', number, number];
function applyEdits(body: mp.Bytes, edits: Edit[]): mp.Bytes {
  const b = body.slice();
  for (const [op, where, byte] of edits) {
    const i = b.length === 0 ? 0 : where % (b.length + (op === 'insert' ? 1 : 0));
    if (op === 'cut') b.length = i;
    else if (op === 'set' && b.length > 0) b[i] = byte;
    else if (op === 'insert') b.splice(i, 0, byte);
    else if (op === 'drop') b.splice(i, 1);
  }
  return b;
}
const edits = fc.array(fc.tuple(fc.constantFrom<Edit[0]>('cut', 'set', 'set', 'insert', 'drop'), fc.nat(), fc.integer({ min: 0, max: 0xff })), { minLength: 1, maxLength: 3 });
const malformed = fc.oneof(
  fc.tuple(fc.oneof(value, deep, large), edits).map(([b, e]) => applyEdits(b, e)),
  fc.tuple(value, fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([b, extra]) => [...b, ...extra]), // trailing bytes
  fc.uint8Array({ maxLength: 48 }).map((b) => [...b]),
);

// Sometimes a view into a larger buffer, as a request body can be, with other bytes around it.
const placed = (bytes: fc.Arbitrary<mp.Bytes>) =>
  fc.tuple(bytes, fc.option(fc.tuple(fc.nat(16), fc.uint8Array({ maxLength: 16 })), { nil: undefined })).map(([b, around]) => {
    if (!around) return Buffer.from(b);
    const [offset, after] = around;
    const backing = Buffer.alloc(offset + b.length + after.length, 0xc1);
    backing.set(b, offset);
    backing.set(after, offset + b.length);
    return backing.subarray(offset, offset + b.length);
  });

function holdsToReference(body: Buffer): boolean {
  const expected = outcome(() => referenceUnpackUntrusted(body));
  expectSameOutcome(outcome(() => unpackUntrusted(body)), expected, body);
  expectSameOutcome(outcome(() => unpackUntrustedViaMaps(body)), expected, body);
  return decodesAsObjects(body);
}

/** Runs the property, and makes sure the bodies did not all go one way, which would test one route only. */
function assertBothRoutes(bodies: fc.Arbitrary<Buffer>, numRuns: number, minFastShare: number, minGeneralShare: number): void {
  let fast = 0;
  let runs = 0;
  fc.assert(
    fc.property(bodies, (body) => {
      runs++;
      if (holdsToReference(body)) fast++;
    }),
    { numRuns },
  );
  expect(fast / runs).toBeGreaterThanOrEqual(minFastShare);
  expect(1 - fast / runs).toBeGreaterThanOrEqual(minGeneralShare);
}

describe('unpackUntrusted against the implementation before the fast route', () => {
  it('answers every well-formed body the same (maps with __proto__, constructor, numeric and non-string keys; extension values)', () => {
    assertBothRoutes(placed(value), 5_000, 0.3, 0.2);
  });

  it('answers the same for bodies of hundreds of bytes or more', () => {
    assertBothRoutes(placed(large), 1_000, 0.3, 0.1);
  });

  it('answers the same for nesting around the depth limit', () => {
    assertBothRoutes(placed(deep), 2_000, 0.2, 0.2);
  });

  it('throws the same error, or answers the same, for malformed bytes', () => {
    assertBothRoutes(placed(malformed), 5_000, 0.02, 0.5);
  });

  it('decodes msgpack of any JSON value (keys named __proto__ and the like included) to what JSON.parse gives, by the fast route unless a __proto__ key is in it', () => {
    const json: fc.Arbitrary<string> = fc.letrec<{ v: string; o: string }>((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 2 }).map((x) => JSON.stringify(x)), tie('o'), fc.array(tie('v'), { maxLength: 4 }).map((a) => `[${a.join(',')}]`)),
      o: fc.array(fc.tuple(fc.oneof(specialKey, fc.string({ maxLength: 6 })), tie('v')), { maxLength: 5 }).map((es) => `{${es.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
    })).v;
    fc.assert(
      fc.property(json, (text) => {
        const expected = JSON.parse(text) as unknown;
        const body = Buffer.from(pack(expected));
        expectSameOutcome(outcome(() => unpackUntrusted(body)), { ok: true, value: expected }, body);
        expectSameOutcome(outcome(() => unpackUntrusted(body)), outcome(() => referenceUnpackUntrusted(body)), body);
        expect(decodesAsObjects(body)).toBe(!hasProtoKey(expected));
      }),
      { numRuns: 3_000 },
    );
  });
});

function hasProtoKey(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  return Object.entries(v).some(([k, x]) => (k === '__proto__' && !Array.isArray(v)) || hasProtoKey(x));
}
