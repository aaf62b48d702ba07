/**
 * An in-memory Ethernet switch: any number of ports, each a Link; learns source MACs,
 * floods broadcast/multicast and unknown destinations. Delivery is asynchronous, one
 * scheduled task per port per batch, so two stacks never recurse into each other, and
 * each port's receive queue is bounded (overflow is counted in rxDropped).
 */
import type { FrameRing } from '@tapstack/frame-ring';
import {
  ETHERNET_HEADER_LEN,
  emptyStats,
  formatMac,
  isGroupMac,
  type Link,
  type LinkStats,
  macKey,
  RxTarget,
  toMac,
} from './link.js';

/** Receive copies are carved from slabs of this size (about 170 full-size frames). */
const SLAB_BYTES = 256 * 1024;
/** Delivered slabs a port keeps for reuse (4 MiB); more are left to the GC. */
const SPARE_SLABS = 16;
/** "No slab yet": the next frame takes a spare one (or a new one). */
const NO_SLAB = new Uint8Array(0);

export interface MemorySwitchOptions {
  /** Frames a port may have waiting for delivery; more are dropped. Default 4096. */
  queueFrames?: number;
  /** How a batch is delivered: setImmediate (default; lets I/O and timers run) or queueMicrotask. */
  schedule?: 'immediate' | 'microtask';
  /**
   * TCP checksum offload on every port (Link.checksumOffload): frames never leave this
   * process, so stacks on this switch skip computing and checking TCP checksums (Linux
   * does the same on `lo`). Every station must offload: a port that checks would drop
   * the offloaded segments. withFaults refuses to corrupt frames on such a link.
   * Default false.
   */
  checksumOffload?: boolean;
}

export interface SwitchPortOptions {
  name: string;
  mac: Uint8Array | string;
  /** IP MTU; frames longer than mtu + 18 (header + VLAN tag) are dropped. Default 1500. */
  mtu?: number;
  queueFrames?: number;
}

export class MemorySwitch {
  private readonly ports = new Set<MemorySwitchPort>();
  private readonly table = new Map<number, MemorySwitchPort>();
  readonly queueFrames: number;
  readonly schedule: (fn: () => void) => void;
  readonly checksumOffload: boolean;
  forwarded = 0;
  flooded = 0;

  constructor(opts: MemorySwitchOptions = {}) {
    this.queueFrames = opts.queueFrames ?? 4096;
    this.checksumOffload = opts.checksumOffload === true;
    this.schedule = opts.schedule === 'microtask' ? queueMicrotask : (fn) => setImmediate(fn);
  }

  createPort(opts: SwitchPortOptions): Link & { readonly switch: MemorySwitch } {
    const port = new MemorySwitchPort(this, opts);
    this.ports.add(port);
    return port;
  }

  get portCount(): number {
    return this.ports.size;
  }

  /** Called by a port's send: learn, then forward or flood. */
  forward(from: MemorySwitchPort, frame: Uint8Array): void {
    const src = macKey(frame, 6);
    if (!isGroupMac(frame, 6) && this.table.get(src) !== from) this.table.set(src, from);
    if (!isGroupMac(frame, 0)) {
      const to = this.table.get(macKey(frame, 0));
      if (to !== undefined) {
        if (to !== from) {
          this.forwarded++;
          to.enqueue(frame);
        }
        return;
      }
    }
    this.flooded++;
    for (const p of this.ports) if (p !== from) p.enqueue(frame);
  }

  remove(port: MemorySwitchPort): void {
    this.ports.delete(port);
    for (const [k, p] of this.table) if (p === port) this.table.delete(k);
  }

  /** MAC table as "mac -> port name" pairs, for debugging and tests. */
  macTable(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [k, p] of this.table) {
      const b = new Uint8Array(6);
      for (let i = 5, v = k; i >= 0; i--, v = Math.floor(v / 256)) b[i] = v % 256;
      out.push([formatMac(b), p.name]);
    }
    return out;
  }
}

