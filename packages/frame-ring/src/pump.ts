/**
 * RingPump: the one consumer loop for a frame ring, used by every consumer that drains one
 * (tap-io's TAP and UDP links, stack-driver's threaded link and I/O worker). It drains in
 * batches, lets the event loop run after a bounded number of frames per turn (one yield
 * policy, so a ring that never empties cannot starve its thread), and sleeps when the
 * ring is empty through the ring's own handshake (LAYOUT.md "Sleeping and waking":
 * `announceSleep`, or `waitAsync`, which uses it). It adds nothing to that handshake.
 *
 * Two ways to be woken, after who produces:
 * - `run()`: a producer that calls back (a native reader: TAP, the UDP socket) — call run()
 *   from that callback; when the ring is empty the pump announces its sleep and returns,
 *   and the producer's next wake calls run() again.
 * - `runAsync()`: a producer on another JS thread (Atomics.notify) — the pump awaits
 *   `ring.waitAsync` while the ring is empty, until stop().
 */
import type { FrameRing } from './frame-ring.js';

export interface RingPumpOptions {
  /** Frames per drain call [256]. */
  batch?: number;
  /**
   * Drains that took frames in one turn of the event loop before the pump lets other work
   * run [16]: at most batch × turnBatches frames, and fewer, larger drains when frames
   * trickle in (the ring fills while the thread does other work).
   */
  turnBatches?: number;
  /**
   * Runs `fn` on a later turn of the event loop, after pending I/O and timers
   * [`setTimeout(fn, 0)`]. Node consumers pass `setImmediate`.
   */
  nextTurn?: (fn: () => void) => void;
}

/** How a drain of up to `max` frames went: the number of frames taken off the ring. */
export type RingDrain = (max: number) => number;

export class RingPump {
  readonly ring: FrameRing<ArrayBufferLike>;
  readonly batch: number;
  readonly turnBatches: number;
  private readonly drain: RingDrain;
  private readonly nextTurn: (fn: () => void) => void;
  private running = false;
  private queued = false;
  private stopped = false;
  /** Turns that ended with frames still waiting (the pump yielded instead of sleeping). */
  yields = 0;

  /** `drain(max)` takes up to `max` frames off `ring` (one of its drain methods) and returns how many. */
  constructor(ring: FrameRing<ArrayBufferLike>, drain: RingDrain, options: RingPumpOptions = {}) {
    const batch = options.batch ?? 256;
    const turnBatches = options.turnBatches ?? 16;
    if (!(Number.isInteger(batch) && batch >= 1))
      throw new RangeError(`RingPump: batch ${batch} must be an integer >= 1`);
    if (!(Number.isInteger(turnBatches) && turnBatches >= 1))
      throw new RangeError(`RingPump: turnBatches ${turnBatches} must be an integer >= 1`);
    this.ring = ring;
    this.drain = drain;
    this.batch = batch;
    this.turnBatches = turnBatches;
    this.nextTurn = options.nextTurn ?? ((fn) => setTimeout(fn, 0));
  }

  /**
   * Drains until the ring is empty, then announces the consumer's sleep and returns (the
   * producer's wake calls run() again); or, after `turnBatches` drains, goes on in a later
   * turn. A call from inside a drain (re-entrant), after stop(), or while a later turn is
   * already queued does nothing.
   */
  run(): void {
    if (this.running || this.stopped || this.queued) return;
    this.running = true;
    try {
      for (;;) {
        if (!this.drainTurn()) {
          this.yields++;
          this.queued = true;
          this.nextTurn(this.resume);
          return;
        }
        if (this.stopped || this.ring.announceSleep()) return;
      }
    } finally {
      this.running = false;
    }
  }

  private readonly resume = (): void => {
    this.queued = false;
    this.run();
  };

  /**
   * Drains until stop(): a batch per `ring.waitAsync` (which resolves at once, as a
   * microtask, while frames wait, so work queued on microtasks runs between batches, and
   * sleeps, re-checking every `idleMs`, while the ring is empty), and yields a turn after
   * every `turnBatches` drains that took frames.
   */
  async runAsync(idleMs = 1000): Promise<void> {
    let drains = 0;
    while (!this.stopped) {
      if (!(await this.ring.waitAsync(idleMs))) continue;
      if (this.stopped) return;
      if (this.drain(this.batch) > 0 && ++drains >= this.turnBatches) {
        drains = 0;
        this.yields++;
        await new Promise<void>((resolve) => this.nextTurn(resolve));
      }
    }
  }

  /**
   * One batch for a consumer that runs its own turns (stack-driver's DriverLoop: one budget
   * shared by several rings and queues, the stack polled between batches, one yield per
   * turn): drains until the ring is empty, `max` frames were taken, or `room()` is 0 —
   * re-asked after every drain call, for a budget that counts only some of the frames (the
   * loop's pure SYNs go aside and do not use it). A drain call takes at most `batch` frames.
   * Returns the frames taken. Such a consumer does not call run()/runAsync(): it sleeps
   * through `announceSleep()` when its turn ends and the producer's wake starts the next.
   */
  drainUnder(max: number, room?: () => number): number {
    let taken = 0;
    while (taken < max && !this.stopped) {
      let want = Math.min(this.batch, max - taken);
      if (room !== undefined) want = Math.min(want, room());
      if (want <= 0) break;
      const n = this.drain(want);
      if (n === 0) break;
      taken += n;
    }
    return taken;
  }

  /**
   * The ring's sleep handshake (LAYOUT.md "Sleeping and waking"): announces the consumer
   * asleep and re-checks; false when frames wait (the caller drains again instead of
   * sleeping). run() and runAsync() do this themselves.
   */
  announceSleep(): boolean {
    return this.ring.announceSleep();
  }

  /** Stops the pump; wakes a runAsync() asleep in waitAsync so that it returns. */
  stop(): void {
    this.stopped = true;
    this.ring.notifyConsumer();
  }

  /** Up to turnBatches drains; true when the ring ran empty, false when the budget ran out first. */
  private drainTurn(): boolean {
    for (let i = 0; i < this.turnBatches; i++) {
      if (this.drain(this.batch) === 0 || this.stopped) return true;
    }
    return false;
  }
}
