/**
 * A Linux TAP device as a Link, through the package's own N-API addon. Frames are read
 * on a native thread straight into a frame ring (LAYOUT.md of frame-ring); JS hears of
 * them through one threadsafe call per consumer sleep, never per frame. Sends are copied
 * into a staging buffer and written with one native call per batch.
 */
import { FrameRing, RingPump } from '@tapstack/frame-ring';
import {
  deliverFrames,
  ETHERNET_HEADER_LEN,
  emptyStats,
  type Link,
  LinkError,
  type LinkStats,
  randomMac,
  toMac,
} from './link.js';
import { loadNative, type NativeTap } from './native.js';
import { NATIVE_RX_PUMP } from './udp-ring.js';

export interface TapOptions {
  /** Interface name; created if missing, attached if it exists and is free (EBUSY if in use). */
  name: string;
  /** IP MTU to set on the device. Default: leave as is (1500 for a new device). */
  mtu?: number;
  /**
   * The MAC this link (the userspace stack) uses: `link.mac`. Default: a random locally
   * administered unicast address. The kernel side of the TAP has its own, deviceMac.
   */
  mac?: Uint8Array | string;
  /** MAC to set on the kernel side of the device. Default: leave as is (kernel-chosen). */
  deviceMac?: Uint8Array | string;
  /** Bring the link up. Default true. */
  up?: boolean;
  /** Bytes of the internal rx ring used by onFrames. Default 4 MiB. */
  ringBytes?: number;
  /** Frames staged before send() writes without waiting for the microtask. Default 256. */
  txBatch?: number;
  /**
   * Where frames are read. 'thread' (default): a native reader thread blocks in read(2)
   * and writes into the ring; JS is woken by a threadsafe call. 'loop': no thread; libuv
   * polls the fd on this thread's event loop and the addon reads each batch into the ring
   * from the poll callback (one thread fewer; reads compete with the JS on this thread).
   */
  rxMode?: 'thread' | 'loop';
  /**
   * Thread mode, wake coalescing: when the reader finds the consumer asleep while frames
   * are streaming (the read for the batch's first frame blocked < 50 us) and the batch is
   * under 256 frames, it keeps reading until 256 frames, a 20 us gap with no frame, or this
   * many microseconds, then wakes JS once. A busy link costs one JS wakeup per hundreds of
   * frames instead of one per small batch; a frame on an idle link (request/response) is
   * not held. 0 wakes at once. Default 200.
   */
  rxCoalesceUs?: number;
  /**
   * Wake coalescing holds a wake only while frames stream: when the read for a batch's
   * first frame blocked less than this many microseconds. Default 50. (Tests raise it so
   * the held-wake path runs whatever the machine's load.)
   */
  rxCoalesceBusyUs?: number;
  /**
   * Kernel offloads through a virtio-net header (IFF_VNET_HDR, TUNSETOFFLOAD): the kernel
   * hands over TCP super-frames of up to 64 KiB (TSO4/TSO6) with checksums it vouches for,
   * and takes super-frames and partial checksums from us, cutting and finishing them
   * itself. The link then has `checksumOffload` (TCP checksums are finished by the addon
   * and the kernel) and `gsoMaxSize`. Falls back to fewer offloads, or none, when the
   * kernel or device refuses them (see `offloads`). Default false.
   */
  offload?: boolean;
  /**
   * SYN shedding in the reader: while the receive ring is over half full, pure TCP SYNs
   * without options are read and not committed, SYNs with options only once it is 7/8
   * full (counted in `stats().rxSynShed`), so a SYN flood that outruns the consumer
   * leaves the rest of the ring to ACKs and data instead of filling it and having every
   * frame dropped. Default true.
   */
  rxSynShed?: boolean;
  /**
   * Frames the kernel queues toward the reader (the device's txqueuelen): when the queue is
   * full the kernel drops what comes next, whatever it is, so it must ride out the moments
   * the reader is off the CPU. Measured under a full-speed SYN flood on a loaded 2-core box
   * (stack-driver synflood bench): at Linux's default of 1000 the kernel dropped 25–60k
   * frames/s blindly and legit connections failed; at 16384, none. Given: set to this. Default:
   * DEFAULT_TX_QUEUE_LEN, and only when the device's queue is shorter (a longer one an
   * administrator set is kept). 0 leaves the device as it is.
   */
  txQueueLen?: number;
}