class MemorySwitchPort implements Link {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly switch: MemorySwitch;
  readonly checksumOffload: boolean;
  private readonly maxFrame: number;
  private readonly limit: number;
  private queue: Uint8Array[] = [];
  private slab: Uint8Array = NO_SLAB;
  private slabOff = 0;
  /** Slabs holding the frames now queued (the last one is being filled). */
  private slabs: Uint8Array[] = [];
  /** Slabs whose frames were delivered: reused, so steady traffic allocates nothing. */
  private spare: Uint8Array[] = [];
  private scheduled = false;
  private closed = false;
  private readonly rx = new RxTarget();
  private readonly s: LinkStats = emptyStats();

  constructor(sw: MemorySwitch, opts: SwitchPortOptions) {
    this.switch = sw;
    this.name = opts.name;
    this.mac = toMac(opts.mac);
    this.mtu = opts.mtu ?? 1500;
    this.checksumOffload = sw.checksumOffload;
    this.maxFrame = this.mtu + 18;
    this.limit = opts.queueFrames ?? sw.queueFrames;
  }

  send(frame: Uint8Array): boolean {
    if (this.closed || frame.length < ETHERNET_HEADER_LEN || frame.length > this.maxFrame) {
      this.s.txDropped++;
      return false;
    }
    this.s.txFrames++;
    this.s.txBytes += frame.length;
    this.switch.forward(this, frame);
    return true;
  }

  sendBatch(frames: readonly Uint8Array[]): number {
    let n = 0;
    for (const f of frames) if (this.send(f)) n++;
    return n;
  }

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.rx.onFrames(handler);
    if (this.queue.length) this.kick();
  }

  attachRxRing(ring: FrameRing, onReadable?: () => void): void {
    this.rx.attachRxRing(ring, onReadable);
    if (this.queue.length) this.kick();
  }

  /**
   * Copies the frame into this port's receive queue (the sender may reuse its buffer).
   * Copies go into slabs, not one ArrayBuffer each: a per-frame `slice()` was the
   * switch's largest cost (allocation and GC). Receivers get views that are valid only
   * during their call (the Link contract), so a delivered batch's slabs are reused:
   * fresh ArrayBuffers were most of the external memory that drove V8's full GCs.
   */
  enqueue(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.queue.length >= this.limit) {
      this.s.rxDropped++;
      return;
    }
    const n = frame.length;
    if (this.slabOff + n > this.slab.length) {
      let next = this.spare.pop();
      if (next === undefined || next.length < n) next = new Uint8Array(Math.max(SLAB_BYTES, n));
      this.slab = next;
      this.slabs.push(next);
      this.slabOff = 0;
    }
    const copy = this.slab.subarray(this.slabOff, this.slabOff + n);
    copy.set(frame);
    this.slabOff += (n + 7) & ~7;
    this.queue.push(copy);
    this.kick();
  }

  private kick(): void {
    if (this.scheduled || !this.rx.attached) return;
    this.scheduled = true;
    this.switch.schedule(() => this.deliver());
  }

  private deliver(): void {
    this.scheduled = false;
    if (this.closed) return;
    const batch = this.queue;
    if (batch.length === 0) return;
    const used = this.slabs;
    this.queue = [];
    this.slabs = [];
    this.slab = NO_SLAB; // the next frame starts a fresh (or spare) slab
    this.slabOff = 0;
    try {
      this.hand(batch);
    } finally {
      // Every view of `batch` is dead now (ring copies, handlers returned).
      for (const slab of used) if (this.spare.length < SPARE_SLABS) this.spare.push(slab);
    }
  }

  private hand(batch: Uint8Array[]): void {
    // What a ring had no room for is counted as dropped (the ring's own drop counter too).
    const n = this.rx.deliver(batch);
    this.s.rxDropped += batch.length - n;
    this.s.rxFrames += n;
    for (let i = 0; i < n; i++) this.s.rxBytes += batch[i]!.length;
  }

  stats(): LinkStats {
    return { ...this.s, rxQueued: this.queue.length };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.slabs = [];
    this.spare = [];
    this.switch.remove(this);
  }

  toString(): string {
    return `MemorySwitchPort(${this.name})`;
  }
}
