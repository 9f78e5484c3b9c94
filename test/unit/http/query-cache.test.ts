import { describe, expect, it } from 'vitest';
import { QueryCache } from '../../../src/http/query-cache.js';

const setup = (shards = 2, maxEntries = 10, maxBytes = 1 << 20) => {
  const changes = new Int32Array(new SharedArrayBuffer(4 * shards));
  let computed = 0;
  const cache = new QueryCache(changes, { maxEntries, maxBytes });
  const ask = (key: string, scope: number | 'all', body = `answer ${key} #${computed + 1}`) =>
    cache.answer(key, scope, async () => {
      computed++;
      return body;
    });
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
    expect(first).toBe('maybe without the write');
    expect(await cache.answer('q', 0, async () => 'with the write')).toBe('with the write');
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
    expect(cache.get('one')).toBe('answer one #1');
    expect(cache.get('all')).toBe('answer all #2');
    expect(cache.get('never asked')).toBeUndefined();
    Atomics.add(changes, 0, 1);
    expect(cache.get('one')).toBe('answer one #1'); // shard 0 is not one it read
    expect(cache.get('all')).toBeUndefined();
    Atomics.add(changes, 1, 1);
    expect(cache.get('one')).toBeUndefined();
  });

  it('with maxEntries 0 always computes', async () => {
    const { ask, computed, cache } = setup(1, 0);
    await ask('q', 0);
    await ask('q', 0);
    expect(computed()).toBe(2);
    expect(cache.size).toBe(0);
  });
});
