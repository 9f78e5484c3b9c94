// Parsing a large JSON array in pieces must give exactly what one JSON.parse gives, or give up.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseArrayInPieces } from '../../src/api/decode.js';

// Strings full of the separator the pieces are cut at, quotes and escapes.
const tricky = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('},{', '"},{"', '\\\\},{', '}],[{', '{', '}', 'é},{ü', '\ud83d\ude00'));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, tricky, fc.integer(), fc.constant(null), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(tricky, tie('v'), { maxKeys: 3 })),
})).v;
const element = fc.oneof({ weight: 5, arbitrary: fc.dictionary(tricky, value, { maxKeys: 4 }) }, { weight: 1, arbitrary: value });

describe('parseArrayInPieces', () => {
  it('equals JSON.parse of the whole body for any array, at any piece size', () => {
    fc.assert(
      fc.property(fc.array(element, { maxLength: 30 }), fc.integer({ min: 1, max: 64 }), (arr, pieceBytes) => {
        const body = Buffer.from(JSON.stringify(arr));
        const pieces = parseArrayInPieces(body, pieceBytes);
        if (pieces !== undefined) expect(pieces).toEqual(JSON.parse(body.toString()));
      }),
      { numRuns: 3_000 },
    );
  });

  it('never answers for a body JSON.parse refuses, and answers what it would for one it takes', () => {
    fc.assert(
      fc.property(fc.array(element, { minLength: 1, maxLength: 20 }), fc.nat(), fc.nat(), fc.string({ maxLength: 4 }), fc.integer({ min: 1, max: 32 }), (arr, a, b, insert, pieceBytes) => {
        const text = JSON.stringify(arr);
        const at = a % text.length;
        // Through bytes, as a request body arrives (a lone surrogate becomes U+FFFD both ways).
        const body = Buffer.from(text.slice(0, at) + insert + text.slice(at + (b % 4)));
        let whole: unknown;
        let ok = true;
        try {
          whole = JSON.parse(body.toString('utf8'));
        } catch {
          ok = false;
        }
        const pieces = parseArrayInPieces(body, pieceBytes);
        if (!ok) expect(pieces).toBeUndefined();
        else if (pieces !== undefined) expect(pieces).toEqual(whole);
      }),
      { numRuns: 3_000 },
    );
  });

  it('cuts a batch of plain events into pieces and keeps every event', () => {
    const events = Array.from({ length: 2000 }, (_, i) => ({ event_id: `e${i}`, device_id: 'd', timeStamp: '2025-01-01T00:00:00Z', metrics: { t: i }, tags: ['a},{b'] }));
    const body = Buffer.from(JSON.stringify(events));
    expect(body.length).toBeGreaterThan(2 * 64 * 1024);
    expect(parseArrayInPieces(body)).toEqual(events);
    expect(parseArrayInPieces(body, 100)).toEqual(events);
  });
});