/**
 * TapOptions.txQueueLen's default: 16384 frames (Linux's own is 1000). The kernel holds at
 * most this many frames for a reader that is off the CPU — up to ~15 MB of small frames.
 */
export const DEFAULT_TX_QUEUE_LEN = 16384;

/** TUNSETOFFLOAD bits (linux/if_tun.h). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
/** The largest IP packet a super-frame carries (IPv4 total length is 16 bits). */
export const GSO_MAX_SIZE = 65535;

/** The metadata word is native-endian (the reader writes it as a uint32). */
const META_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The TCP part size of a frame the TAP reader put in a ring (README "Offloads": the record's
 * metadata word, 4 bytes before the payload at `at`, as `FrameRing.drainRaw` gives it):
 * `gso_size` when a virtio-net header came with the frame (bit 31) and its GSO type is
 * TCPv4 or TCPv6 (1, 4), else 0. A stack takes it as `receive(…, gsoSize)`.
 */
export function tcpGsoSizeAt(bytes: Uint8Array, at: number): number {
  const hi = bytes[META_LE ? at - 1 : at - 4]!;
  if ((hi & 0x80) === 0) return 0; // no virtio-net header (or another producer's word)
  const type = bytes[META_LE ? at - 2 : at - 3]! & 0x7f;
  if (type !== 1 && type !== 4) return 0;
  return META_LE ? bytes[at - 4]! | (bytes[at - 3]! << 8) : (bytes[at - 2]! << 8) | bytes[at - 1]!;
}
// writeBatch vnetMode bits (native/tap.cc).
const VNET_ON = 1;
const VNET_ETHERNET = 2;
const VNET_TCP_CSUM = 4;

const MAX_FRAME = 65535;
/** With offload, a super-frame is an IP packet of up to 64 KiB plus the Ethernet header. */
const MAX_GSO_FRAME = GSO_MAX_SIZE + ETHERNET_HEADER_LEN;

/** A TUN device: IP packets (IFF_TUN | IFF_NO_PI), no MAC. */
export type TunOptions = Omit<TapOptions, 'mac' | 'deviceMac'>;

function wrapError(e: unknown, name: string): never {
  const err = e as Error & { code?: string; errno?: number; syscall?: string };
  if (err && typeof err.code === 'string') {
    let hint = '';
    if (err.code === 'ENOENT') hint = ' (no /dev/net/tun: load the tun module or run where it exists)';
    else if (err.code === 'EPERM' || err.code === 'EACCES')
      hint = ' (needs CAP_NET_ADMIN: run as root or grant the capability)';
    else if (err.code === 'EBUSY')
      hint = ` (interface '${name}' is in use by another process or is not a TAP)`;
    const opts: { errno?: number; syscall?: string; cause: unknown } = { cause: e };
    if (err.errno !== undefined) opts.errno = err.errno;
    if (err.syscall !== undefined) opts.syscall = err.syscall;
    throw new LinkError(`${err.message}${hint}`, err.code === 'EACCES' ? 'EPERM' : err.code, opts);
  }
  throw e;
}

