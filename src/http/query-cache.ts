// Answers of read queries (recent events, aggregates, search), kept until a shard they read
// changes. Dashboards ask the same questions over and over; between two writes to the shards a
// query reads, the answer cannot change, so it is served again without crossing to a shard thread.
//
// Freshness: every shard counts its state changes in a shared Int32Array (Atomics.add after it
// applies stored events, and when it recovers). An answer is stored with the counts read *before*
// its query was sent, and served only while they are unchanged. A write acknowledged to a client
// was counted before its answer left the shard, so a read after it never gets an older answer; a
// write that lands while a query runs leaves the stored counts behind, so that answer is not
// served again. Bounded by entries and bytes; the oldest-inserted goes first.

export interface QueryCacheOptions {
  /** Entries kept; 0 turns the cache off. */
  maxEntries: number;
  /** Bytes of answers kept (an answer larger than a quarter of it is not kept). */
  maxBytes: number;
}

interface Entry {
  scope: ShardScope;
  stamp: number;
  body: Buffer;
}

/** Which shards a query reads: one, or all of them. */
export type ShardScope = number | 'all';

export class QueryCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    /** Per shard: how many times its state changed (written by the shard threads). */
    private readonly changes: Int32Array,
    private readonly options: QueryCacheOptions,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The change count of the shards in scope (for 'all', their sum: counts only grow, so any change moves it). */
  stamp(scope: ShardScope): number {
    if (scope !== 'all') return Atomics.load(this.changes, scope);
    let sum = 0;
    for (let i = 0; i < this.changes.length; i++) sum += Atomics.load(this.changes, i);
    return sum;
  }

  /**
   * A still valid answer to key, or undefined. Only answered queries are ever kept, so a request
   * may be looked up by its raw text before it is parsed and validated.
   */
  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined || hit.stamp !== this.stamp(hit.scope)) return undefined;
    this.hits++;
    return hit.body;
  }

  /** The answer to key, computed now or still valid from before. */
  async answer(key: string, scope: ShardScope, compute: () => Promise<string>): Promise<Buffer> {
    if (this.options.maxEntries === 0) return Buffer.from(await compute());
    const stamp = this.stamp(scope);
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.scope === scope && hit.stamp === stamp) {
      this.hits++;
      return hit.body;
    }
    this.misses++;
    const body = ownBytes(await compute());
    this.store(key, scope, stamp, body);
    return body;
  }

  private store(key: string, scope: ShardScope, stamp: number, body: Buffer): void {
    const size = body.length + key.length;
    if (size > this.options.maxBytes / 4) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.bytes -= old.body.length + key.length;
      this.entries.delete(key);
    }
    this.entries.set(key, { scope, stamp, body });
    this.bytes += size;
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.options.maxEntries && this.bytes <= this.options.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.body.length + k.length;
    }
  }
}

/**
 * A string's UTF-8 bytes in memory of their own. Buffer.from puts a small string in a slice of
 * Node's shared 8 KiB pool, which a kept answer would hold whole, uncounted.
 */
function ownBytes(s: string): Buffer {
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(s));
  bytes.write(s);
  return bytes;
}
