/** SharedArrayBuffer where the platform has it (ring.copyIn). */
const SHARED: typeof SharedArrayBuffer | undefined =
  typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer : undefined;
const BOUNCE_BYTES = 65536;
const BOUNCE = new Uint8Array(BOUNCE_BYTES + 8);

/** The first storage a ring allocates (or its capacity, if smaller). */
const FIRST_STORAGE = 4096;

/**
 * A power-of-two byte ring for a socket's send or receive queue. `capacity` is the
 * queue's limit (the socket buffer size); the storage behind it is allocated on first
 * write, starts small and doubles as the data needs room, so an idle socket costs
 * nothing and a short exchange (a request, a reply) never pays for a full buffer: a
 * zero-filled 256 KiB per ring was most of the CPU time of short connections (the
 * memset, and the full GCs that much fresh external memory brings). Bytes can also be
 * written past the end of the queued data (out-of-order segments) and committed later.
 */
export class ByteRing {
  /** The queue's limit (a power of two); `grow` raises it. */
  capacity: number;
  private buf: Uint8Array | undefined;
  /** buf.length - 1 (0 while there is no storage). */
  private mask = 0;
  /** Index of the first queued byte in `buf`. */
  private head = 0;
  /** Queued bytes. */
  length = 0;

  constructor(size: number) {
    let cap = 1024;
    while (cap < size) cap *= 2;
    this.capacity = cap;
  }

  get free(): number {
    return this.capacity - this.length;
  }

  /** Raises the limit to the power of two at or above `size` (never lowers it); storage still grows on demand. */
  grow(size: number): void {
    let cap = this.capacity;
    while (cap < size) cap *= 2;
    this.capacity = cap;
  }

  get allocated(): boolean {
    return this.buf !== undefined;
  }

  /** Bytes of storage allocated now (at most `capacity`). */
  get storageBytes(): number {
    return this.buf?.length ?? 0;
  }

  /**
   * Storage that holds every byte up to `end` past the head. Growing keeps all of the
   * old storage in ring order from the head (queued bytes and any written past them),
   * so offsets stay valid; the head moves to 0.
   */
  private storage(end: number): Uint8Array {
    const old = this.buf;
    if (old !== undefined && end <= old.length) return old;
    let size = old === undefined ? Math.min(FIRST_STORAGE, this.capacity) : old.length;
    while (size < end && size < this.capacity) size *= 2;
    const buf = new Uint8Array(size);
    if (old !== undefined) {
      buf.set(old.subarray(this.head));
      buf.set(old.subarray(0, this.head), old.length - this.head);
    }
    this.buf = buf;
    this.mask = size - 1;
    this.head = 0;
    return buf;
  }

  /** Appends up to `n` bytes of src[srcOff..]; returns how many it took. */
  write(src: Uint8Array, srcOff = 0, n = src.length - srcOff): number {
    n = Math.min(n, this.free);
    if (n <= 0) return 0;
    this.copyIn(this.length, src, srcOff, n);
    this.length += n;
    return n;
  }

  /** Writes src[srcOff, srcOff+n) at `offset` bytes past the head; does not change `length`. */
  writeAt(offset: number, src: Uint8Array, srcOff: number, n: number): void {
    this.copyIn(offset, src, srcOff, n);
  }

  private copyIn(offset: number, src: Uint8Array, srcOff: number, n: number): void {
    const buf = this.storage(offset + n);
    const at = (this.head + offset) & this.mask;
    if (SHARED !== undefined && ((src.byteOffset + srcOff - at) & 7) !== 0 && src.buffer instanceof SHARED) {
      // Data from a SharedArrayBuffer (a frame ring drained in place): V8 copies out of
      // shared memory word by word only when source and destination agree mod 8, else
      // byte by byte, 5-10x slower (measured 0.5-0.9 vs 4-17 GB/s). A TCP payload sits at
      // 2 mod 8 in a ring record; its place in the stream is anything. Copy it first into
      // a bounce buffer at its own alignment (fast), then from there (unshared: memmove).
      for (let done = 0; done < n; ) {
        const k = Math.min(n - done, BOUNCE_BYTES);
        const from = srcOff + done;
        const so = (src.byteOffset + from) & 7;
        BOUNCE.set(src.subarray(from, from + k), so);
        this.copyIn(offset + done, BOUNCE.subarray(so, so + k), 0, k);
        done += k;
      }
      return;
    }
    const first = Math.min(n, buf.length - at);
    buf.set(first === src.length && srcOff === 0 ? src : src.subarray(srcOff, srcOff + first), at);
    if (first < n) buf.set(src.subarray(srcOff + first, srcOff + n), 0);
  }

  /** Makes `n` bytes already written with writeAt part of the queue. */
  commit(n: number): void {
    this.length += n;
  }

  /** Copies n bytes starting `offset` past the head into dst[dstOff..] without consuming them. */
  peek(offset: number, dst: Uint8Array, dstOff: number, n: number): void {
    const buf = this.storage(offset + n);
    const at = (this.head + offset) & this.mask;
    const first = Math.min(n, buf.length - at);
    dst.set(buf.subarray(at, at + first), dstOff);
    if (first < n) dst.set(buf.subarray(0, n - first), dstOff + first);
  }

  /** Copies out and consumes up to dst.length bytes; returns the count. */
  read(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.length);
    if (n === 0) return 0;
    this.peek(0, dst, 0, n);
    this.consume(n);
    return n;
  }

  /** Drops n bytes from the head. */
  consume(n: number): void {
    this.head = (this.head + n) & this.mask;
    this.length -= n;
  }

  /**
   * Moves the (empty) queue's start so that the next byte written lands at the same
   * alignment mod 8 as `byteOffset`, a source's offset in its buffer. Only when the queue
   * is empty and nothing is written past it (the caller knows: no out-of-order data). A
   * TCP payload in a frame ring record sits at 2 or 6 mod 8; from a SharedArrayBuffer, V8
   * copies whole words only when both sides agree mod 8 (else copyIn goes through the
   * bounce buffer: two copies). Full-sized segments are multiples of 8 bytes (1448,
   * 65160), so one alignment holds for a whole burst.
   */
  alignTo(byteOffset: number): void {
    if (this.length !== 0 || this.buf === undefined) return;
    this.head = ((this.head & ~7) | (byteOffset & 7)) & this.mask;
  }

  /** Frees the storage (the queue must be empty and nothing written past it). */
  release(): void {
    if (this.length === 0) {
      this.buf = undefined;
      this.mask = 0;
      this.head = 0;
    }
  }
}