export class TapLink implements Link {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  /** The kernel side's MAC address. */
  readonly deviceMac: Uint8Array;
  readonly fd: number;
  /** 'ip' for a TUN device (openTun): reads and writes are bare IP packets. */
  readonly medium: 'ethernet' | 'ip';
  /** attachRxRing: the addon's reader (thread, or poll callback in 'loop' mode) writes into the ring. */
  readonly nativeRxRing = true;
  /**
   * Bytes of virtio-net header on every read and write: 10 when opened with `offload` and
   * the kernel took IFF_VNET_HDR, else 0.
   */
  readonly vnetHdr: number;
  /** TUN_F_* offloads the kernel hands us now (0 without `offload`, or after disableOffloads()). */
  offloads: number;
  private txOffload: boolean;
  private readonly native: NativeTap;
  private readonly ringBytes: number;
  private reader: unknown;
  private onReadable: (() => void) | undefined;
  private handlers: Array<(frames: readonly Uint8Array[]) => void> = [];
  private closed = false;
  /** onFrames: drains the internal ring into the handlers. */
  private pump: RingPump | undefined;
  // tx staging: frames back to back + their lengths, flushed with one native call.
  private stage = new Uint8Array(256 * 1024);
  private lengths: Uint32Array;
  private gso: Uint16Array;
  private stagedGso = 0;
  private staged = 0;
  private stagedBytes = 0;
  private flushQueued = false;
  private readonly txBatch: number;
  readonly rxMode: 'thread' | 'loop';
  /** The device's queue toward the reader, in frames (TapOptions.txQueueLen), as read back after open. */
  readonly txQueueLen: number;
  /** TapOptions.rxSynShed. */
  readonly rxSynShed: boolean;
  private readonly rxCoalesceUs: number;
  private readonly rxCoalesceBusyUs: number;
  private readonly wout = new Float64Array(3);
  /** Length and gsoSize of a frame written at once (writeNow). */
  private readonly one = new Uint32Array(1);
  private readonly oneGso = new Uint16Array(1);
  private readonly s = {
    ...emptyStats(),
    txCalls: 0,
    rxWakeups: 0,
    txLastErrno: 0,
    txGsoFrames: 0,
    rxSynShed: 0,
  };

  private constructor(native: NativeTap, opts: TapOptions, tun = false) {
    this.native = native;
    this.medium = tun ? 'ip' : 'ethernet';
    let info: ReturnType<NativeTap['open']>;
    const q = opts.txQueueLen;
    if (q !== undefined && !(Number.isInteger(q) && q >= 0 && q <= 1 << 20)) {
      throw new LinkError(`openTap: txQueueLen ${q} must be an integer between 0 and ${1 << 20}`, 'EINVAL');
    }
    try {
      info = native.open(
        opts.name,
        opts.mtu,
        opts.deviceMac === undefined ? undefined : toMac(opts.deviceMac),
        opts.up ?? true,
        false, // blocking: the reader thread blocks in read(2); TAP writes never block
        tun,
        opts.offload === true,
        opts.txQueueLen ?? DEFAULT_TX_QUEUE_LEN,
        opts.txQueueLen === undefined,
      );
    } catch (e) {
      wrapError(e, opts.name);
    }
    this.fd = info.fd;
    this.name = info.name;
    this.deviceMac = Uint8Array.from(info.mac);
    this.mac = tun ? new Uint8Array(6) : opts.mac === undefined ? randomMac() : toMac(opts.mac);
    this.mtu = info.mtu;
    this.txQueueLen = info.txQueueLen ?? 0;
    this.vnetHdr = info.vnetHdr ?? 0;
    this.offloads = this.vnetHdr ? (info.offloads ?? 0) : 0;
    this.txOffload = this.vnetHdr > 0;
    this.ringBytes = opts.ringBytes ?? 4 * 1024 * 1024;
    this.txBatch = opts.txBatch ?? 256;
    this.rxMode = opts.rxMode ?? 'thread';
    this.rxSynShed = opts.rxSynShed ?? true;
    const co = opts.rxCoalesceUs ?? 200;
    if (!(co >= 0 && co <= 1_000_000)) {
      native.close(info.fd);
      throw new LinkError(`openTap: rxCoalesceUs ${co} must be between 0 and 1000000`, 'EINVAL');
    }
    this.rxCoalesceUs = co;
    const busy = opts.rxCoalesceBusyUs ?? 50;
    if (!(busy >= 0 && busy <= 1_000_000)) {
      native.close(info.fd);
      throw new LinkError(`openTap: rxCoalesceBusyUs ${busy} must be between 0 and 1000000`, 'EINVAL');
    }
    this.rxCoalesceBusyUs = busy;
    this.lengths = new Uint32Array(Math.max(this.txBatch, 1024));
    this.gso = new Uint16Array(this.lengths.length);
  }

