// The only module that imports msgpackr: every msgpack encoding in the service (thread messages,
// request bodies, and later log records) goes through this module, so one configuration decides
// how typed arrays and maps are written.
import { Packr, Unpackr } from 'msgpackr';

// Plain objects (no record extension), so a body written by any msgpack client decodes the same;
// typed arrays travel as typed arrays.
const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

// Request bodies take one of two decoders. msgpackr building objects itself is fast, but it renames a
// `__proto__` key to `__proto_` (which would silently change a client's data, and collide with a real
// `__proto_` key), refuses some non-string keys, and knows nothing of the depth limit or of which
// extension values a client may send. So it only gets bodies a byte scan found free of all of those;
// every other body decodes maps as Map and is converted, which keeps every key as it was sent.
// structuredClone: false refuses msgpackr's id (0x69) and pointer (0x70) extensions with a plain
// message. Allowed, a pointer without its id failed on msgpackr's own module state, with a TypeError
// whose text ("of undefined" or "of null") depended on whether any body had failed before.
// copyBuffers: a binary value is a copy, never a view of the body, whose buffer the HTTP front
// reuses for the next request once this one is answered.
const untrustedObjects = new Unpackr({ useRecords: false, mapsAsObjects: true, structuredClone: false, copyBuffers: true });
const untrustedMaps = new Unpackr({ useRecords: false, mapsAsObjects: false, structuredClone: false, copyBuffers: true });

/** Deepest nesting a request body may have; past it the body is refused, not recursed into. */
export const BODY_DEPTH_MAX = 32;

export class MsgpackDepthError extends Error {
  readonly code = 'MSGPACK_TOO_DEEP';
}

export class MsgpackValueError extends Error {
  readonly code = 'MSGPACK_UNSUPPORTED_VALUE';
}

export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes what this service encoded itself. */
export function unpack(bytes: Uint8Array | ArrayBuffer): unknown {
  return packr.unpack(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes);
}

/**
 * Decodes a client's msgpack into JSON-like values: maps become plain objects whose keys are all
 * own data properties (`__proto__` included, defined, never assigned), as JSON.parse does.
 */
export function unpackUntrusted(bytes: Uint8Array): unknown {
  return decodesAsObjects(bytes) ? untrustedObjects.unpack(bytes) : unpackUntrustedViaMaps(bytes);
}

/**
 * What unpackUntrusted gives for any body, by the general route; exported so tests and the
 * benchmark can hold the two routes against each other.
 */
export function unpackUntrustedViaMaps(bytes: Uint8Array): unknown {
  return plain(untrustedMaps.unpack(bytes), 0);
}

function plain(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth >= BODY_DEPTH_MAX) throw new MsgpackDepthError(`nested deeper than ${BODY_DEPTH_MAX} levels`);
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) {
      const key = String(k);
      const value = plain(x, depth + 1);
      // Assigning `__proto__` would set the prototype instead. Any other key of a fresh object can
      // be assigned (Object.prototype's other properties are writable data properties, which an
      // assignment shadows), and assigning took this route from 2.3 to 0.9 µs an event in
      // bench/msgpack-decode.mjs.
      if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      else out[key] = value;
    }
    return out;
  }
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = plain(v[i], depth + 1);
    return out;
  }
  // bin and timestamps stay what they are (validation refuses them where a string or number is
  // due); anything else (extension types, the never-used 0xc1 byte) is not a client's data.
  if (v instanceof Uint8Array || v instanceof Date) return v;
  throw new MsgpackValueError(`unsupported msgpack value (${Object.prototype.toString.call(v)})`);
}

// The scan's cursor, shared by its recursive steps through module state so that none of them
// allocates; nothing in the scan throws or calls out, so it is never seen half-set.
const EMPTY: Uint8Array = new Uint8Array(0);
let src: Uint8Array = EMPTY;
let end = 0;
let at = 0;

/**
 * Whether msgpackr building objects itself gives exactly what the general route gives: the bytes
 * are one complete, well-formed value with nothing after it, no map key other than a string and
 * none spelled `__proto__`, no extension type or 0xc1 byte (so no records, references or other
 * values the general route refuses), and no map, array or bin at BODY_DEPTH_MAX or deeper. Any
 * other body, malformed ones included, is left to the general route, so its answer or error stands.
 */
