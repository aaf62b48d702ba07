/**
 * A power-of-two byte ring for a socket's send or receive queue. The storage is
 * allocated on first write so idle sockets cost nothing; bytes can also be written
 * past the end of the queued data (out-of-order segments) and committed later.
 */
export class ByteRing {
  readonly capacity: number;
  private readonly mask: number;
  private buf: Uint8Array | undefined;
  /** Index of the first queued byte in `buf`. */
  private head = 0;
  /** Queued bytes. */
  length = 0;

  constructor(size: number) {
    let cap = 1024;
    while (cap < size) cap *= 2;
    this.capacity = cap;
    this.mask = cap - 1;
  }

  get free(): number {
    return this.capacity - this.length;
  }

  get allocated(): boolean {
    return this.buf !== undefined;
  }

  private storage(): Uint8Array {
    if (this.buf === undefined) this.buf = new Uint8Array(this.capacity);
    return this.buf;
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
    const buf = this.storage();
    const at = (this.head + offset) & this.mask;
    const first = Math.min(n, this.capacity - at);
    buf.set(first === src.length && srcOff === 0 ? src : src.subarray(srcOff, srcOff + first), at);
    if (first < n) buf.set(src.subarray(srcOff + first, srcOff + n), 0);
  }

  /** Makes `n` bytes already written with writeAt part of the queue. */
  commit(n: number): void {
    this.length += n;
  }

  /** Copies n bytes starting `offset` past the head into dst[dstOff..] without consuming them. */
  peek(offset: number, dst: Uint8Array, dstOff: number, n: number): void {
    const buf = this.storage();
    const at = (this.head + offset) & this.mask;
    const first = Math.min(n, this.capacity - at);
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

  /** Frees the storage (the queue must be empty and nothing written past it). */
  release(): void {
    if (this.length === 0) {
      this.buf = undefined;
      this.head = 0;
    }
  }
}
