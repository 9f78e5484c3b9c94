import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { charsString, idAt, idColumn, idStrings } from '../../../src/codec/id-column.js';

describe('idColumn', () => {
  it('gives back every id as it was, in one byte a code unit when all fit, else two', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(...(['binary', 'grapheme-ascii', 'grapheme'] as const).map((unit) => fc.string({ unit, maxLength: 8 }))), { maxLength: 20 }), (ids) => {
        const c = idColumn(ids);
        expect(idStrings(c)).toEqual(ids);
        ids.forEach((id, i) => expect(idAt(c, i)).toBe(id));
        const wide = ids.some((id) => [...id].some((ch) => ch.charCodeAt(0) > 0xff || ch.length > 1));
        expect(c.chars.BYTES_PER_ELEMENT).toBe(wide ? 2 : 1);
        expect(c.chars.length).toBe(ids.reduce((n, id) => n + id.length, 0));
      }),
      { numRuns: 500 },
    );
  });

  it('reads a slice of code units as the string of those units', () => {
    expect(charsString(Uint8Array.from([0x61, 0xe9, 0x62]), 1, 3)).toBe('éb');
    expect(charsString(Uint16Array.from('x🚀y', (c) => c.charCodeAt(0)), 0, 0)).toBe('');
    const units = Uint16Array.from({ length: 4 }, (_, k) => 'x🚀y'.charCodeAt(k));
    expect(charsString(units, 1, 3)).toBe('🚀');
    expect(idColumn([]).ends.length).toBe(0);
  });
});
