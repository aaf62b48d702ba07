/**
 * Copies of received payloads carved out of shared slabs, like Node's Buffer pool: one
 * ArrayBuffer allocation per slab instead of one per datagram (which dominated the UDP
 * receive path). Copies never overlap and a slab is never reused, so handing the views
 * to applications is safe; a slab is freed when the last view of it is collected.
 */
export class SlabCopier {
  private slab: Uint8Array;
  private used = 0;

  constructor(
    private readonly slabSize = 131_072,
    /** Copies larger than this get their own buffer. */
    private readonly maxPooled = 16_384,
  ) {
    this.slab = new Uint8Array(slabSize);
  }

  copy(src: Uint8Array): Uint8Array {
    const n = src.length;
    if (n > this.maxPooled) return src.slice();
    // Keep copies 8-byte aligned, so word-wise checksums over them stay on the fast path.
    if (this.used + n > this.slabSize) {
      this.slab = new Uint8Array(this.slabSize);
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + n);
    out.set(src);
    this.used = (this.used + n + 7) & ~7;
    return out;
  }
}
