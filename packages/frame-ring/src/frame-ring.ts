/**
 * FrameRing: a bounded single-producer/single-consumer FIFO of variable-length frames in
 * one SharedArrayBuffer (libzt's pico_frame_rxbuf without the mutex and the memmove).
 * Each side owns one free-running u32 byte index and publishes it with one atomic store
 * per batch; the other side's index is cached and re-read only when the cache says the
 * ring is full (producer) or empty (consumer). The format is in LAYOUT.md.
 */
import {
  HEADER_BYTES,
  MAGIC,
  MAX_CAPACITY,
  MAX_FRAME_SIZE_LIMIT,
  RECORD_ALIGN,
  VERSION,
  W,
  WRAP_MARKER,
  frameRingByteLength,
  minCapacity,
  recordBytes,
} from './layout.js';

export type FullPolicy = 'drop' | 'full';

export interface FrameRingOptions {
  /** Data-area bytes: a power of two, at least `minCapacity(maxFrameSize)`, at most 2^30. */
  capacity: number;
  /** Largest frame payload in bytes, 1..65536. Default 65536. */
  maxFrameSize?: number;
}

export interface FrameRingStats {
  /** Frames published by the producer. */
  pushed: number;
  /** Frames released by the consumer. */
  drained: number;
  /** Frames refused under the 'drop' policy. */
  dropped: number;
  /** Largest occupancy (bytes of records, including wrap padding) either side observed. */
  highWater: number;
  /** Times the producer woke a sleeping consumer (u32, wraps). */
  consumerWakeups: number;
  /** Times the consumer woke a producer sleeping in waitForSpace (u32, wraps). */
  producerWakeups: number;
}

