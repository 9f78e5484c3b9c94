// ShardClient starts its piscina pools from the compiled worker (dist/, built by the global setup),
// so this test imports the compiled client.
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { ShardClient as SourceClient, ShardClientOptions } from '../../../src/shard/client.js';

const { ShardClient } = (await import(new URL('../../../dist/shard/client.js', import.meta.url).href)) as { ShardClient: typeof SourceClient };
const { BatchBuilder, unpackBatch } = (await import(new URL('../../../dist/shard/protocol.js', import.meta.url).href)) as typeof import('../../../src/shard/protocol.js');

/** A batch of `n` events of one device, ids from `first` on. */
function batchOf(n: number, first: number) {
  const b = new BatchBuilder();
  for (let i = 0; i < n; i++) b.add(i, 'dev-1', `ev-${first + i}`, 1_700_000_000_000 + first + i, { temp: i }, ['room:1']);
  return unpackBatch(b.finish());
}

/** Blocks of shard `i`'s slab taken and not given back. */
const slabTaken = (client: SourceClient, i: number): number => (client as unknown as { slabs: { taken: number }[] }).slabs[i]!.taken;

const memoryShard: ShardClientOptions['shard'] = (index) => ({
  index,
  limits: { ringCapacity: 100, rawRetentionMs: 86_400_000, rollupRetentionMs: 86_400_000 },
});

/** The threads of each shard's pool (piscina's own list). */
const threadsOf = (client: SourceClient): Worker[][] => (client as unknown as { pools: { threads: Worker[] }[] }).pools.map((p) => p.threads);

describe('ShardClient', () => {
  it("gives each shard thread's heap the young generation it is told, and V8's own without", async () => {
    const sized = new ShardClient({ shards: 2, queueMax: 8, shard: (index) => ({ ...memoryShard(index), youngGenerationMb: 10 }) });
    const plain = new ShardClient({ shards: 1, queueMax: 8, shard: memoryShard });
    try {
      // A task answered means the thread is up.
      await Promise.all([sized.all({ op: 'stats' }), plain.all({ op: 'stats' })]);
      const sizedThreads = threadsOf(sized).flat();
      expect(sizedThreads).toHaveLength(2);
      for (const t of sizedThreads) expect(t.resourceLimits?.maxYoungGenerationSizeMb).toBe(10);
      expect(threadsOf(plain)[0]![0]!.resourceLimits?.maxYoungGenerationSizeMb).not.toBe(10);
    } finally {
      await Promise.all([sized.close(), plain.close()]);
    }
  });

  it('gives a batch its block back whether the shard stored it or its queue refused it', async () => {
    const client = new ShardClient({ shards: 1, queueMax: 1, shard: memoryShard });
    try {
      await client.all({ op: 'stats' });
      // One task runs, one waits, the rest are refused at once: each after its batch took a block.
      const outcomes = await Promise.allSettled(Array.from({ length: 12 }, (_, k) => client.ingest(0, batchOf(50, k * 50))));
      const refused = outcomes.filter((o) => o.status === 'rejected');
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) expect((r as PromiseRejectedResult).reason.code).toBe('OVERLOADED');
      const stored = outcomes.filter((o) => o.status === 'fulfilled');
      expect(stored.length).toBeGreaterThan(0);
      for (const o of stored) expect([...(o as PromiseFulfilledResult<{ statuses: Uint8Array }>).value.statuses]).toEqual(new Array(50).fill(0));
      expect(slabTaken(client, 0)).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('never hands out again a block whose task the end of the pools cut off (its thread may still read it)', async () => {
    const client = new ShardClient({ shards: 1, queueMax: 64, shard: memoryShard });
    await client.all({ op: 'stats' });
    const inFlight = Array.from({ length: 8 }, (_, k) => client.ingest(0, batchOf(50, k * 50)));
    expect(slabTaken(client, 0)).toBe(8);
    const settled = Promise.allSettled(inFlight);
    await client.close();
    const outcomes = await settled;
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    expect(slabTaken(client, 0)).toBe(8);
  });
});
