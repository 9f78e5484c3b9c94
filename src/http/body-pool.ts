// Buffers for request bodies, reused from request to request. Every buffer V8 sees allocated
// counts as external memory, and each 64 MiB of it starts a full mark-compact of the thread's heap,
// however small the heap: a stream of 170 KB batch bodies made the HTTP thread collect its whole
// heap several times a second (`--trace-gc`: "GC in old space requested"), with concurrent marking
// on V8's helper threads on top. A body kept here is allocated once.
//
// Sizes are powers of two from MIN_POOLED_BYTES, so a buffer fits any body of its class; bodies
// smaller than that (single events) cost too little to pool, larger ones than MAX_POOLED_BYTES
// are rare enough to allocate.

const MIN_POOLED_BYTES = 16 * 1024;
const MAX_POOLED_BYTES = 8 * 1024 * 1024;

export class BodyPool {
  /** Free buffers by size class (log2 of their size). */
  private readonly free: Buffer[][] = [];
  private keptBytes = 0;
  /** Buffers taken and not yet given back: one given twice would be two requests' body at once. */
  private readonly out = new WeakSet<Buffer>();

  constructor(
    /** Bytes of free buffers kept at most; what would exceed it is left to the collector. */
    private readonly maxKeptBytes: number,
  ) {}

  /** Bytes held in free buffers. */
  get kept(): number {
    return this.keptBytes;
  }

  /** A buffer of at least `size` bytes, of unspecified content; undefined: not a size this pools. */
  take(size: number): Buffer | undefined {
    if (size < MIN_POOLED_BYTES || size > MAX_POOLED_BYTES) return undefined;
    const cls = 32 - Math.clz32(size - 1);
    let buf = this.free[cls]?.pop();
    if (buf === undefined) buf = Buffer.allocUnsafeSlow(2 ** cls);
    else this.keptBytes -= buf.length;
    this.out.add(buf);
    return buf;
  }

  /** Returns a buffer from take(); nothing may use it any more. */
  give(buf: Buffer): void {
    if (!this.out.delete(buf)) throw new RangeError(`BodyPool.give: this buffer of ${buf.length} bytes is not out of this pool (given twice, or never taken)`);
    if (this.keptBytes + buf.length > this.maxKeptBytes) return;
    const cls = 31 - Math.clz32(buf.length);
    (this.free[cls] ??= []).push(buf);
    this.keptBytes += buf.length;
  }
}