type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsyncFn = (ta: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;

const TWO_32 = 2 ** 32;

/**
 * `B`: the memory the ring lives in. A `SharedArrayBuffer` (`create`, `attach`) for a
 * producer and a consumer on two threads; a plain `ArrayBuffer` (`createLocal`) for a ring
 * read by one JS thread and written by that thread or by one of its native threads.
 */
export class FrameRing<B extends ArrayBufferLike = SharedArrayBuffer> {
  readonly buffer: B;
  /** Data-area bytes. */
  readonly capacity: number;
  readonly maxFrameSize: number;

  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly big: BigInt64Array;
  private readonly mask: number;
  /** Producer: last read index seen (stale is safe: it only understates free space). */
  private cachedRead: number;
  /** Consumer: last write index seen (stale is safe: it only understates data). */
  private cachedWrite: number;
  /** Producer: write index including records not yet published. */
  private pw = 0;
  /** Producer: records written since the last publication. */
  private unpublished = 0;
  /** Producer: payload length reserved by reserve(), -1 when none. */
  private reserved = -1;
  private draining = false;

  /** Allocates a new ring in a SharedArrayBuffer. */
  static create(options: FrameRingOptions): FrameRing {
    const { capacity, maxFrameSize } = checkOptions('create', options);
    if (typeof SharedArrayBuffer !== 'function') {
      throw new TypeError(
        'FrameRing.create: SharedArrayBuffer is not available (browsers need cross-origin isolation)',
      );
    }
    const buffer = new SharedArrayBuffer(frameRingByteLength(capacity));
    initHeader(buffer, capacity, maxFrameSize);
    return new FrameRing(buffer, capacity, maxFrameSize);
  }

  /**
   * Allocates a new ring in a plain ArrayBuffer: same layout, for a ring that only this
   * thread reads and that this thread or a native thread of the process writes (its
   * backing store does not move). V8 copies out of a SharedArrayBuffer with a relaxed-atomic
   * memcpy that goes byte by byte unless source and destination share their alignment
   * mod 8, so a consumer that copies payloads out (a TCP payload inside a frame is not so
   * aligned) is faster on a local ring. The consumer cannot block in wait()/waitAsync()
   * (Atomics.wait needs shared memory): it sleeps with announceSleep() and is called back
   * by the producer, as with a native producer (RingPump.run).
   */
  static createLocal(options: FrameRingOptions): FrameRing<ArrayBuffer> {
    const { capacity, maxFrameSize } = checkOptions('createLocal', options);
    const buffer = new ArrayBuffer(frameRingByteLength(capacity));
    initHeader(buffer, capacity, maxFrameSize);
    return new FrameRing(buffer, capacity, maxFrameSize);
  }

  /** Wraps a buffer made by `create` (typically on the other thread); validates it. */
  static attach(buffer: SharedArrayBuffer): FrameRing {
    if (typeof SharedArrayBuffer !== 'function' || !(buffer instanceof SharedArrayBuffer)) {
      throw new TypeError(`FrameRing.attach: expected a SharedArrayBuffer, got ${describe(buffer)}`);
    }
    if (buffer.byteLength < HEADER_BYTES) {
      throw new TypeError(
        `FrameRing.attach: buffer is ${buffer.byteLength} bytes, smaller than the ${HEADER_BYTES}-byte header`,
      );
    }
    const i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    const magic = Atomics.load(i32, W.MAGIC) >>> 0;
    if (magic !== MAGIC) {
      throw new TypeError(
        `FrameRing.attach: bad magic 0x${magic.toString(16)}, expected 0x${MAGIC.toString(16)} (not a frame ring)`,
      );
    }
    const version = i32[W.VERSION]!;
    if (version !== VERSION) {
      throw new TypeError(
        `FrameRing.attach: layout version ${version}, this library reads version ${VERSION}`,
      );
    }
    const headerBytes = i32[W.HEADER_BYTES]!;
    const capacity = i32[W.CAPACITY]!;
    const maxFrameSize = i32[W.MAX_FRAME_SIZE]!;
    if (headerBytes !== HEADER_BYTES) {
      throw new TypeError(`FrameRing.attach: header is ${headerBytes} bytes, expected ${HEADER_BYTES}`);
    }
    try {
      checkMaxFrameSize(maxFrameSize);
      checkCapacity(capacity, maxFrameSize);
    } catch (e) {
      throw new TypeError(`FrameRing.attach: corrupt header: ${(e as Error).message}`);
    }
    if (buffer.byteLength !== frameRingByteLength(capacity)) {
      throw new TypeError(
        `FrameRing.attach: buffer is ${buffer.byteLength} bytes, header says ${frameRingByteLength(capacity)} (capacity ${capacity})`,
      );
    }
    return new FrameRing(buffer, capacity, maxFrameSize);
  }

  private constructor(buffer: B, capacity: number, maxFrameSize: number) {
    this.buffer = buffer;
    this.capacity = capacity;
    this.maxFrameSize = maxFrameSize;
    this.i32 = new Int32Array(buffer);
    this.u8 = new Uint8Array(buffer);
    this.big = new BigInt64Array(buffer, 0, HEADER_BYTES / 8);
    this.mask = capacity - 1;
    this.cachedRead = Atomics.load(this.i32, W.READ);
    this.cachedWrite = Atomics.load(this.i32, W.WRITE);
  }

  // ---------------------------------------------------------------- producer side

  /**
   * Copies one frame in and publishes it. When the ring is full: 'drop' (default) counts
   * a drop and returns false; 'full' returns false and counts nothing. `meta` goes into
   * the record's metadata word (LAYOUT.md "Records"; `drainRaw` consumers read it at
   * `offset - 4`); default 0.
   */
  push(frame: Uint8Array, policy: FullPolicy = 'drop', meta = 0): boolean {
    const len = frame.length;
    if (!(len <= this.maxFrameSize && frame instanceof Uint8Array)) this.badFrame('push', frame);
    if (policy !== 'drop' && policy !== 'full') badPolicy(policy);
    if (this.reserved >= 0) throw new Error('FrameRing.push: a reserve() is pending; commit() it first');
    this.pw = this.i32[W.WRITE]!;
    if (this.write(frame, len, meta)) {
      this.publish();
      return true;
    }
    if (policy === 'drop') addCounter(this.i32, this.big, W.DROPPED, 1);
    return false;
  }

  /**
   * Copies frames in, in order, and publishes them once. Under 'drop' a frame that does
   * not fit is counted and skipped; under 'full' the batch stops at the first that does
   * not fit. Returns how many frames were pushed.
   */
  pushBatch(frames: ArrayLike<Uint8Array>, policy: FullPolicy = 'drop'): number {
    if (policy !== 'drop' && policy !== 'full') badPolicy(policy);
    if (this.reserved >= 0) throw new Error('FrameRing.pushBatch: a reserve() is pending; commit() it first');
    const n = frames.length;
    const max = this.maxFrameSize;
    // Validate first so a bad frame leaves the ring untouched.
    for (let i = 0; i < n; i++) {
      const f = frames[i]!;
      if (!(f instanceof Uint8Array && f.length <= max)) this.badFrame(`pushBatch (frame ${i})`, f);
    }
    this.pw = this.i32[W.WRITE]!;
    let pushed = 0;
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const f = frames[i]!;
      if (this.write(f, f.length)) pushed++;
      else if (policy === 'drop') dropped++;
      else break;
    }
    this.publish();
    if (dropped > 0) addCounter(this.i32, this.big, W.DROPPED, dropped);
    return pushed;
  }

  /**
   * Zero-copy producer: returns a writable view of `length` bytes inside the ring (for
   * example to read() a frame straight into it), or undefined when the ring is full
   * (counted as a drop under 'drop'). Finish with commit(actualLength).
   */
  reserve(length: number, policy: FullPolicy = 'drop'): Uint8Array | undefined {
    if (!(Number.isInteger(length) && length >= 0 && length <= this.maxFrameSize)) {
      throw new RangeError(
        `FrameRing.reserve: length ${length} must be an integer from 0 to maxFrameSize ${this.maxFrameSize}`,
      );
    }
    if (policy !== 'drop' && policy !== 'full') badPolicy(policy);
    if (this.reserved >= 0) throw new Error('FrameRing.reserve: a reserve() is already pending');
    this.pw = this.i32[W.WRITE]!;
    const at = this.claim(length);
    if (at < 0) {
      if (policy === 'drop') addCounter(this.i32, this.big, W.DROPPED, 1);
      return undefined;
    }
    this.reserved = length;
    return new Uint8Array(this.buffer, at + 8, length);
  }

  /** Publishes the frame written into the view from reserve(); `length` <= the reserved length. */
  commit(length: number): void {
    const reserved = this.reserved;
    if (reserved < 0) throw new Error('FrameRing.commit: nothing reserved');
    if (!(Number.isInteger(length) && length >= 0 && length <= reserved)) {
      throw new RangeError(
        `FrameRing.commit: length ${length} must be an integer from 0 to ${reserved} (reserved)`,
      );
    }
    this.reserved = -1;
    const at = HEADER_BYTES + (this.pw & this.mask);
    this.i32[at >> 2] = length;
    this.i32[(at >> 2) + 1] = 0;
    this.pw = (this.pw + recordBytes(length)) | 0;
    this.unpublished++;
    this.publish();
  }

  /** Abandons a reserve() without publishing anything. */
  cancel(): void {
    this.reserved = -1;
  }

  /** Publishes anything written but not yet visible, and wakes a sleeping consumer. */
  flush(): void {
    if (this.unpublished > 0) this.publish();
  }

  /**
   * Producer: blocks (Atomics.wait; workers only in browsers) until a frame of `bytes`
   * payload bytes fits or the timeout passes. True when it fits.
   */
  waitForSpace(bytes: number, timeoutMs = Number.POSITIVE_INFINITY): boolean {
    if (!(Number.isInteger(bytes) && bytes >= 0 && bytes <= this.maxFrameSize)) {
      throw new RangeError(
        `FrameRing.waitForSpace: bytes ${bytes} must be an integer from 0 to maxFrameSize ${this.maxFrameSize}`,
      );
    }
    const i32 = this.i32;
    const deadline = deadlineOf(timeoutMs);
    for (;;) {
      const r = Atomics.load(i32, W.READ);
      if (this.fits(bytes, r)) return true;
      // Announce a sleep on this READ value (a ticket, LAYOUT.md "Sleeping and waking"),
      // then re-check; sleep only while READ still holds it.
      Atomics.store(i32, W.PRODUCER_SLEEPING, r | 1);
      let remaining = 0;
      if (Atomics.load(i32, W.READ) === r && (remaining = remainingOf(deadline)) > 0) {
        Atomics.wait(i32, W.READ, r, remaining);
      }
      Atomics.store(i32, W.PRODUCER_SLEEPING, 0);
      if (this.fits(bytes, Atomics.load(i32, W.READ))) return true;
      if (remainingOf(deadline) <= 0) return false;
    }
  }

  /** True when a frame of `bytes` payload bytes would fit now (producer's view). */
  canPush(bytes: number): boolean {
    return this.fits(bytes, Atomics.load(this.i32, W.READ));
  }

  private fits(bytes: number, r: number): boolean {
    const w = this.i32[W.WRITE]!;
    const rec = recordBytes(bytes);
    const toEnd = this.capacity - (w & this.mask);
    const need = rec <= toEnd ? rec : toEnd + rec;
    return ((w - r) >>> 0) + need <= this.capacity;
  }

  /** Writes one record at this.pw; false when it does not fit. */
  private write(frame: Uint8Array, len: number, meta = 0): boolean {
    const at = this.claim(len);
    if (at < 0) return false;
    this.i32[at >> 2] = len;
    this.i32[(at >> 2) + 1] = meta;
    this.u8.set(frame, at + 8);
    this.pw = (this.pw + ((len + 15) & ~7)) | 0;
    this.unpublished++;
    return true;
  }

  /**
   * Finds room for a record of `len` payload bytes at this.pw, writing a wrap marker and
   * moving this.pw to the data-area start if the record would cross the end. Returns the
   * record's absolute byte offset, or -1 when there is no room.
   */
  private claim(len: number): number {
    const capacity = this.capacity;
    const rec = (len + 15) & ~7;
    const w = this.pw;
    const pos = w & this.mask;
    const toEnd = capacity - pos;
    const need = rec <= toEnd ? rec : toEnd + rec;
    if (((w - this.cachedRead) >>> 0) + need > capacity) {
      // Out of room by the cached index: publish what we have (the consumer cannot free
      // space for records it cannot see), then look at the real read index.
      if (this.unpublished > 0) this.publish();
      const r = Atomics.load(this.i32, W.READ);
      this.cachedRead = r;
      const used = (w - r) >>> 0;
      const fits = used + need <= capacity;
      const level = fits ? used + need : used;
      if (level > this.i32[W.PRODUCER_HIGH_WATER]!) this.i32[W.PRODUCER_HIGH_WATER] = level;
      if (!fits) return -1;
    }
    if (rec > toEnd) {
      this.i32[(HEADER_BYTES + pos) >> 2] = WRAP_MARKER;
      this.pw = (w + toEnd) | 0;
      return HEADER_BYTES;
    }
    return HEADER_BYTES + pos;
  }

  /** One release-store of the write index per batch; wakes the consumer only if it sleeps. */
  private publish(): void {
    const i32 = this.i32;
    Atomics.store(i32, W.WRITE, this.pw);
    const n = this.unpublished;
    this.unpublished = 0;
    if (n > 0) addCounter(i32, this.big, W.PUSHED, n);
    // The occupancy the producer just made visible: without this, highWater only moved
    // when the cached read index ran out or a consumer looked, so a ring that was pushed
    // to (and drained without running short) reported 0. One load per batch, and the
    // fresh read index saves a later slow path in claim().
    const r = Atomics.load(i32, W.READ);
    this.cachedRead = r;
    const used = (this.pw - r) >>> 0;
    if (used > i32[W.PRODUCER_HIGH_WATER]!) i32[W.PRODUCER_HIGH_WATER] = used;
    // Wake the consumer only if it sleeps on a WRITE value older than this one: a ticket
    // equal to ours means it saw this publish and sleeps for a later one, so leave it set
    // (clearing it here lost the next wakeup; test/wake-model.test.ts).
    const c = Atomics.load(i32, W.CONSUMER_SLEEPING);
    if (c !== 0 && c !== (this.pw | 1) && Atomics.compareExchange(i32, W.CONSUMER_SLEEPING, c, 0) === c) {
      Atomics.notify(i32, W.WRITE);
      i32[W.CONSUMER_WAKEUPS] = (i32[W.CONSUMER_WAKEUPS]! + 1) | 0;
    }
  }

  // ---------------------------------------------------------------- consumer side

  /**
   * Calls onFrame with up to `max` frames, oldest first. The views point into the ring
   * and are valid only inside the callback; their space is released after the batch.
   * If onFrame throws, the frames delivered so far (including that one) are released.
   */
  drain(max: number, onFrame: (frame: Uint8Array) => void): number {
    const buffer = this.buffer;
    return this.drainLoop(max, 'drain', (_u8, off, len) => onFrame(new Uint8Array(buffer, off, len)));
  }

  /**
   * Like drain, without allocating: onFrame gets the whole buffer as a Uint8Array and the
   * frame's byte offset and length in it (valid only inside the callback).
   */
  drainRaw(max: number, onFrame: (bytes: Uint8Array, offset: number, length: number) => void): number {
    return this.drainLoop(max, 'drainRaw', onFrame);
  }

  /** Appends copies (plain ArrayBuffers, safe to keep or transfer) of up to `max` frames to `out`. */
  drainInto(out: Uint8Array[], max: number): number {
    if (!Array.isArray(out))
      throw new TypeError(`FrameRing.drainInto: out must be an array, got ${describe(out)}`);
    return this.drainLoop(max, 'drainInto', (u8, off, len) => {
      out.push(u8.slice(off, off + len));
    });
  }

  /**
   * For a consumer that hands a batch of views on (a link's frame handlers): calls onFrame
   * with each of up to `max` frames as drainRaw does and collects the view it returns
   * (undefined: skip the frame), then calls onBatch with the collected views (if any), and
   * only then releases the frames: the views are valid until onBatch returns. Returns how
   * many frames were taken off the ring, skipped ones included.
   */
  drainBatch(
    max: number,
    onFrame: (bytes: Uint8Array, offset: number, length: number) => Uint8Array | undefined,
    onBatch: (views: Uint8Array[]) => void,
  ): number {
    const views: Uint8Array[] = [];
    return this.drainLoop(
      max,
      'drainBatch',
      (u8, off, len) => {
        const v = onFrame(u8, off, len);
        if (v !== undefined) views.push(v);
      },
      () => {
        if (views.length > 0) onBatch(views);
      },
    );
  }

  private drainLoop(
    max: number,
    name: string,
    onFrame: (bytes: Uint8Array, offset: number, length: number) => void,
    beforeRelease?: () => void,
  ): number {
    if (!(max >= 0)) throw new RangeError(`FrameRing.${name}: max ${max} must be a number >= 0`);
    if (this.draining) throw new Error(`FrameRing.${name}: called from inside a drain callback`);
    const i32 = this.i32;
    const u8 = this.u8;
    const capacity = this.capacity;
    const mask = this.mask;
    const maxFrame = this.maxFrameSize;
    const r0 = i32[W.READ]!;
    let r = r0;
    let w = this.cachedWrite;
    if ((w - r) >>> 0 > capacity) w = r; // stale cache from another instance: refresh below
    let n = 0;
    this.draining = true;
    try {
      while (n < max) {
        if (r === w) {
          w = this.refreshWrite(r);
          if (r === w) break;
        }
        const pos = r & mask;
        const at = HEADER_BYTES + pos;
        const len = i32[at >> 2]!;
        if (len === WRAP_MARKER) {
          r = (r + capacity - pos) | 0;
          continue;
        }
        if (len >>> 0 > maxFrame) this.corrupt(r, len);
        r = (r + ((len + 15) & ~7)) | 0;
        n++;
        onFrame(u8, at + 8, len);
      }
      if (beforeRelease !== undefined) beforeRelease();
    } finally {
      this.draining = false;
      if (r !== r0) this.release_(r, n);
    }
    return n;
  }

  private refreshWrite(r: number): number {
    const w = Atomics.load(this.i32, W.WRITE);
    this.cachedWrite = w;
    const used = (w - r) >>> 0;
    if (used > this.i32[W.CONSUMER_HIGH_WATER]!) this.i32[W.CONSUMER_HIGH_WATER] = used;
    return w;
  }

  /** One store of the read index per batch; wakes the producer only if it sleeps. */
  private release_(r: number, n: number): void {
    const i32 = this.i32;
    Atomics.store(i32, W.READ, r);
    if (n > 0) addCounter(i32, this.big, W.DRAINED, n);
    const c = Atomics.load(i32, W.PRODUCER_SLEEPING);
    if (c !== 0 && c !== (r | 1) && Atomics.compareExchange(i32, W.PRODUCER_SLEEPING, c, 0) === c) {
      Atomics.notify(i32, W.READ);
      i32[W.PRODUCER_WAKEUPS] = (i32[W.PRODUCER_WAKEUPS]! + 1) | 0;
    }
  }

  /** Zero-copy view of the oldest frame (valid until release()), or undefined if empty. */
  peek(): Uint8Array | undefined {
    const at = this.oldest();
    if (at < 0) return undefined;
    return new Uint8Array(this.buffer, at + 8, this.i32[at >> 2]!);
  }

  /** Frees the oldest frame (the one peek() returned). Throws if the ring is empty. */
  release(): void {
    if (this.draining) throw new Error('FrameRing.release: called from inside a drain callback');
    const at = this.oldest();
    if (at < 0) throw new RangeError('FrameRing.release: the ring is empty (nothing to release)');
    const len = this.i32[at >> 2]!;
    // oldest() may have stepped over a wrap marker: recompute r from the record offset.
    const r0 = this.i32[W.READ]!;
    const pos = r0 & this.mask;
    const skip = at - HEADER_BYTES === pos ? 0 : this.capacity - pos;
    this.release_((r0 + skip + ((len + 15) & ~7)) | 0, 1);
  }

  /** Absolute byte offset of the oldest record (past any wrap marker), or -1 when empty. */
  private oldest(): number {
    const i32 = this.i32;
    const r = i32[W.READ]!;
    let w = this.cachedWrite;
    if (r === w || (w - r) >>> 0 > this.capacity) w = this.refreshWrite(r);
    if (r === w) return -1;
    let pos = r & this.mask;
    let len = i32[(HEADER_BYTES + pos) >> 2]!;
    if (len === WRAP_MARKER) {
      pos = 0;
      len = i32[HEADER_BYTES >> 2]!;
    }
    if (len >>> 0 > this.maxFrameSize) this.corrupt(r, len);
    return HEADER_BYTES + pos;
  }

  /** True when no frame is waiting (consumer's view). */
  isEmpty(): boolean {
    const r = this.i32[W.READ]!;
    if (r !== this.cachedWrite && (this.cachedWrite - r) >>> 0 <= this.capacity) return false;
    return this.refreshWrite(r) === r;
  }

  /**
   * Consumer: blocks with Atomics.wait until a frame is available or the timeout passes.
   * Not allowed on a browser's main thread (use waitAsync). True when a frame is available.
   */
  wait(timeoutMs = Number.POSITIVE_INFINITY): boolean {
    const i32 = this.i32;
    const deadline = deadlineOf(timeoutMs);
    for (;;) {
      const r = i32[W.READ]!;
      if (this.refreshWrite(r) !== r) return true;
      // Announce the sleep with a ticket (the WRITE value we sleep on), then re-check: the
      // producer stores WRITE before it loads the ticket, we store the ticket before we
      // load WRITE, so one of us sees the other (LAYOUT.md "Sleeping and waking").
      let remaining = 0;
      if (this.announceSleep() && (remaining = remainingOf(deadline)) > 0) {
        Atomics.wait(i32, W.WRITE, r, remaining);
      }
      Atomics.store(i32, W.CONSUMER_SLEEPING, 0);
      if (this.refreshWrite(r) !== r) return true;
      if (remainingOf(deadline) <= 0) return false;
    }
  }

  /** Consumer on a thread that must not block: resolves true when a frame is available. */
  async waitAsync(timeoutMs = Number.POSITIVE_INFINITY): Promise<boolean> {
    const i32 = this.i32;
    const deadline = deadlineOf(timeoutMs);
    const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsyncFn }).waitAsync;
    let pollMs = 0.25;
    for (;;) {
      const r = i32[W.READ]!;
      if (this.refreshWrite(r) !== r) return true;
      let remaining = 0;
      if (this.announceSleep() && (remaining = remainingOf(deadline)) > 0) {
        if (typeof waitAsync === 'function') {
          const res = waitAsync(
            i32,
            W.WRITE,
            r,
            remaining === Number.POSITIVE_INFINITY ? undefined : remaining,
          );
          if (res.async) await res.value;
        } else {
          // No Atomics.waitAsync (older Firefox/Safari): poll with a growing interval.
          await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, remaining)));
          pollMs = Math.min(pollMs * 2, 8);
        }
      }
      Atomics.store(i32, W.CONSUMER_SLEEPING, 0);
      if (this.refreshWrite(r) !== r) return true;
      if (remainingOf(deadline) <= 0) return false;
    }
  }

  /**
   * Wakes a consumer sleeping in wait()/waitAsync() if it announced a sleep. A native
   * producer cannot call Atomics.notify; it asks a JS thread to call this (see LAYOUT.md).
   * Returns true if a sleeper was woken.
   */
  notifyConsumer(): boolean {
    // Never clears the ticket: the native producer already claimed this wake with its CAS,
    // and a ticket set now belongs to a newer sleep that the next publish must still see
    // (a relay that cleared it lost that wakeup; test/wake-model.test.ts). A notify that
    // finds the consumer sleeping on the current WRITE only makes it re-check.
    return Atomics.notify(this.i32, W.WRITE) > 0;
  }

  /**
   * Consumer: announces a sleep (LAYOUT.md "Sleeping and waking") and re-checks. True when
   * the ring is still empty: the consumer may now sleep until the producer wakes it (an
   * Atomics.wait on WRITE with the current READ, or a native producer's callback). False
   * when frames are waiting (the announcement is withdrawn). The one implementation of the
   * consumer's half of the handshake: every consumer that sleeps uses it.
   */
  announceSleep(): boolean {
    return announceConsumerSleep(this.i32);
  }

  /** Consumer: withdraws an announceSleep() (when it wakes by other means). */
  endSleep(): void {
    Atomics.store(this.i32, W.CONSUMER_SLEEPING, 0);
  }

  /** Counters from the shared header (both sides see the same numbers). */
  stats(): FrameRingStats {
    const i32 = this.i32;
    const big = this.big;
    const ph = i32[W.PRODUCER_HIGH_WATER]!;
    const ch = i32[W.CONSUMER_HIGH_WATER]!;
    return {
      pushed: Number(Atomics.load(big, W.PUSHED >> 1)),
      drained: Number(Atomics.load(big, W.DRAINED >> 1)),
      dropped: Number(Atomics.load(big, W.DROPPED >> 1)),
      highWater: Math.max(ph, ch),
      consumerWakeups: i32[W.CONSUMER_WAKEUPS]! >>> 0,
      producerWakeups: i32[W.PRODUCER_WAKEUPS]! >>> 0,
    };
  }

  /** Bytes of records waiting (producer-published, not yet released). */
  usedBytes(): number {
    return (Atomics.load(this.i32, W.WRITE) - Atomics.load(this.i32, W.READ)) >>> 0;
  }

  private badFrame(where: string, frame: unknown): never {
    if (!(frame instanceof Uint8Array)) {
      throw new TypeError(`FrameRing.${where}: frame must be a Uint8Array, got ${describe(frame)}`);
    }
    throw new RangeError(
      `FrameRing.${where}: frame is ${frame.length} bytes, larger than maxFrameSize ${this.maxFrameSize}`,
    );
  }

  private corrupt(r: number, len: number): never {
    throw new Error(
      `FrameRing: corrupt record at read index ${r >>> 0} (length word 0x${(len >>> 0).toString(16)}, maxFrameSize ${this.maxFrameSize})`,
    );
  }
}