  /**
   * True while TCP checksums are finished outside the stack: sent frames' TCP checksums
   * are filled in by the addon as partial (the kernel completes them), received frames'
   * are vouched for by the kernel or checked by the reader thread. Stacks then neither
   * fill nor check them (Link.checksumOffload).
   */
  get checksumOffload(): boolean {
    return this.txOffload;
  }

  /**
   * The largest IP packet send() takes as a TCP super-frame (with a gsoSize) for the
   * kernel to cut into segments; 0 when the link does not do it.
   */
  get gsoMaxSize(): number {
    return this.txOffload ? GSO_MAX_SIZE : 0;
  }

  /**
   * Makes the link carry wire-format frames only (pcap and fault wrappers call this): the
   * kernel segments and checksums what it hands over (TUNSETOFFLOAD 0), and sent frames
   * go out as given. Stacks attached afterwards see checksumOffload false, gsoMaxSize 0.
   */
  disableOffloads(): void {
    if (!this.vnetHdr || this.closed) return;
    if (this.offloads !== 0) {
      const rc = this.native.setOffload(this.fd, 0);
      if (rc === 0) this.offloads = 0;
    }
    this.txOffload = false;
  }

  /** Opens (creating if needed) the TAP device. Throws LinkError: ENOTSUP, ENOENT, EPERM, EBUSY. */
  static open(opts: TapOptions, tun = false): TapLink {
    if (!opts || typeof opts.name !== 'string' || opts.name.length === 0) {
      throw new LinkError(`${tun ? 'openTun' : 'openTap'}: options.name is required`, 'EINVAL');
    }
    return new TapLink(loadNative(), opts, tun);
  }

  // ------------------------------------------------------------------ tx

  /** An Ethernet header, or the smallest IP header. */
  private minFrame(): number {
    return this.medium === 'ip' ? 20 : ETHERNET_HEADER_LEN;
  }

  /**
   * Queues a frame. gsoSize (with gsoMaxSize > 0): the frame is a TCP super-frame whose
   * payload the kernel cuts into segments of gsoSize bytes. A frame of DIRECT_WRITE_BYTES
   * or more is written at once from `frame` itself (after anything staged); with checksum
   * offload its TCP checksum field is then rewritten in place (the partial sum the kernel
   * finishes), as the staged copy's is.
   */
  send(frame: Uint8Array, gsoSize = 0): boolean {
    const max = this.txOffload ? MAX_GSO_FRAME : MAX_FRAME;
    if (this.closed || frame.length < this.minFrame() || frame.length > max) {
      this.s.txDropped++;
      return false;
    }
    if (frame.length >= DIRECT_WRITE_BYTES) {
      this.writeNow(frame, gsoSize);
      return true;
    }
    if (this.staged >= this.lengths.length || this.stagedBytes + frame.length > this.stage.length)
      this.flush();
    if (frame.length > this.stage.length) this.stage = new Uint8Array(frame.length * 2);
    this.stage.set(frame, this.stagedBytes);
    if (gsoSize > 0 && this.txOffload) {
      this.gso[this.staged] = gsoSize;
      this.stagedGso++;
      this.s.txGsoFrames++;
    } else this.gso[this.staged] = 0;
    this.lengths[this.staged++] = frame.length;
    this.stagedBytes += frame.length;
    if (this.staged >= this.txBatch) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
    return true;
  }

