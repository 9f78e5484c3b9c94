// The batch answer written into one buffer is the JSON the general path writes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DUPLICATE } from '../../../src/engine/engine.js';
import { plainAnswer } from '../../../src/http/routes.js';
import { idColumn } from '../../../src/codec/id-column.js';

describe('plainAnswer', () => {
  it('equals JSON.stringify of the statuses for ids of printable ASCII without quotes or backslashes', () => {
    const id = fc.stringMatching(/^[ !#-[\]-~]{1,12}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(id, fc.boolean()), { maxLength: 20 }), (events) => {
        const statuses = Uint8Array.from(events.map(([, dup]) => (dup ? DUPLICATE : 0)));
        const expected = JSON.stringify(events.map(([event_id, dup]) => ({ event_id, status: dup ? 'duplicate' : 'stored' })));
        expect(plainAnswer(idColumn(events.map(([i]) => i)), statuses).toString('latin1')).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });
});