/**
 * Adds to a u64 counter owned by this side. The low word is stored on its own while it
 * does not carry (readers load the u64 atomically, so they never see a torn value).
 */
function addCounter(i32: Int32Array, big: BigInt64Array, word: number, delta: number): void {
  const next = (i32[word]! >>> 0) + delta;
  if (next < TWO_32) i32[word] = next;
  else Atomics.store(big, word >> 1, BigInt((i32[word + 1]! >>> 0) * TWO_32 + next));
}

function checkOptions(where: string, options: FrameRingOptions): { capacity: number; maxFrameSize: number } {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`FrameRing.${where}: options must be an object { capacity, maxFrameSize? }`);
  }
  const maxFrameSize = options.maxFrameSize ?? MAX_FRAME_SIZE_LIMIT;
  checkMaxFrameSize(maxFrameSize);
  checkCapacity(options.capacity, maxFrameSize);
  return { capacity: options.capacity, maxFrameSize };
}

/** Writes the header of a new ring; the magic last, with a barrier: a buffer with the magic set is fully initialised. */
function initHeader(buffer: ArrayBufferLike, capacity: number, maxFrameSize: number): void {
  const i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  i32[W.VERSION] = VERSION;
  i32[W.HEADER_BYTES] = HEADER_BYTES;
  i32[W.CAPACITY] = capacity;
  i32[W.MAX_FRAME_SIZE] = maxFrameSize;
  Atomics.store(i32, W.MAGIC, MAGIC);
}

