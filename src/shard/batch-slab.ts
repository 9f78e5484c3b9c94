// Shared memory through which the front hands a shard its batches. A batch transferred in an
// ArrayBuffer of its own is new external memory to the V8 heap of each thread it passes, and V8
// answers every 64 MiB of that with a full mark-compact, however small the heap: at 500,000
// events/s both threads collected their whole heaps several times a second for it. Instead each
// shard has one SharedArrayBuffer, handed to its thread once at start; the front writes a batch into
// a free block of it and sends only where the block is. The shard reads the batch in place and
// queues it for its log as it is (checksummed then, written with the group commit's next write);
// it answers only once that write is done, and keeps nothing of it: the engine copies every value
// into its own columns. So the block is free again once the answer is back, and not before: a
// block reused while its record waits to be written would put other bytes under its checksum, and
// replay stops at a corrupt record.
//
// Blocks are powers of two from MIN_BLOCK_BYTES, carved from the slab's start as needed and kept
// by size once given back; when no block is out the slab starts over, so a change in batch sizes
// does not leave it carved for the old ones. A batch that finds no room is transferred as before.

const MIN_BLOCK_SHIFT = 10;

export class BatchSlab {
  readonly buffer: SharedArrayBuffer;
  /** Offsets of free blocks, by size class (log2 of their size). */
  private free: number[][] = [];
  /** The end of the part of the slab cut into blocks. */
  private carved = 0;
  /** Offsets of the blocks taken and not yet given back. */
  private readonly out = new Set<number>();

  constructor(bytes: number) {
    this.buffer = new SharedArrayBuffer(bytes);
  }

  /** Blocks taken and not yet given back. */
  get taken(): number {
    return this.out.size;
  }

  /** The offset of a free block of at least `bytes` (a multiple of its size), or -1 when none fits. */
  take(bytes: number): number {
    const cls = Math.max(MIN_BLOCK_SHIFT, 32 - Math.clz32(Math.max(bytes, 1) - 1));
    let at = this.free[cls]?.pop();
    if (at === undefined) {
      const size = 2 ** cls;
      // Aligned to its own size: 8-byte columns at a multiple of 8 stay aligned in the slab.
      const start = Math.ceil(this.carved / size) * size;
      if (start + size > this.buffer.byteLength) return -1;
      at = start;
      this.carved = start + size;
    }
    this.out.add(at);
    return at;
  }

  /** Gives back the block at `at`, taken for `bytes`; nothing may read or write it any more. */
  give(at: number, bytes: number): void {
    const cls = Math.max(MIN_BLOCK_SHIFT, 32 - Math.clz32(Math.max(bytes, 1) - 1));
    // A block given twice would be handed to two batches at once (or the slab reset under one).
    if (!this.out.has(at) || at % 2 ** cls !== 0 || at + 2 ** cls > this.carved) throw new RangeError(`BatchSlab.give: no block of ${bytes} bytes was taken at ${at}`);
    this.out.delete(at);
    if (this.out.size === 0) {
      this.free = [];
      this.carved = 0;
      return;
    }
    (this.free[cls] ??= []).push(at);
  }
}
