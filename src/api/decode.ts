// Request bodies -> plain values: JSON (the default), NDJSON and msgpack. Decoding errors are
// FastAPI-shaped 422s that say where the body went wrong.
import { unpackUntrusted } from '../codec/msgpack.js';
import { ApiError, issue, validationError } from '../errors.js';

export type BodyFormat = 'json' | 'ndjson' | 'msgpack';

export function formatOf(contentType: string): BodyFormat {
  const ct = contentType.toLowerCase();
  if (ct.startsWith('application/x-ndjson') || ct.startsWith('application/ndjson') || ct.startsWith('application/jsonl')) return 'ndjson';
  if (ct.startsWith('application/msgpack') || ct.startsWith('application/x-msgpack') || ct.startsWith('application/vnd.msgpack')) return 'msgpack';
  return 'json';
}

const jsonError = (e: unknown, loc: (string | number)[], text: string): ApiError => {
  const why = (e as Error).message;
  return validationError([issue([...loc, jsonErrorOffset(text)], `JSON decode error: ${why}`, 'json_invalid')]);
};

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const NESTING_MAX = 1000;

/**
 * Where JSON text stops being valid (V8's messages do not always say). Only called after
 * JSON.parse failed, so its cost is on the error path alone.
 */
export function jsonErrorOffset(s: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  };
  const str = () => {
    i++;
    for (;;) {
      const c = s.charCodeAt(i);
      if (Number.isNaN(c) || c < 0x20) fail();
      if (c === 0x22) {
        i++;
        return;
      }
      if (c === 0x5c) {
        i++;
        const esc = s[i];
        if (esc === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 1, i + 5))) fail();
          i += 5;
        } else if (esc !== undefined && '"\\/bfnrt'.includes(esc)) i++;
        else fail();
      } else i++;
    }
  };
  const value = (depth: number): void => {
    if (depth > NESTING_MAX) fail();
    ws();
    const c = s[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (s[i] === close) {
        i++;
        return;
      }
      for (;;) {
        if (c === '{') {
          ws();
          if (s[i] !== '"') fail();
          str();
          ws();
          if (s[i] !== ':') fail();
          i++;
        }
        value(depth + 1);
        ws();
        if (s[i] === ',') i++;
        else if (s[i] === close) {
          i++;
          return;
        } else fail();
      }
    }
    if (c === '"') return str();
    for (const lit of ['true', 'false', 'null']) {
      if (s.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (NUMBER.test(s)) {
      i = NUMBER.lastIndex;
      return;
    }
    fail();
  };
  try {
    value(0);
    ws();
    if (i < s.length) fail();
    return s.length;
  } catch (at) {
    return typeof at === 'number' ? at : 0;
  }
}

/** Strings past about 128 KiB go to V8's large-object space, whose allocation costs as much as parsing them. */
const PIECE_BYTES = 64 * 1024;
const BETWEEN_OBJECTS = Buffer.from('},{');
/** Candidate cuts tried per piece before giving up: bounds the work a hostile body can cause. */
const CUT_ATTEMPTS = 4;

/**
 * A large JSON array of objects, parsed in pieces of about `pieceBytes` cut between two elements:
 * `[a},{b},{c]` -> `[a}]`, `[{b}]`, `[{c]`. A cut that falls inside a string or a nested value
 * leaves a piece that cannot parse (it ends inside that string or value); then the next `},{` is
 * tried, a few times. So either every piece parses and their elements are exactly the array's, or
 * this answers undefined and the caller parses the whole body as one string.
 */
export function parseArrayInPieces(body: Buffer, pieceBytes = PIECE_BYTES): unknown[] | undefined {
  if (body[0] !== 0x5b) return undefined;
  const out: unknown[] = [];
  for (let from = 1; ; ) {
    let cut = body.length - from > 2 * pieceBytes ? body.indexOf(BETWEEN_OBJECTS, from + pieceBytes) : -1;
    let items: unknown[] | undefined;
    for (let attempt = 0; items === undefined; attempt++) {
      try {
        items = JSON.parse(cut < 0 ? '[' + body.toString('utf8', from) : '[' + body.toString('utf8', from, cut + 1) + ']') as unknown[];
      } catch {
        if (cut < 0 || attempt === CUT_ATTEMPTS) return undefined;
        cut = body.indexOf(BETWEEN_OBJECTS, cut + 1);
      }
    }
    for (const item of items) out.push(item);
    if (cut < 0) return out;
    from = cut + 2;
  }
}

export function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw validationError([issue(['body'], 'Field required', 'missing')]);
  const text = body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw jsonError(e, ['body'], text);
  }
}

/** One value: a single event or an alert rule. */
export function decodeOne(body: Buffer, format: BodyFormat): unknown {
  if (format === 'msgpack') return decodeMsgpack(body);
  return parseJson(body);
}

/** A list of values: a batch. NDJSON: one value per non-empty line. */
export function decodeList(body: Buffer, format: BodyFormat): unknown {
  if (format === 'msgpack') return decodeMsgpack(body);
  if (format === 'json') return (body.length > 2 * PIECE_BYTES ? parseArrayInPieces(body) : undefined) ?? parseJson(body);
  const out: unknown[] = [];
  // Line by line from the bytes (a newline byte is never inside a UTF-8 sequence), so a large body
  // never becomes one large string. Blank lines are skipped, so a location counts events, as
  // validation errors do.
  for (let from = 0; from < body.length; ) {
    let end = body.indexOf(0x0a, from);
    if (end < 0) end = body.length;
    const s = body.toString('utf8', from, end).trim();
    from = end + 1;
    if (s === '') continue;
    try {
      out.push(JSON.parse(s));
    } catch (e) {
      throw jsonError(e, ['body', out.length], s);
    }
  }
  return out;
}

function decodeMsgpack(body: Buffer): unknown {
  if (body.length === 0) throw validationError([issue(['body'], 'Field required', 'missing')]);
  try {
    return unpackUntrusted(body);
  } catch (e) {
    throw validationError([issue(['body'], `msgpack decode error: ${(e as Error).message}`, 'msgpack_invalid')]);
  }
}