export function decodesAsObjects(bytes: Uint8Array): boolean {
  src = bytes;
  end = bytes.length;
  at = 0;
  const ok = scanValue(0) && at === end;
  src = EMPTY; // a body can be large; the scan must not keep the last one alive
  return ok;
}

/** Skips one value at `depth` (0 for the body itself, as in `plain`); false if it can't. */
function scanValue(depth: number): boolean {
  if (at >= end) return false;
  const t = src[at++]!;
  if (t < 0x80 || t >= 0xe0) return true; // fixint
  if (t < 0x90) return scanMap(t - 0x80, depth);
  if (t < 0xa0) return scanArray(t - 0x90, depth);
  if (t < 0xc0) return (at += t - 0xa0) <= end; // fixstr
  switch (t) {
    case 0xc0: // nil, false, true
    case 0xc2:
    case 0xc3:
      return true;
    case 0xcc: // uint8, int8
    case 0xd0:
      return (at += 1) <= end;
    case 0xcd: // uint16, int16
    case 0xd1:
      return (at += 2) <= end;
    case 0xca: // float32, uint32, int32
    case 0xce:
    case 0xd2:
      return (at += 4) <= end;
    case 0xcb: // float64, uint64, int64
    case 0xcf:
    case 0xd3:
      return (at += 8) <= end;
    case 0xc4: // bin: an object to `plain`, so it is held to the depth limit as a map or array is
      return depth < BODY_DEPTH_MAX && skipSized(1);
    case 0xc5:
      return depth < BODY_DEPTH_MAX && skipSized(2);
    case 0xc6:
      return depth < BODY_DEPTH_MAX && skipSized(4);
    case 0xd9: // str
      return skipSized(1);
    case 0xda:
      return skipSized(2);
    case 0xdb:
      return skipSized(4);
    case 0xdc:
      return at + 2 <= end && scanArray(readLength(2), depth);
    case 0xdd:
      return at + 4 <= end && scanArray(readLength(4), depth);
    case 0xde:
      return at + 2 <= end && scanMap(readLength(2), depth);
    case 0xdf:
      return at + 4 <= end && scanMap(readLength(4), depth);
    default: // 0xc1 and the extension types
      return false;
  }
}

function scanArray(length: number, depth: number): boolean {
  if (depth >= BODY_DEPTH_MAX) return false;
  for (let i = 0; i < length; i++) if (!scanValue(depth + 1)) return false;
  return true;
}

function scanMap(length: number, depth: number): boolean {
  if (depth >= BODY_DEPTH_MAX) return false;
  for (let i = 0; i < length; i++) {
    if (at >= end) return false;
    const t = src[at++]!;
    let keyLength: number;
    if (t >= 0xa0 && t < 0xc0) keyLength = t - 0xa0;
    else if (t === 0xd9 && at + 1 <= end) keyLength = readLength(1);
    else if (t === 0xda && at + 2 <= end) keyLength = readLength(2);
    else if (t === 0xdb && at + 4 <= end) keyLength = readLength(4);
    else return false;
    if (keyLength === 9 && isProto(at)) return false;
    if ((at += keyLength) > end) return false;
    if (!scanValue(depth + 1)) return false;
  }
  return true;
}

/** Reads a big-endian length of 1, 2 or 4 bytes the caller made sure are there. */
function readLength(bytes: 1 | 2 | 4): number {
  const p = at;
  at += bytes;
  if (bytes === 1) return src[p]!;
  if (bytes === 2) return (src[p]! << 8) | src[p + 1]!;
  return src[p]! * 0x1000000 + ((src[p + 1]! << 16) | (src[p + 2]! << 8) | src[p + 3]!);
}

function skipSized(lengthBytes: 1 | 2 | 4): boolean {
  if (at + lengthBytes > end) return false;
  const length = readLength(lengthBytes); // moves `at` past the length, so not inlined into `at +=`
  return (at += length) <= end;
}

// "__proto__" is ASCII, and none of msgpackr's UTF-8 decoders (its own, V8's through its native
// string extractor, TextDecoder) decodes a multi-byte, overlong or malformed sequence to ASCII, so
// only these nine bytes decode to it.
function isProto(p: number): boolean {
  return (
    src[p] === 0x5f && src[p + 1] === 0x5f && src[p + 2] === 0x70 && src[p + 3] === 0x72 && src[p + 4] === 0x6f &&
    src[p + 5] === 0x74 && src[p + 6] === 0x6f && src[p + 7] === 0x5f && src[p + 8] === 0x5f
  );
}
