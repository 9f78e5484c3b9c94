// The only module that imports msgpackr: every msgpack encoding in the service (thread messages,
// request bodies, and later log records) goes through these two functions, so one configuration
// decides how typed arrays and maps are written.
import { Packr } from 'msgpackr';

// Plain objects (no record extension), so a body written by any msgpack client decodes the same;
// typed arrays travel as typed arrays.
const packr = new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: true });

/** Encodes into a fresh ArrayBuffer of exactly the encoded length, safe to transfer to another thread. */
export function packToArrayBuffer(value: unknown): ArrayBuffer {
  const buf = packr.pack(value);
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

export function pack(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function unpack(bytes: Uint8Array | ArrayBuffer): unknown {
  return packr.unpack(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes);
}