function checkMaxFrameSize(maxFrameSize: number): void {
  if (!(Number.isInteger(maxFrameSize) && maxFrameSize >= 1 && maxFrameSize <= MAX_FRAME_SIZE_LIMIT)) {
    throw new RangeError(`maxFrameSize ${maxFrameSize} must be an integer from 1 to ${MAX_FRAME_SIZE_LIMIT}`);
  }
}

function checkCapacity(capacity: number, maxFrameSize: number): void {
  if (!Number.isInteger(capacity))
    throw new RangeError(`capacity ${capacity} must be an integer number of bytes`);
  const min = minCapacity(maxFrameSize);
  if (capacity < min) {
    throw new RangeError(
      `capacity ${capacity} is too small for maxFrameSize ${maxFrameSize}: need at least ${min} bytes (two ${recordBytes(maxFrameSize)}-byte records, power of two)`,
    );
  }
  if (capacity > MAX_CAPACITY)
    throw new RangeError(`capacity ${capacity} is larger than the maximum ${MAX_CAPACITY}`);
  if ((capacity & (capacity - 1)) !== 0) {
    let p = RECORD_ALIGN;
    while (p < capacity) p *= 2;
    throw new RangeError(`capacity ${capacity} must be a power of two (e.g. ${p / 2} or ${p})`);
  }
}

