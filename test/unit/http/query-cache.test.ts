import { describe, expect, it } from 'vitest';
import { QueryCache } from '../../../src/http/query-cache.js';

const setup = (shards = 2, maxEntries = 10, maxBytes = 1 << 20) => {
  const changes = new Int32Array(new SharedArrayBuffer(4 * shards));
  let computed = 0;
  const cache = new QueryCache(changes, { maxEntries, maxBytes });
  const ask = async (key: string, scope: number | 'all', body = `answer ${key} #${computed + 1}`) =>
    String(
      await cache.answer(key, scope, async () => {
        computed++;
        return body;
      }),
    );
  return { changes, cache, ask, computed: () => computed };
};

describe('QueryCache', () => {
  it('serves an answer again while the shard it read is unchanged', async () => {
    const { cache, ask, computed } = setup();
    expect(await ask('q', 0)).toBe('answer q #1');
    expect(await ask('q', 0)).toBe('answer q #1');
    expect(computed()).toBe(1);
    expect([cache.hits, cache.misses]).toEqual([1, 1]);
  });

  it('recomputes once that shard changed, and only that shard matters for a one-shard query', async () => {
    const { changes, ask, computed } = setup();
    await ask('q', 0);
    Atomics.add(changes, 1, 1);
    await ask('q', 0);
    expect(computed()).toBe(1);
    Atomics.add(changes, 0, 1);
    expect(await ask('q', 0)).toBe('answer q #2');
  });

  it('a query over all shards is recomputed when any shard changed', async () => {
    const { changes, ask, computed } = setup(3);
    await ask('s', 'all');
    Atomics.add(changes, 2, 1);
    await ask('s', 'all');
    expect(computed()).toBe(2);
    await ask('s', 'all');
    expect(computed()).toBe(2);
  });

  it('does not keep an answer stamped before a write that landed while it was computed', async () => {
    const { changes, cache } = setup();
    const first = await cache.answer('q', 0, async () => {
      Atomics.add(changes, 0, 1); // a write applied while the query ran
      return 'maybe without the write';
    });
    expect(String(first)).toBe('maybe without the write');
    expect(String(await cache.answer('q', 0, async () => 'with the write'))).toBe('with the write');
  });

  it('keeps at most maxEntries, dropping the oldest first', async () => {
    const { ask, computed, cache } = setup(1, 2);
    await ask('a', 0);
    await ask('b', 0);
    await ask('c', 0);
    expect(cache.size).toBe(2);
    await ask('a', 0); // was dropped
    expect(computed()).toBe(4);
    await ask('c', 0);
    expect(computed()).toBe(4);
  });

  it('keeps at most maxBytes, and never an answer larger than a quarter of it', async () => {
    const { ask, computed, cache } = setup(1, 100, 400);
    await ask('big', 0, 'x'.repeat(200));
    await ask('big', 0, 'x'.repeat(200));
    expect(computed()).toBe(2);
    for (const k of ['a', 'b', 'c', 'd', 'e']) await ask(k, 0, 'y'.repeat(90));
    expect(cache.size).toBeLessThanOrEqual(4);
    expect(cache.size).toBeGreaterThan(0);
  });

  it('get() checks an entry against the shards it was computed from', async () => {
    const { changes, cache, ask } = setup(2);
    await ask('one', 1);
    await ask('all', 'all');
    expect(String(cache.get('one'))).toBe('answer one #1');
    expect(String(cache.get('all'))).toBe('answer all #2');
    expect(cache.get('never asked')).toBeUndefined();
    Atomics.add(changes, 0, 1);
    expect(String(cache.get('one'))).toBe('answer one #1'); // shard 0 is not one it read
    expect(cache.get('all')).toBeUndefined();
    Atomics.add(changes, 1, 1);
    expect(cache.get('one')).toBeUndefined();
  });

  it('keeps answers as UTF-8 bytes, and counts their bytes against maxBytes', async () => {
    const { cache } = setup(1, 100, 4 * 21);
    const answer = '["r\u00e4um:\u00fc"]'; // 10 characters, 12 bytes
    expect(JSON.parse(String(await cache.answer('k', 0, async () => answer)))).toEqual(['räum:ü']);
    expect(cache.get('k')).toEqual(Buffer.from(answer, 'utf8'));
    expect(cache.get('k')!.length).toBe(12);
    // In memory of its own: not a slice of a pool that the entry would keep whole, uncounted.
    expect(cache.get('k')!.buffer.byteLength).toBe(12);
    // 12 bytes + a 10-character key is more than a quarter of 84 bytes (10 characters would fit): not kept.
    await cache.answer('0123456789', 0, async () => answer);
    expect(cache.get('0123456789')).toBeUndefined();
  });

  it('with maxEntries 0 always computes', async () => {
    const { ask, computed, cache } = setup(1, 0);
    await ask('q', 0);
    await ask('q', 0);
    expect(computed()).toBe(2);
    expect(cache.size).toBe(0);
  });
});
