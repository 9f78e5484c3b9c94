// Single events validated in one turn of the event loop travel to their shard as one task.
import { describe, expect, it } from 'vitest';
import { IngestCoalescer } from '../../../src/http/coalescer.js';
import { ApiError } from '../../../src/errors.js';
import type { ShardClient } from '../../../src/shard/client.js';
import type { EventBatch } from '../../../src/shard/protocol.js';
import { idStrings } from '../../../src/codec/id-column.js';

const ev = (device: string, id: string) => ({ event_id: id, device_id: device, timeStamp: 1_736_935_200_000, metrics: { t: 1 }, tags: [] });

/** A fake client: shard = first char code % 2; answers DUPLICATE (1) for event ids starting with "dup". */
function fakeShards(fail?: (ids: string[]) => unknown) {
  const calls: { shard: number; ids: string[] }[] = [];
  const client = {
    shardOf: (d: string) => d.charCodeAt(0) % 2,
    async ingest(shard: number, batch: EventBatch) {
      const ids = idStrings(batch.ids);
      calls.push({ shard, ids });
      const err = fail?.(ids);
      if (err) throw err;
      return { statuses: Uint8Array.from(ids.map((id) => (id.startsWith('dup') ? 1 : 0))), alerts: [] };
    },
  };
  return { client: client as unknown as ShardClient, calls };
}

describe('IngestCoalescer', () => {
  it('sends the events of one turn as one task per shard, and answers each its own status', async () => {
    const { client, calls } = fakeShards();
    const c = new IngestCoalescer(client, () => {});
    const answers = await Promise.all([c.submit(ev('a', 'e1')), c.submit(ev('b', 'e2')), c.submit(ev('a', 'dup3')), c.submit(ev('c', 'e4'))]);
    expect(answers).toEqual([0, 0, 1, 0]);
    expect(calls.map((x) => x.ids.length).sort()).toEqual([1, 3]); // 'a' and 'c' share shard 1, 'b' is shard 0
    expect(calls.find((x) => x.shard === 1)!.ids).toEqual(['e1', 'dup3', 'e4']);
  });

  it('a later turn makes a new task', async () => {
    const { client, calls } = fakeShards();
    const c = new IngestCoalescer(client, () => {});
    await c.submit(ev('a', 'e1'));
    await c.submit(ev('a', 'e2'));
    expect(calls).toHaveLength(2);
  });

  it('retries a task refused for the device limit event by event, so only new devices are refused', async () => {
    const { client, calls } = fakeShards((ids) => (ids.length > 1 || ids[0] === 'new' ? new ApiError('TOO_MANY_DEVICES', 'full') : undefined));
    const c = new IngestCoalescer(client, () => {});
    const known = c.submit(ev('a', 'known'));
    const fresh = c.submit(ev('a', 'new'));
    await expect(known).resolves.toBe(0);
    await expect(fresh).rejects.toMatchObject({ code: 'TOO_MANY_DEVICES' });
    expect(calls.map((x) => x.ids)).toEqual([['known', 'new'], ['known'], ['new']]);
  });

  it('any other failure fails every request of the task', async () => {
    const { client } = fakeShards(() => new ApiError('SHARD_UNAVAILABLE', 'gone'));
    const c = new IngestCoalescer(client, () => {});
    const results = await Promise.allSettled([c.submit(ev('a', 'e1')), c.submit(ev('a', 'e2'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
