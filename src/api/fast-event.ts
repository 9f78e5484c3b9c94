// The hot path of event validation. The zod schema in schemas.ts is the definition of a valid
// event (and what explains a refusal, FastAPI-style, and feeds the OpenAPI document); this is the
// same rule written as straight-line checks, because it runs once per ingested event and zod costs
// several times more. A property test holds the two equal: this accepts exactly what the schema
// accepts, with the same result. Anything refused here goes to the schema for its explanation.
import type { ApiLimits, EventIn } from './schemas.js';
import { PRINTABLE, RESERVED_NAMES } from './schemas.js';
import { parseTimeMs } from '../time.js';

/** PRINTABLE and well-formed, as a loop: a surrogate sends the string to the exact check. */
function isPrintable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
    if (c >= 0xd800 && c <= 0xdfff) return PRINTABLE.test(s) && s.isWellFormed();
  }
  return true;
}

const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length >= 1 && v.length <= max && isPrintable(v);

/** What z.object takes: any object but an array. */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What z.record takes: a plain object (its prototype is Object.prototype or null). */
const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (!isObject(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

const NO_TAGS: string[] = [];

/** The validated event, or undefined when the schema would refuse it. */
export function fastEvent(v: unknown, l: ApiLimits): EventIn | undefined {
  if (!isObject(v)) return undefined;
  const eventId = v.event_id;
  const deviceId = v.device_id;
  if (!isText(eventId, l.maxIdLength) || !isText(deviceId, l.maxIdLength)) return undefined;
  const ts = v.timeStamp;
  if (typeof ts !== 'string' && typeof ts !== 'number') return undefined;
  const timeStamp = parseTimeMs(ts);
  if (timeStamp === undefined) return undefined;
  const metrics = v.metrics;
  if (!isPlainObject(metrics) || Object.hasOwn(metrics, '__proto__')) return undefined;
  const names = Object.keys(metrics);
  if (names.length > l.maxMetricsPerEvent) return undefined;
  for (const name of names) {
    if (!isText(name, l.maxMetricNameLength) || RESERVED_NAMES.has(name)) return undefined;
    const x = metrics[name];
    if (typeof x !== 'number' || !Number.isFinite(x)) return undefined;
  }
  let tags = v.tags;
  if (tags === undefined) tags = NO_TAGS;
  else {
    if (!Array.isArray(tags) || tags.length > l.maxTagsPerEvent) return undefined;
    for (const tag of tags) if (!isText(tag, l.maxTagLength)) return undefined;
  }
  return { event_id: eventId, device_id: deviceId, timeStamp, metrics: metrics as Record<string, number>, tags: tags as string[] };
}
