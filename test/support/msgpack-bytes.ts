// Hand-built msgpack, for bodies an encoder would never write: a key in any string format, maps and
// arrays in their wider formats, extension values, bytes no decoder accepts.
export type Bytes = number[];
/** 'fix' where the format has a fix variant and the length fits it; else the width of the length. */
export type LengthFormat = 'fix' | 8 | 16 | 32;

const utf8 = new TextEncoder();

function be(n: number, bytes: 1 | 2 | 4): Bytes {
  return bytes === 1 ? [n & 0xff] : bytes === 2 ? [(n >>> 8) & 0xff, n & 0xff] : [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function header(length: number, format: LengthFormat, fix: { base: number; max: number } | null, sized: { 8?: number; 16: number; 32: number }): Bytes {
  if (format === 'fix' && fix && length <= fix.max) return [fix.base + length];
  if ((format === 'fix' || format === 8) && sized[8] !== undefined && length < 0x100) return [sized[8], ...be(length, 1)];
  if (format !== 32 && length < 0x10000) return [sized[16], ...be(length, 2)];
  return [sized[32], ...be(length, 4)];
}

/** A string from text (UTF-8) or from raw bytes (which need not be UTF-8). */
export function str(s: string | Uint8Array, format: LengthFormat = 'fix'): Bytes {
  const b = typeof s === 'string' ? utf8.encode(s) : s;
  return [...header(b.length, format, { base: 0xa0, max: 31 }, { 8: 0xd9, 16: 0xda, 32: 0xdb }), ...b];
}

export function bin(b: Uint8Array, format: 8 | 16 | 32 = 8): Bytes {
  return [...header(b.length, format, null, { 8: 0xc4, 16: 0xc5, 32: 0xc6 }), ...b];
}

export function arr(items: Bytes[], format: LengthFormat = 'fix'): Bytes {
  return [...header(items.length, format, { base: 0x90, max: 15 }, { 16: 0xdc, 32: 0xdd }), ...items.flat()];
}

export function map(entries: [Bytes, Bytes][], format: LengthFormat = 'fix'): Bytes {
  return [...header(entries.length, format, { base: 0x80, max: 15 }, { 16: 0xde, 32: 0xdf }), ...entries.flat(2)];
}

/** An extension value: fixext where the data's size has one, else ext 8/16/32. */
export function ext(type: number, data: Uint8Array): Bytes {
  const fixext = [1, 2, 4, 8, 16].indexOf(data.length);
  const t = type & 0xff;
  if (fixext >= 0) return [0xd4 + fixext, t, ...data];
  if (data.length < 0x100) return [0xc7, data.length, t, ...data];
  if (data.length < 0x10000) return [0xc8, ...be(data.length, 2), t, ...data];
  return [0xc9, ...be(data.length, 4), t, ...data];
}

export const nil: Bytes = [0xc0];

/** A non-negative integer below 2^32 in its shortest format. */
export function uint(n: number): Bytes {
  if (n < 0x80) return [n];
  if (n < 0x100) return [0xcc, n];
  if (n < 0x10000) return [0xcd, ...be(n, 2)];
  return [0xce, ...be(n, 4)];
}

export function bytes(...parts: Bytes[]): Buffer {
  return Buffer.from(parts.flat());
}
