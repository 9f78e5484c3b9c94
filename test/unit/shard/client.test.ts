// ShardClient starts its piscina pools from the compiled worker (dist/, built by the global setup),
// so this test imports the compiled client.
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { ShardClient as SourceClient, ShardClientOptions } from '../../../src/shard/client.js';

const { ShardClient } = (await import(new URL('../../../dist/shard/client.js', import.meta.url).href)) as { ShardClient: typeof SourceClient };

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
});
