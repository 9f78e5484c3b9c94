// Event batches in the wire layouts of earlier builds, made from a current one, to check that logs
// written by those builds are still read.
import { idStrings } from '../../src/codec/id-column.js';
import { pack } from '../../src/codec/msgpack.js';
import { unpackBatch } from '../../src/shard/protocol.js';

/** The typed columns' bytes (from byte 24) of a batch of n events, m metric entries and t tags, ids excluded. */
const columnsEnd = (n: number, m: number, t: number) => 24 + 8 * (n + m) + 4 * (3 * n + m + t);

/**
 * Version 2 of a version-3 batch: the same header without the id code units' width and count,
 * the columns without the id ends and code units, the string list, then the ids as a msgpack array.
 * Version 1: no string-list length, and the list and the ids as one msgpack array.
 */
export function olderVersion(current: Uint8Array, version: 1 | 2): Buffer {
  const v3 = Buffer.from(current);
  if (v3[0] !== 0xc1 || v3[1] !== 3) throw new Error('olderVersion: not a version-3 batch');
  const batch = unpackBatch(v3);
  const ids = idStrings(batch.ids);
  const head = Buffer.from(v3.subarray(0, columnsEnd(v3.readUInt32LE(4), v3.readUInt32LE(8), v3.readUInt32LE(12))));
  head[1] = version;
  head[2] = 0;
  head.writeUInt32LE(0, 20);
  if (version === 1) {
    head.writeUInt32LE(0, 16);
    return Buffer.concat([head, Buffer.from(pack([batch.strings, ids]))]);
  }
  const names = Buffer.from(pack(batch.strings));
  head.writeUInt32LE(names.length, 16);
  return Buffer.concat([head, names, Buffer.from(pack(ids))]);
}
