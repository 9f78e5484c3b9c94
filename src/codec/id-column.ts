// Event ids as columns of code units instead of a string each. An id is looked at a few times on
// its way to a ring (hashed, compared, copied into the ring's arena) and never needed as a string
// unless an alert names it; as strings, a 1,000-event batch made a thousand of them on the HTTP
// thread, packed them, and made them again on the shard thread (and on each replay thread, for the
// events of other devices too). Columns are copied as bytes instead.
import { latin1 } from './latin1.js';

/** UTF-16 code units, one byte each while every one of them is below 256. */
export type IdChars = Uint8Array | Uint16Array;

/** A list of event ids: id i is chars[ends[i - 1] .. ends[i]) (from 0 for the first). */
export interface IdColumn {
  chars: IdChars;
  ends: Uint32Array;
}

/** The string of the code units chars[from..to). */
export function charsString(chars: IdChars, from: number, to: number): string {
  // One byte per character: Buffer's latin1 decoding makes the string in one native step.
  if (chars.BYTES_PER_ELEMENT === 1) return latin1(chars as Uint8Array, from, to);
  return String.fromCharCode.apply(null, chars.subarray(from, to) as unknown as number[]);
}

/** Ids as a column: bytes when every code unit fits one. */
export function idColumn(ids: readonly string[]): IdColumn {
  let total = 0;
  let wide = false;
  for (const id of ids) {
    total += id.length;
    for (let k = 0; k < id.length && !wide; k++) wide = id.charCodeAt(k) > 0xff;
  }
  const chars = wide ? new Uint16Array(total) : new Uint8Array(total);
  const ends = new Uint32Array(ids.length);
  let at = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    for (let k = 0; k < id.length; k++) chars[at++] = id.charCodeAt(k);
    ends[i] = at;
  }
  return { chars, ends };
}

/** Where id i starts in the column's chars. */
const idFrom = (c: IdColumn, i: number): number => (i === 0 ? 0 : c.ends[i - 1]!);

/** Id i as a string. */
export const idAt = (c: IdColumn, i: number): string => charsString(c.chars, idFrom(c, i), c.ends[i]!);

/** Every id as a string. */
export function idStrings(c: IdColumn): string[] {
  const out = new Array<string>(c.ends.length);
  for (let i = 0; i < out.length; i++) out[i] = idAt(c, i);
  return out;
}