  /** Copies the frames into the staging buffer and writes them with one native call. */
  sendBatch(frames: readonly Uint8Array[]): number {
    let n = 0;
    for (const f of frames) {
      if (this.closed || f.length < this.minFrame() || f.length > MAX_FRAME) {
        this.s.txDropped++;
        continue;
      }
      if (this.staged >= this.lengths.length || this.stagedBytes + f.length > this.stage.length) this.flush();
      if (f.length > this.stage.length) this.stage = new Uint8Array(f.length * 2);
      this.stage.set(f, this.stagedBytes);
      this.gso[this.staged] = 0;
      this.lengths[this.staged++] = f.length;
      this.stagedBytes += f.length;
      n++;
    }
    this.flush();
    return n;
  }

  /**
   * A big frame (a 64 KiB super-frame) goes straight to the kernel: copying it into the
   * staging buffer cost as much as the write saved by batching (one syscall per frame
   * either way; batching only saves the JS-to-native calls of small frames).
   */
  private writeNow(frame: Uint8Array, gsoSize: number): void {
    if (this.staged > 0) this.flush();
    this.one[0] = frame.length;
    let written: number;
    if (this.vnetHdr) {
      const gso = gsoSize > 0 && this.txOffload ? this.oneGso : undefined;
      if (gso) {
        gso[0] = gsoSize;
        this.s.txGsoFrames++;
      }
      written = this.native.writeBatch(this.fd, frame, this.one, 1, this.wout, this.vnetMode(), gso);
    } else {
      written = this.native.writeBatch(this.fd, frame, this.one, 1, this.wout);
    }
    this.account(this.one, 1, frame.length, written);
  }

  private vnetMode(): number {
    return VNET_ON | (this.medium === 'ethernet' ? VNET_ETHERNET : 0) | (this.txOffload ? VNET_TCP_CSUM : 0);
  }

  /** Writes everything staged now (send() does this by itself at the end of the tick). */
  flush(): void {
    this.flushQueued = false;
    const count = this.staged;
    if (count === 0 || this.closed) return;
    const bytes = this.stagedBytes;
    this.staged = 0;
    this.stagedBytes = 0;
    let written: number;
    if (this.vnetHdr) {
      const gso = this.stagedGso > 0 ? this.gso : undefined;
      this.stagedGso = 0;
      written = this.native.writeBatch(
        this.fd,
        this.stage,
        this.lengths,
        count,
        this.wout,
        this.vnetMode(),
        gso,
      );
    } else {
      written = this.native.writeBatch(this.fd, this.stage, this.lengths, count, this.wout);
    }
    this.account(this.lengths, count, bytes, written);
  }

  private account(lengths: Uint32Array, count: number, bytes: number, written: number): void {
    this.s.txCalls++;
    this.s.txFrames += written;
    if (written === count) this.s.txBytes += bytes;
    else {
      let b = 0;
      for (let i = 0; i < count; i++) b += lengths[i]!;
      this.s.txBytes += Math.round((b * written) / count);
      this.s.txErrors += this.wout[1]!;
      this.s.txDropped += count - written;
      this.s.txLastErrno = this.wout[2]!;
    }
  }

