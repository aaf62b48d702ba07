/**
 * The link contract: a thing that carries Ethernet frames or bare IP packets (a TAP or
 * TUN device, a VXLAN or WireGuard tunnel, a WebSocket, an in-memory switch port, or a
 * wrapper around another link). Every link implements it and stack-driver consumes it.
 * It lives here, beside the ring it can write into, because links on both sides of the
 * browser line implement it (tap-io's in Node, ws-link's client in a page) and this
 * package is the one both may import. Types only: nothing here runs.
 */
import type { FrameRing } from './frame-ring.js';

/** A link's counters. The seven named ones are always there; links add their own. */
export interface LinkStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  rxDropped: number;
  txDropped: number;
  txErrors: number;
  [k: string]: number;
}

export interface Link {
  readonly name: string;
  /** The 6-byte MAC a stack uses on this link (all zeros and unused on an IP-only link). */
  readonly mac: Uint8Array;
  /** IP MTU (Ethernet frames are up to mtu + 14 bytes, + 18 with a VLAN tag). */
  readonly mtu: number;
  /**
   * What the link carries: Ethernet frames (TAP, VXLAN, switch; absent means this) or bare
   * IP packets (TUN, WireGuard, an IP pipe; `mac` is then unused).
   */
  readonly medium?: 'ethernet' | 'ip';
  /**
   * True when every station on this link trusts the others' frames (an in-process
   * MemorySwitch created with `checksumOffload`, a TAP with `offload`): stacks leave TCP
   * checksums to the link and do not check them, as Linux does on `lo` and `veth`.
   * Absent means false.
   */
  readonly checksumOffload?: boolean;
  /**
   * The largest IP packet send() takes as a TCP super-frame (send's gsoSize > 0), which
   * the link or the kernel behind it cuts into gsoSize-byte segments (TAP with `offload`).
   * Absent or 0: frames must fit the MTU.
   */
  readonly gsoMaxSize?: number;
  /**
   * Whether a stack should coalesce the TCP segments this link delivers (stack-core GRO).
   * Absent: on links without checksumOffload (a TAP with `offload` hands over the kernel's
   * coalesced frames already). A WireGuard link sets it with checksumOffload: it delivers
   * packets one by one, each authenticated, so their checksums need no check.
   */
  readonly gro?: boolean;
  /**
   * True when attachRxRing has a native reader thread write received frames straight into
   * the ring (TAP, TUN): a consumer that drains the ring in place gets them with no copy
   * and no hop through JS. Other links' attachRxRing copies frames in from JS, so for them
   * onFrames costs less.
   */
  readonly nativeRxRing?: boolean;
  /**
   * Copies or writes the frame before returning (the caller may reuse its buffer at once);
   * false = dropped (and counted). gsoSize: see gsoMaxSize.
   */
  send(frame: Uint8Array, gsoSize?: number): boolean;
  /** Sends many frames (one syscall where the link can); returns how many were accepted. */
  sendBatch?(frames: readonly Uint8Array[]): number;
  /**
   * Sends what send() staged now. Links that batch writes do it by themselves at the end
   * of the turn; a caller that drains a ring of outgoing frames calls it after each batch.
   */
  flush?(): void;
  /** Received frames, in batches; the views are valid only during the call. */
  onFrames(handler: (frames: readonly Uint8Array[]) => void): void;
  /**
   * Optional: the link writes received frames into this ring instead of calling onFrames
   * (see nativeRxRing). A consumer sleeping in ring.wait()/waitAsync() is woken;
   * onReadable is called on the link's thread when frames arrive while the consumer had
   * announced it was asleep.
   */
  attachRxRing?(ring: FrameRing, onReadable?: () => void): void;
  stats(): LinkStats;
  close(): Promise<void>;
  /**
   * Optional: from now on carry wire-format frames only, no super-frames and no checksums
   * left to offload (pcap and fault wrappers call it on the link they wrap).
   */
  disableOffloads?(): void;
}
