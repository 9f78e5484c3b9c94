// The only module that imports msgpackr: every msgpack encoding in the service (thread messages,
// request bodies, and later log records) goes through this module, so one configuration decides
// how typed arrays and maps are written.
import { Packr, Unpackr } from 'msgpackr';

// Plain objects (no record extension), so a body written by any msgpack client decodes the same;
// typed arrays travel as typed arrays.
const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

// Request bodies decode maps as Map: msgpackr would rename a `__proto__` key when building an
// object, which would silently change a client's data; as a Map it reaches validation unchanged.
const untrusted = new Unpackr({ useRecords: false, mapsAsObjects: false });

/** Deepest nesting a request body may have; past it the body is refused, not recursed into. */
export const BODY_DEPTH_MAX = 32;

export class MsgpackDepthError extends Error {
  readonly code = 'MSGPACK_TOO_DEEP';
}

export class MsgpackValueError extends Error {
  readonly code = 'MSGPACK_UNSUPPORTED_VALUE';
}

/** Encodes into a fresh ArrayBuffer of exactly the encoded length, safe to transfer to another thread. */
export function packToArrayBuffer(value: unknown): ArrayBuffer {
  const buf = packr.pack(value);
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
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
  return plain(untrusted.unpack(bytes), 0);
}

function plain(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth >= BODY_DEPTH_MAX) throw new MsgpackDepthError(`nested deeper than ${BODY_DEPTH_MAX} levels`);
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) Object.defineProperty(out, String(k), { value: plain(x, depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  // bin and timestamps stay what they are (validation refuses them where a string or number is
  // due); anything else (extension types, the never-used 0xc1 byte) is not a client's data.
  if (v instanceof Uint8Array || v instanceof Date) return v;
  throw new MsgpackValueError(`unsupported msgpack value (${Object.prototype.toString.call(v)})`);
}