  // ------------------------------------------------------------------ rx

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.handlers.push(handler);
    if (this.reader === undefined && !this.closed) {
      const ring = FrameRing.create({ capacity: this.ringBytes, maxFrameSize: MAX_FRAME });
      // The handlers get copies (drainInto), not views into the ring.
      const pump = new RingPump(
        ring,
        (max) => {
          const batch: Uint8Array[] = [];
          const n = ring.drainInto(batch, max);
          if (batch.length > 0) deliverFrames(this.handlers, batch);
          return n;
        },
        NATIVE_RX_PUMP,
      );
      this.pump = pump;
      this.start(ring, () => pump.run());
      pump.run();
    }
  }

  /** The native reader thread writes into `ring`; a consumer in ring.wait/waitAsync is woken. */
  attachRxRing(ring: FrameRing, onReadable?: () => void): void {
    if (this.reader !== undefined) {
      throw new LinkError(`TAP ${this.name}: the receive path is already started`, 'EBUSY');
    }
    if (ring.maxFrameSize < this.mtu + 18) {
      throw new LinkError(`TAP ${this.name}: ring maxFrameSize ${ring.maxFrameSize} < mtu + 18`, 'EINVAL');
    }
    if (ring.maxFrameSize < MAX_FRAME && (this.offloads & (TUN_F_TSO4 | TUN_F_TSO6)) !== 0) {
      // Super-frames would not fit: keep the checksum offload, let the kernel segment.
      const keep = this.offloads & TUN_F_CSUM;
      if (this.native.setOffload(this.fd, keep) === 0) this.offloads = keep;
    }
    this.start(ring, onReadable);
  }

  private start(ring: FrameRing, onReadable?: () => void): void {
    this.onReadable = onReadable;
    const view = new Int32Array(ring.buffer);
    this.reader = this.native.readerStart(
      this.fd,
      view,
      () => {
        this.s.rxWakeups++;
        ring.notifyConsumer();
        this.onReadable?.();
      },
      this.rxMode === 'loop',
      this.rxCoalesceUs,
      this.rxCoalesceBusyUs,
      this.vnetHdr,
      this.medium === 'ethernet' ? ETHERNET_HEADER_LEN : 0,
      this.rxSynShed,
    );
  }

  /** Keep (true, default) or stop the reader from keeping the event loop alive. */
  ref(keep = true): void {
    if (this.reader !== undefined) this.native.readerRef(this.reader, keep);
  }

  stats(): LinkStats {
    const s: LinkStats = { ...this.s };
    if (this.reader !== undefined) {
      const r = this.native.readerStats(this.reader);
      s.rxFrames = r.frames;
      s.rxBytes = r.bytes;
      s.rxDropped = r.dropped;
      s.rxErrors = r.readErrors;
      s.rxBatches = r.batches;
      s.rxDeferredWakes = r.deferredWakes;
      s.rxSynShed = r.synShed ?? 0;
      if (this.vnetHdr) {
        s.rxCsumErrors = r.csumBad ?? 0;
        s.rxGsoFrames = r.gsoFrames ?? 0;
      }
      if (r.readErrors > 0 && FATAL_ERRNOS.has(r.lastErrno)) s.rxLastErrno = r.lastErrno;
    }
    // The device went away under us (deleted, or its queue closed): reads fail with
    // EBADFD/EIO and the reader stops; writes fail the same way.
    s.down = (s.rxLastErrno ?? 0) !== 0 || FATAL_ERRNOS.has(s.txLastErrno ?? 0) ? 1 : 0;
    return s;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.pump?.stop();
    if (this.reader !== undefined) {
      const final = this.native.readerStats(this.reader);
      this.native.readerStop(this.reader);
      this.s.rxFrames = final.frames;
      this.s.rxBytes = final.bytes;
      this.s.rxDropped = final.dropped;
      this.s.rxSynShed = final.synShed ?? 0;
    }
    this.native.close(this.fd);
  }
}

/** Frames at least this long skip the staging buffer (TapLink.send, writeNow). */
const DIRECT_WRITE_BYTES = 16384;

/** errnos after which a TAP/TUN fd is dead: EIO, EBADF, EFAULT, EBADFD. */
const FATAL_ERRNOS = new Set([5, 9, 14, 77]);

/** Opens a TAP device as a Link (see TapOptions). */
export function openTap(opts: TapOptions): TapLink {
  return TapLink.open(opts);
}

/**
 * Opens (creating if needed) a TUN device: the same native reader and batched writer as
 * TAP, carrying bare IP packets (`medium: 'ip'`). Name, MTU and up as for TAP.
 */
export function openTun(opts: TunOptions): TapLink {
  return TapLink.open(opts, true);
}
