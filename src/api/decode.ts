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
  if (format === 'json') return parseJson(body);
  const out: unknown[] = [];
  const text = body.toString('utf8');
  // Blank lines are skipped, so a location counts events, as validation errors do.
  for (const raw of text.split('\n')) {
    const s = raw.trim();
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
