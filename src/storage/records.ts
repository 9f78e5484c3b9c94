// What a log record means: the one file that knows. A record is one byte of type, then its body:
//   1 EVENTS       the events a shard accepted from one task, as a packed EventBatch
//                  (the thread protocol's wire bytes, see shard/protocol.ts; duplicates are never logged)
//   2 RULE_ADDED   msgpack of the AlertRule
//   3 RULE_REMOVED msgpack of { id }
// Records carry what changes state and nothing that can be derived from it.
import { pack, unpack } from '../codec/msgpack.js';
import type { AlertRule } from '../engine/alerts.js';
import { packBatch, unpackBatch, type EventBatch } from '../shard/protocol.js';

export const RecordType = { EVENTS: 1, RULE_ADDED: 2, RULE_REMOVED: 3 } as const;

export type LogRecord =
  | { type: typeof RecordType.EVENTS; batch: EventBatch }
  | { type: typeof RecordType.RULE_ADDED; rule: AlertRule }
  | { type: typeof RecordType.RULE_REMOVED; id: number };

export class RecordDecodeError extends Error {
  readonly code = 'RECORD_UNDECODABLE';
}

const withType = (type: number, body: Uint8Array): Uint8Array => {
  const out = new Uint8Array(1 + body.length);
  out[0] = type;
  out.set(body, 1);
  return out;
};

/** An events record from an already packed EventBatch (the bytes the front sent), without re-encoding. */
export const encodePackedEvents = (packedBatch: Uint8Array): Uint8Array => withType(RecordType.EVENTS, packedBatch);

const EVENTS_TYPE = Uint8Array.of(RecordType.EVENTS);

/**
 * The same record as encodePackedEvents, as its two parts (type byte, batch): the log frames and
 * writes them as they are, so a live batch is not copied on its way to the disk.
 */
export const packedEventsRecord = (packedBatch: Uint8Array): readonly Uint8Array[] => [EVENTS_TYPE, packedBatch];

/** An events record of the events of an in-memory batch that `keep` selects (all by default). */
export const encodeEvents = (batch: EventBatch, keep?: (i: number) => boolean): Uint8Array => withType(RecordType.EVENTS, packBatch(batch, keep));

export const encodeRuleAdded = (rule: AlertRule): Uint8Array => withType(RecordType.RULE_ADDED, pack(rule));

export const encodeRuleRemoved = (id: number): Uint8Array => withType(RecordType.RULE_REMOVED, pack({ id }));

/** `transient`: as unpackBatch's (the record is applied before the next transient decode). */
export function decodeRecord(payload: Uint8Array, transient = false): LogRecord {
  const body = payload.subarray(1);
  try {
    switch (payload[0]) {
      case RecordType.EVENTS:
        return { type: RecordType.EVENTS, batch: unpackBatch(body, transient) };
      case RecordType.RULE_ADDED:
        return { type: RecordType.RULE_ADDED, rule: unpack(body) as AlertRule };
      case RecordType.RULE_REMOVED:
        return { type: RecordType.RULE_REMOVED, id: (unpack(body) as { id: number }).id };
    }
  } catch (e) {
    throw new RecordDecodeError(`record body does not decode: ${(e as Error).message}`);
  }
  throw new RecordDecodeError(`unknown record type ${payload[0]}`);
}
