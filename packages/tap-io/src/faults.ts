/**
 * withFaults(link, options): seeded fault injection on any link — loss, duplication,
 * reordering, corruption, delay with jitter and a rate limit, on tx, rx or both. The
 * kernel here has no netem, so this is how tests impair a network. The same seed and
 * the same frames give the same faults: every frame draws the same number of random
 * values whatever the options.
 */
import { type Link, LinkError, type LinkStats } from './link.js';
import { WrappedLink } from './wrapped-link.js';

export interface FaultOptions {
  seed?: number;
  /** Probability a frame is dropped. */
  loss?: number;
  /** Probability a frame is sent twice. */
  duplicate?: number;
  /** Probability a frame is held back and sent after the next one. */
  reorder?: number;
  /** Probability one random bit of the frame is flipped. */
  corrupt?: number;
  /** Fixed extra latency. */
  delayMs?: number;
  /** Uniform extra latency in [0, jitterMs) (frames may overtake each other). */
  jitterMs?: number;
  /** Serialization rate; frames queue behind each other. 0 = unlimited. */
  rateBitsPerSec?: number;
  /** Most time frames may wait for the rate limit before new ones are dropped. Default 100 ms. */
  rateQueueMs?: number;
  /** Which direction to impair. Default 'both'. */
  direction?: 'tx' | 'rx' | 'both';
  /** Longest time a reordered frame waits for a successor. Default 10 ms. */
  reorderHoldMs?: number;
  /**
   * Where delays and rate limits take their time from, and how they wait. Default
   * `realClock` (`performance.now()` and the global timers); a test passes a manual
   * clock so impairments replay exactly, without reading a real clock.
   */
  clock?: FaultClock;
}

/** Milliseconds from any fixed origin, and one-shot timers on the same clock. */
export interface FaultClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

/** The default `FaultClock`: the process's monotonic clock and the global timers. */
export const realClock: FaultClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

/** splitmix32-style seeded generator: small, fast, good enough for impairments. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return ((z ^ (z >>> 15)) >>> 0) / 4294967296;
  };
}

export interface FaultCounters {
  frames: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  delayed: number;
  rateDropped: number;
}

const newCounters = (): FaultCounters => ({
  frames: 0,
  lost: 0,
  duplicated: 0,
  reordered: 0,
  corrupted: 0,
  delayed: 0,
  rateDropped: 0,
});

/** One direction's impairment pipeline. `emit` gets frames in batches. */
class Impairer {
  readonly c = newCounters();
  private readonly rand: () => number;
  private held: Uint8Array | undefined;
  private heldTimer: unknown;
  private readonly pending: Array<{ at: number; frame: Uint8Array }> = [];
  private timer: unknown;
  private timerAt = Number.POSITIVE_INFINITY;
  private nextFree = 0;
  private out: Uint8Array[] = [];
  private closed = false;
  private readonly clock: FaultClock;

  constructor(
    private readonly o: FaultOptions,
    seed: number,
    private readonly emit: (frames: Uint8Array[]) => void,
  ) {
    this.rand = seededRandom(seed);
    this.clock = o.clock ?? realClock;
  }

  /** Processes a batch; frames that need no waiting are emitted as one batch at the end. */
  process(frames: readonly Uint8Array[]): void {
    for (const f of frames) this.one(f);
    this.flushOut();
  }

  private one(frame: Uint8Array): void {
    const o = this.o;
    const r = this.rand;
    this.c.frames++;
    // Always draw the same values, so enabling one fault does not shift the others.
    const rLoss = r();
    const rCorrupt = r();
    const rBit = r();
    const rDup = r();
    const rReorder = r();
    const rJitter = r();
    const rJitter2 = r();
    if (rLoss < (o.loss ?? 0)) {
      this.c.lost++;
      return;
    }
    const f = frame.slice();
    if (rCorrupt < (o.corrupt ?? 0) && f.length > 0) {
      const bit = Math.floor(rBit * f.length * 8);
      f[bit >> 3]! ^= 1 << (bit & 7);
      this.c.corrupted++;
    }
    const dup = rDup < (o.duplicate ?? 0);
    if (dup) this.c.duplicated++;
    if (rReorder < (o.reorder ?? 0) && this.held === undefined) {
      // Hold this frame; it goes out right after the next one (or after reorderHoldMs).
      this.c.reordered++;
      this.held = f;
      this.heldTimer = this.clock.setTimer(() => {
        this.heldTimer = undefined;
        const h = this.held;
        this.held = undefined;
        if (h) {
          this.schedule(h, rJitter2);
          this.flushOut();
        }
      }, this.o.reorderHoldMs ?? 10);
      if (dup) this.schedule(f.slice(), rJitter2);
      return;
    }
    this.schedule(f, rJitter);
    if (dup) this.schedule(f.slice(), rJitter2);
    if (this.held) {
      const h = this.held;
      this.held = undefined;
      if (this.heldTimer !== undefined) this.clock.clearTimer(this.heldTimer);
      this.heldTimer = undefined;
      this.schedule(h, rJitter2);
    }
  }

