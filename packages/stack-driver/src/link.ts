/**
 * The shape of a tap-io link as the driver uses it (structural, so any link that
 * carries Ethernet frames works: TAP, VXLAN tunnel, memory switch port, wrappers).
 */
import type { FrameRing } from '@tapstack/frame-ring';

export interface DriverLink {
  readonly name: string;
  /** 6-byte MAC address the stack uses on this link. */
  readonly mac: Uint8Array;
  /** IP MTU (frames are up to mtu + 14 bytes). */
  readonly mtu: number;
  /** Every station on the link offloads TCP checksums (tap-io MemorySwitch `checksumOffload`). */
  readonly checksumOffload?: boolean;
  /** 'ip': the link carries bare IP packets (TUN, WireGuard, IP pipe); absent = Ethernet. */
  readonly medium?: 'ethernet' | 'ip';
  /**
   * TCP segmentation offload (tap-io TAP with `offload`): the largest IP packet send()
   * takes as a super-segment, cut by the kernel into `gsoSize`-byte segments. 0/absent: none.
   */
  readonly gsoMaxSize?: number;
  /**
   * Sends one frame (the link copies or writes it before returning); false = dropped.
   * gsoSize > 0: a TCP super-segment (see gsoMaxSize).
   */
  send(frame: Uint8Array, gsoSize?: number): boolean;
  /** Sends several frames at once (one syscall where the link can); returns how many were taken. */
  sendBatch?(frames: readonly Uint8Array[]): number;
  /** Registers the receive handler; frames arrive in batches, views valid only during the call. */
  onFrames(handler: (frames: readonly Uint8Array[]) => void): void;
  /**
   * Optional (tap-io): the link writes received frames into `ring` instead of calling
   * onFrames (TAP: from its native reader thread); `onReadable` runs on this thread when
   * frames arrive while the consumer had announced it was asleep.
   */
  attachRxRing?(ring: FrameRing, onReadable?: () => void): void;
  /** Counters of the link ("rxFrames", "txDropped", ...). */
  stats(): { [k: string]: number };
  close(): Promise<void>;
}