function badPolicy(policy: unknown): never {
  throw new TypeError(`FrameRing: policy must be 'drop' or 'full', got ${describe(policy)}`);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x === 'string' ? `'${x}'` : `${typeof x} ${String(x)}`;
}

/**
 * The consumer's half of the sleep/wake handshake on a ring header (LAYOUT.md "Sleeping
 * and waking"), for consumers that read a ring without a FrameRing object. Stores the ticket — the READ value, which is
 * the WRITE value to sleep on, | 1 — then re-loads WRITE. True: still empty, the producer
 * will wake the consumer; false: frames are waiting and the ticket is withdrawn.
 */
export function announceConsumerSleep(header: Int32Array): boolean {
  const r = header[W.READ]!;
  Atomics.store(header, W.CONSUMER_SLEEPING, r | 1);
  if (Atomics.load(header, W.WRITE) === r) return true;
  Atomics.store(header, W.CONSUMER_SLEEPING, 0);
  return false;
}

function deadlineOf(timeoutMs: number): number {
  if (!(timeoutMs >= 0)) throw new RangeError(`timeoutMs ${timeoutMs} must be a number >= 0`);
  return timeoutMs === Number.POSITIVE_INFINITY ? timeoutMs : performance.now() + timeoutMs;
}

function remainingOf(deadline: number): number {
  return deadline === Number.POSITIVE_INFINITY ? deadline : deadline - performance.now();
}
