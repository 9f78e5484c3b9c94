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

const jsonError = (e: unknown, loc: (string | number)[]): ApiError => {
  const why = (e as Error).message;
  const at = /position (\d+)/.exec(why);
  return validationError([issue(at ? [...loc, Number(at[1])] : loc, `JSON decode error: ${why}`, 'json_invalid')]);
};

export function parseJson(body: Buffer): unknown {
  if (body.length === 0) throw validationError([issue(['body'], 'Field required', 'missing')]);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw jsonError(e, ['body']);
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
  let line = 0;
  for (const raw of text.split('\n')) {
    const s = raw.trim();
    if (s !== '') {
      try {
        out.push(JSON.parse(s));
      } catch (e) {
        throw jsonError(e, ['body', line]);
      }
    }
    line++;
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