  private schedule(f: Uint8Array, rJitter: number): void {
    const o = this.o;
    const delay = (o.delayMs ?? 0) + (o.jitterMs ?? 0) * rJitter;
    const rate = o.rateBitsPerSec ?? 0;
    if (delay <= 0 && rate <= 0) {
      this.out.push(f);
      return;
    }
    const now = this.clock.now();
    let at = now;
    if (rate > 0) {
      const start = Math.max(now, this.nextFree);
      if (start - now > (o.rateQueueMs ?? 100)) {
        this.c.rateDropped++;
        return;
      }
      this.nextFree = start + (f.length * 8 * 1000) / rate;
      at = this.nextFree;
    }
    at += delay;
    this.c.delayed++;
    // Insert sorted by due time (mostly appends).
    const p = this.pending;
    let i = p.length;
    while (i > 0 && p[i - 1]!.at > at) i--;
    p.splice(i, 0, { at, frame: f });
    this.arm();
  }

  private arm(): void {
    if (this.closed || this.pending.length === 0) return;
    const at = this.pending[0]!.at;
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimer(() => this.fire(), Math.max(0, at - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    const p = this.pending;
    let n = 0;
    // Timers fire up to ~1 ms late; send everything due by then in one batch.
    while (n < p.length && p[n]!.at <= now + 0.5) n++;
    for (const e of p.splice(0, n)) this.out.push(e.frame);
    this.flushOut();
    this.arm();
  }

  private flushOut(): void {
    if (this.out.length === 0 || this.closed) return;
    const batch = this.out;
    this.out = [];
    this.emit(batch);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    if (this.heldTimer !== undefined) this.clock.clearTimer(this.heldTimer);
    this.pending.length = 0;
    this.held = undefined;
  }
}

class FaultLink extends WrappedLink {
  private readonly txImp: Impairer | undefined;
  private readonly rxImp: Impairer | undefined;
  private txRefused = 0;

  constructor(inner: Link, o: FaultOptions) {
    super(inner);
    const seed = o.seed ?? 1;
    const d = o.direction ?? 'both';
    if (d !== 'rx') {
      this.txImp = new Impairer(o, seed, (frames) => {
        this.txRefused += frames.length - this.innerSendBatch(frames);
      });
    }
    if (d !== 'tx') this.rxImp = new Impairer(o, seed ^ 0x5bd1e995, (frames) => this.deliver(frames));
  }

  send(frame: Uint8Array): boolean {
    if (!this.txImp) return this.inner.send(frame);
    this.txImp.process([frame]);
    return true;
  }

  override sendBatch(frames: readonly Uint8Array[]): number {
    if (!this.txImp) return this.innerSendBatch(frames);
    this.txImp.process(frames);
    return frames.length;
  }

  protected receive(frames: readonly Uint8Array[]): void {
    if (this.rxImp) this.rxImp.process(frames);
    else this.deliver(frames);
  }

  /** Fault counters per direction. */
  faults(): { tx: FaultCounters; rx: FaultCounters } {
    return { tx: { ...(this.txImp?.c ?? newCounters()) }, rx: { ...(this.rxImp?.c ?? newCounters()) } };
  }

  override stats(): LinkStats {
    const s = super.stats();
    const f = this.faults();
    for (const dir of ['tx', 'rx'] as const) {
      for (const [k, v] of Object.entries(f[dir])) {
        if (k !== 'frames') s[`${dir}Fault${k[0]!.toUpperCase()}${k.slice(1)}`] = v;
      }
    }
    s.txDropped += this.txRefused;
    return s;
  }

  override async close(): Promise<void> {
    this.txImp?.close();
    this.rxImp?.close();
    await this.inner.close();
  }
}

export type FaultyLink = Link & { faults(): { tx: FaultCounters; rx: FaultCounters } };

/** Impairs `link` as configured; returns the wrapped link (with a `faults()` counter view). */
export function withFaults(link: Link, options: FaultOptions): FaultyLink {
  for (const k of ['loss', 'duplicate', 'reorder', 'corrupt'] as const) {
    const v = options[k];
    if (v !== undefined && !(v >= 0 && v <= 1))
      throw new RangeError(`withFaults: ${k} must be in [0, 1], got ${v}`);
  }
  link.disableOffloads?.();
  if ((options.corrupt ?? 0) > 0 && link.checksumOffload === true) {
    throw new LinkError(
      `withFaults: link ${link.name} offloads TCP checksums, so corrupted frames would be delivered; corrupt must be 0`,
      'EINVAL',
    );
  }
  return new FaultLink(link, options);
}
