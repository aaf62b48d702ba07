/**
 * Ethernet over UDP with VXLAN framing (RFC 7348): an 8-byte header (flags with the I
 * bit, a 24-bit VNI) in front of the inner Ethernet frame. Peers are static or learned
 * from traffic (inner source MAC -> remote endpoint); broadcast, multicast and unknown
 * destinations are flooded to every known endpoint (head-end replication, RFC 7348 §4.2
 * without multicast). Runs unprivileged; interoperates with a Linux vxlan device.
 *
 * Two ways to move the datagrams, same behaviour: on Linux with the package's addon, the
 * addon owns the UDP socket and receives with recvmmsg(2) straight into a frame ring
 * (the sender's address next to each datagram) that JS reads in place — from a poll
 * callback on the event loop (rxMode 'loop', default) or on a native reader thread
 * ('thread') — and the frames of one turn go out with one sendmmsg(2); elsewhere (or
 * `native: false`, or TAPIO_VXLAN_NATIVE=0 in the environment) node:dgram, one
 * datagram per call.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import type { FrameRing, RingPump } from '@tapstack/frame-ring';
import {
  ETHERNET_HEADER_LEN,
  emptyStats,
  isGroupMac,
  type Link,
  LinkError,
  type LinkStats,
  macKey,
  RxTarget,
  toMac,
} from './link.js';
import { type NativeTap, nativeVxlan } from './native.js';
import { SendHealth } from './send-health.js';
import { createUdpRing, META_BYTES, truncated, UdpSender, udpRingPump } from './udp-ring.js';

export const VXLAN_PORT = 4789;
export const VXLAN_HEADER_BYTES = 8;
/** Outer IPv4 + UDP + VXLAN + inner Ethernet headers (RFC 7348 §5: 50 bytes over an IPv4 underlay). */
export const VXLAN_OVERHEAD_BYTES = 50;
/**
 * The largest inner MTU one UDP datagram over IPv4 can carry: 65535 - 50. Over loopback
 * (device MTU 65536) nothing on the path is smaller.
 */
export const VXLAN_MAX_MTU = 65535 - VXLAN_OVERHEAD_BYTES;

/**
 * The inner MTU to use when none is configured, after Linux's vxlan driver (underlay
 * device MTU minus the encapsulation): bound to a loopback address, every datagram
 * stays on `lo` (MTU 65536), so the tunnel carries the largest frames a datagram can
 * hold (VXLAN_MAX_MTU); otherwise the underlay is assumed to be a 1500-byte Ethernet:
 * 1450. On loopback the cost is per datagram (a send and a receive syscall, a Node
 * Buffer each), not per byte: 1450-byte frames there cap a TCP stream far lower.
 */
export function defaultVxlanMtu(localAddress = '127.0.0.1'): number {
  const a = localAddress.toLowerCase();
  const loopback = (isIP(a) === 4 && a.startsWith('127.')) || a === '::1' || a === '0:0:0:0:0:0:0:1';
  return loopback ? VXLAN_MAX_MTU : 1450;
}
/** The counter a datagram that is not one of our frames is dropped under. */
type DropReason = 'rxMalformed' | 'rxBadFlags' | 'rxWrongVni' | 'rxUnknownPeer';

/** Flags byte with the I bit (RFC 7348 §5: "valid VNI"). */
const FLAG_I = 0x08;

export interface VxlanPeer {
  address: string;
  port?: number;
}

export interface VxlanOptions {
  name?: string;
  mac: Uint8Array | string;
  /** 24-bit VXLAN network identifier. Default 1. */
  vni?: number;
  /**
   * Inner IP MTU. Default `defaultVxlanMtu(address)`: 65485 when bound to loopback, else
   * 1450 (a 1500-byte underlay minus 50 bytes of encapsulation).
   */
  mtu?: number;
  /** Local address to bind. Default '127.0.0.1' (use '0.0.0.0' to reach other machines). */
  address?: string;
  /** Local UDP port; 0 picks a free one. Default 4789. */
  port?: number;
  /** Static peers; their port defaults to 4789. */
  peers?: readonly VxlanPeer[];
  /**
   * Accept frames from any sender and learn MAC -> endpoint from them (the old behaviour).
   * Default false: only datagrams from a configured peer's address are accepted (others
   * are counted in `rxUnknownPeer` and dropped); MACs are still mapped to those peers.
   */
  learn?: boolean;
  /**
   * Learning: MACs remembered at most [4096]; a new MAC beyond it (after aged ones are
   * dropped) is not learned and counted in `learnRefused` (its frames are still delivered).
   */
  maxLearnedMacs?: number;
  /** Learning: a MAC not heard from for this long is forgotten, as a switch does [300000 ms]. */
  macAgeMs?: number;
  /**
   * Learning: endpoints (address:port) that are not configured peers, at most [64]. Frames
   * to a broadcast, multicast or unknown MAC go to the configured peers plus these, never
   * to an unbounded set; a MAC behind one more endpoint is refused (`learnRefused`).
   */
  maxLearnedEndpoints?: number;
  /** Clock for ageing, in ms [performance.now]; tests pass their own. */
  now?: () => number;
  /** Socket buffer sizes in bytes. Default 4 MiB each (the kernel may cap them). */
  socketBufferBytes?: number;
  /**
   * Datagram I/O. Default (undefined): the addon's recvmmsg/sendmmsg path when the addon
   * is built (Linux), else node:dgram; the environment variable TAPIO_VXLAN_NATIVE=0
   * makes the default node:dgram. false: always node:dgram. true: the addon or ENOTSUP.
   */
  native?: boolean;
  /** Native path: bytes of the receive ring the reader thread fills. Default 4 MiB. */
  ringBytes?: number;
  /**
   * Native path, where datagrams are received. 'loop' (default): no thread; libuv polls
   * the socket on this thread's event loop and the addon reads each burst with recvmmsg
   * (up to 64 datagrams a call) into the ring from the poll callback, then JS reads it in
   * place. 'thread': a native thread blocks in recvmmsg(2) and writes into the ring; JS is
   * woken by a threadsafe call once per consumer sleep (as the TAP reader). The thread
   * wins when a core is idle (one process sending to itself over loopback at 64 KiB:
   * x1.7 of dgram against x1.3), but wakes for nearly every datagram; between two daemons
   * on this 2-core box 'loop' used less CPU per MiB and made more connections per second.
   * The environment variable TAPIO_VXLAN_RXMODE=thread|loop changes the default.
   */
  rxMode?: 'thread' | 'loop';
}

export interface VxlanStats extends LinkStats {
  /** Datagrams shorter than a VXLAN header plus an Ethernet header. */
  rxMalformed: number;
  /** Datagrams without the I flag. */
  rxBadFlags: number;
  /** Datagrams for another VNI. */
  rxWrongVni: number;
  /** Datagrams from an address that is not a configured peer (when not learning). */
  rxUnknownPeer: number;
  /** Frames sent to every known endpoint (broadcast, multicast, unknown unicast). */
  txFlooded: number;
  socketErrors: number;
  peers: number;
  learnedMacs: number;
  /** MACs not learned: the MAC table or the learned endpoints were full. */
  learnRefused: number;
  /** Learned MACs forgotten after `macAgeMs` without a frame. */
  learnAged: number;
  /**
   * Native path: destination slots the addon holds (configured peers and learned endpoints
   * sent to; an aged-out endpoint's slot is reused, so this stays bounded). 0 on dgram.
   */
  txEndpointIds: number;
  /**
   * 1 while the socket cannot send or receive: the last sends in a row all failed for
   * lack of a path (no route, the bound address gone; see send-health.ts), or the native
   * reader stopped on an error. A send that gets out brings it back to 0.
   */
  down: number;
  /** errno of the last failed send, 0 before one. */
  txLastErrno: number;
  /** errno that stopped the native reader, 0 while it runs. */
  rxLastErrno: number;
}

interface Learned {
  e: Endpoint;
  /** When a frame from this MAC was last seen (ms, the link's clock). */
  seen: number;
}

interface Endpoint {
  address: string;
  port: number;
  key: string;
}

/** Native path: datagrams staged before a send flushes without waiting for the microtask. */
const TX_ENTRIES = 1024;
const TX_BATCH = 256;
/**
 * Native path: staged bytes that make a send go out at once. Small frames are batched
 * (many per sendmmsg); a turn's worth of large frames is not held back until the turn
 * ends, so the peer (on loopback, another process on another core) starts on the first
 * while this side builds the next, as with dgram's immediate sends.
 */
const TX_FLUSH_BYTES = 64 * 1024;

interface NativeIo {
  native: NativeTap;
  handle: unknown;
  address: { address: string; port: number };
}

const ep = (address: string, port: number): Endpoint => ({ address, port, key: `${address}|${port}` });

export class VxlanLink implements Link {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly vni: number;
  /** Which datagram I/O this link uses: the addon's recvmmsg/sendmmsg, or node:dgram. */
  readonly backend: 'native' | 'dgram';
  /** Native path: a reader thread, or reads on the event loop (see VxlanOptions.rxMode). */
  readonly rxMode: 'thread' | 'loop';
  private readonly socket: Socket | undefined;
  private readonly nio: NativeIo | undefined;
  private readonly learn: boolean;
  private readonly staticPeers: Endpoint[];
  private readonly staticByAddress = new Map<string, Endpoint>();
  /** MAC -> where it was last seen; Map order is oldest refresh first (for ageing). */
  private readonly learned = new Map<number, Learned>();
  /** Where frames go when flooded: configured peers and learned endpoints. */
  private readonly endpoints = new Map<string, Endpoint>();
  /** Learned endpoints that are not configured peers -> how many MACs are behind each. */
  private readonly learnedEps = new Map<string, number>();
  private readonly maxLearnedMacs: number;
  private readonly macAgeMs: number;
  private readonly maxLearnedEndpoints: number;
  private readonly now: () => number;
  private nextSweep = 0;
  /**
   * Reused for outgoing datagrams (header written once): dgram sends synchronously here
   * (see `literalLookup`), and a send the kernel could not take at once (EAGAIN) stays
   * queued holding it, which `getSendQueueCount()` tells, and then a fresh one is made.
   */
  private tx: Buffer;
  private readonly rx = new RxTarget();
  private pending: Uint8Array[] = [];
  private scheduled = false;
  private closed = false;
  private readonly s = {
    ...emptyStats(),
    rxMalformed: 0,
    rxBadFlags: 0,
    rxWrongVni: 0,
    rxUnknownPeer: 0,
    txFlooded: 0,
    socketErrors: 0,
    learnRefused: 0,
    learnAged: 0,
  };

  // ---- native path: receive ring (filled by the addon, read here in place; udp-ring.ts)
  private rxPump: RingPump | undefined;
  private sender: UdpSender | undefined;
  private rxWakeups = 0;
  // ---- native path: send staging (datagrams back to back, 8-aligned) and their targets
  private stage: Uint8Array;
  private readonly txOff = new Uint32Array(TX_ENTRIES);
  private readonly txLen = new Uint32Array(TX_ENTRIES);
  private readonly txEp = new Int32Array(TX_ENTRIES);
  private txCount = 0;
  private stagedBytes = 0;
  private flushQueued = false;
  private txCalls = 0;
  private readonly sout = new Float64Array(4);
  /** Endpoint key -> the addon's endpoint id; -1 while a name resolves, -2 unusable. */
  private readonly epIds = new Map<string, number>();
  /** Sends that got out or failed for lack of a path: whether the link is `down`. */
  private readonly health = new SendHealth();
  /** dgram path: one callback for every send (errors are counted there, not as 'error' events). */
  private readonly onSent = (err: Error | null) => {
    if (!err) this.health.sent();
    else {
      this.s.socketErrors++;
      this.health.failedWith(err);
    }
  };
  /** Ids of forgotten learned endpoints: reused by the next new endpoint (after a flush). */
  private readonly freeIds: number[] = [];

  private constructor(io: Socket | NativeIo, opts: VxlanOptions) {
    this.name = opts.name ?? 'vxlan';
    this.mac = toMac(opts.mac);
    this.mtu = opts.mtu ?? defaultVxlanMtu(opts.address);
    this.vni = opts.vni ?? 1;
    this.learn = opts.learn ?? false;
    this.maxLearnedMacs = opts.maxLearnedMacs ?? 4096;
    this.macAgeMs = opts.macAgeMs ?? 300_000;
    this.maxLearnedEndpoints = opts.maxLearnedEndpoints ?? 64;
    this.now = opts.now ?? (() => performance.now());
    this.staticPeers = (opts.peers ?? []).map((p) => ep(p.address, p.port ?? VXLAN_PORT));
    for (const p of this.staticPeers) this.addStatic(p);
    // dgram's reused datagram buffer (the native path stages into `stage`)
    this.tx = 'native' in io ? Buffer.alloc(0) : this.newTxBuffer();
    this.rxMode = 'loop'; // dgram also reads on the event loop
    if ('native' in io) {
      this.backend = 'native';
      const mode = opts.rxMode ?? (process.env.TAPIO_VXLAN_RXMODE === 'thread' ? 'thread' : 'loop');
      if (mode !== 'thread' && mode !== 'loop') {
        io.native.vxClose(io.handle);
        throw new LinkError(`openVxlan: rxMode must be 'thread' or 'loop', got ${String(mode)}`, 'EINVAL');
      }
      this.rxMode = mode;
      this.nio = io;
      this.socket = undefined;
      const per = VXLAN_HEADER_BYTES + this.mtu + 18 + 8;
      this.stage = new Uint8Array(Math.min(4 << 20, Math.max(256 << 10, 32 * per)));
      this.startNativeRx(opts.ringBytes ?? 4 * 1024 * 1024);
    } else {
      this.backend = 'dgram';
      this.nio = undefined;
      this.socket = io;
      this.stage = new Uint8Array(0);
      io.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
      io.on('error', () => {
        this.s.socketErrors++;
      });
    }
  }

  /** Binds the UDP socket and returns the link. */
  static async open(opts: VxlanOptions): Promise<VxlanLink> {
    const vni = opts.vni ?? 1;
    if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) {
      throw new LinkError(`VNI must be an integer in 0..16777215, got ${vni}`, 'EINVAL');
    }
    const address = opts.address ?? '127.0.0.1';
    const port = opts.port ?? VXLAN_PORT;
    const bytes = opts.socketBufferBytes ?? 4 * 1024 * 1024;
    const wantNative = opts.native ?? process.env.TAPIO_VXLAN_NATIVE !== '0';
    const native = wantNative ? nativeVxlan() : undefined;
    if (opts.native === true && !native) {
      throw new LinkError('openVxlan: native: true, but the tap-io addon is not available here', 'ENOTSUP');
    }
    if (native && isIP(address) !== 0) {
      let handle: unknown;
      try {
        handle = native.vxOpen(address, port, isIPv6(address), bytes);
      } catch (e) {
        const err = e as Error & { code?: string; errno?: number; syscall?: string };
        const o: { errno?: number; syscall?: string; cause: unknown } = { cause: e };
        if (err.errno !== undefined) o.errno = err.errno;
        if (err.syscall !== undefined) o.syscall = err.syscall;
        // the addon's message already names the socket, address and errno
        throw new LinkError(err.message, err.code ?? 'EIO', o);
      }
      try {
        const a = native.vxAddress(handle);
        return new VxlanLink(
          { native, handle, address: { address: a.address, port: a.port } },
          { ...opts, vni },
        );
      } catch (e) {
        native.vxClose(handle); // a bad option (mac, rxMode, ringBytes): no socket left behind
        throw e;
      }
    }
    if (opts.native === true) {
      throw new LinkError(`openVxlan: native: true needs an IP address to bind, got '${address}'`, 'EINVAL');
    }
    const socket = createSocket({
      type: isIPv6(address) ? 'udp6' : 'udp4',
      reuseAddr: false,
      lookup: literalLookup,
    });
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: NodeJS.ErrnoException) => {
        socket.close();
        reject(
          new LinkError(`cannot bind VXLAN socket to ${address}:${port}: ${e.message}`, e.code ?? 'EIO', {
            cause: e,
          }),
        );
      };
      socket.once('error', onErr);
      socket.bind(port, address, () => {
        socket.off('error', onErr);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(bytes);
      socket.setSendBufferSize(bytes);
    } catch {
      // Capped or refused by the kernel: the defaults still work.
    }
    return new VxlanLink(socket, { ...opts, vni });
  }

  /** The bound local endpoint. */
  address(): { address: string; port: number } {
    if (this.nio) return { ...this.nio.address };
    const a = this.socket!.address();
    return { address: a.address, port: a.port };
  }

  /** Adds a static peer at run time. */
  addPeer(peer: VxlanPeer): void {
    const e = ep(peer.address, peer.port ?? VXLAN_PORT);
    this.staticPeers.push(e);
    this.addStatic(e);
  }

  private addStatic(e: Endpoint): void {
    this.staticByAddress.set(e.address, e);
    this.endpoints.set(e.key, e);
    if (isIP(e.address) === 0) {
      // A peer given by name: its datagrams come from its addresses.
      dnsLookup(e.address, { all: true }, (err, addrs) => {
        if (err || this.closed) return;
        for (const a of addrs)
          if (!this.staticByAddress.has(a.address)) this.staticByAddress.set(a.address, e);
      });
    }
  }

  /** Learned MAC table as [mac key, "address:port"]. */
  peers(): Array<{ address: string; port: number; learned: boolean }> {
    const statics = new Set(this.staticPeers.map((p) => p.key));
    return [...this.endpoints.values()].map((e) => ({
      address: e.address,
      port: e.port,
      learned: !statics.has(e.key),
    }));
  }

  /** Learning: the inner source MAC of `frame` (at `off`) is behind address:port. */
  private learnFrom(frame: Uint8Array, off: number, address: string, port: number): void {
    // A peer we configured is answered on its configured port: a kernel vxlan device
    // sends from a hashed source port but listens on its dstport.
    const known = this.staticByAddress.get(address);
    const key = macKey(frame, off);
    const cur = this.learned.get(key);
    const now = this.now();
    if (cur && (known ? cur.e === known : cur.e.address === address && cur.e.port === port)) {
      // Refresh; move to the young end at most once a second (Map order is the age order).
      if (now - cur.seen > 1000) {
        this.learned.delete(key);
        this.learned.set(key, cur);
      }
      cur.seen = now;
      return;
    }
    if (now >= this.nextSweep) this.sweep(now);
    const e = known ?? this.endpoints.get(`${address}|${port}`) ?? ep(address, port);
    const isNewEp = !known && !this.learnedEps.has(e.key);
    if (!cur && this.learned.size >= this.maxLearnedMacs) this.sweep(now);
    if (
      (!cur && this.learned.size >= this.maxLearnedMacs) ||
      (isNewEp && this.learnedEps.size >= this.maxLearnedEndpoints)
    ) {
      this.s.learnRefused++;
      return;
    }
    if (cur) this.forget(key, cur);
    this.learned.set(key, { e, seen: now });
    if (!known) this.learnedEps.set(e.key, (this.learnedEps.get(e.key) ?? 0) + 1);
    this.endpoints.set(e.key, e);
  }

  /** Drops `key`'s entry; a learned endpoint with no MAC behind it any more leaves the flood set. */
  private forget(key: number, l: Learned): void {
    this.learned.delete(key);
    const n = this.learnedEps.get(l.e.key);
    if (n === undefined) return; // a configured peer
    if (n > 1) this.learnedEps.set(l.e.key, n - 1);
    else {
      this.learnedEps.delete(l.e.key);
      this.endpoints.delete(l.e.key);
      this.releaseEndpointId(l.e.key);
    }
  }

  /**
   * Native path: an endpoint left the flood set, so its addon id can serve the next one
   * (issue 14: one id per endpoint ever sent to grew without bound under churn). What is
   * staged for it goes out first, so no queued datagram follows its id to a new address.
   */
  private releaseEndpointId(key: string): void {
    const id = this.epIds.get(key);
    if (id === undefined) return;
    this.epIds.delete(key);
    if (id < 0) return;
    if (this.txCount > 0) this.flush();
    this.freeIds.push(id);
  }

  /** Forgets MACs not seen for `macAgeMs` (oldest first, in Map order). */
  private sweep(now: number): void {
    this.nextSweep = now + Math.min(1000, this.macAgeMs / 4);
    for (const [k, l] of this.learned) {
      if (now - l.seen <= this.macAgeMs) {
        // Entries refreshed within the last second may sit out of order: good enough.
        if (now - l.seen < this.macAgeMs - 1000) break;
        continue;
      }
      this.forget(k, l);
      this.s.learnAged++;
    }
  }

  /** Where a unicast destination MAC was learned, unless that was too long ago. */
  private lookup(frame: Uint8Array): Endpoint | undefined {
    if (this.learned.size === 0) return undefined;
    const key = macKey(frame, 0);
    const l = this.learned.get(key);
    if (!l) return undefined;
    if (this.now() - l.seen > this.macAgeMs) {
      this.forget(key, l);
      this.s.learnAged++;
      return undefined;
    }
    return l.e;
  }

  /**
   * Why the datagram buf[d, d+len) is not a frame of ours (its drop counter), or
   * undefined when it is: both receive paths check here.
   */
  private headerProblem(buf: Uint8Array, d: number, len: number): DropReason | undefined {
    if (len < VXLAN_HEADER_BYTES + ETHERNET_HEADER_LEN) return 'rxMalformed';
    if ((buf[d]! & FLAG_I) === 0) return 'rxBadFlags';
    if (((buf[d + 4]! << 16) | (buf[d + 5]! << 8) | buf[d + 6]!) !== this.vni) return 'rxWrongVni';
    return undefined;
  }

  /** Not learning: only configured peers' addresses may send us frames. */
  private unknownSender(address: string): boolean {
    if (this.learn || this.staticByAddress.has(address)) return false;
    this.drop('rxUnknownPeer');
    return true;
  }

  private drop(reason: DropReason): void {
    this.s[reason]++;
    this.s.rxDropped++;
  }

  private onMessage(msg: Buffer, address: string, port: number): void {
    if (this.closed) return;
    const problem = this.headerProblem(msg, 0, msg.length);
    if (problem !== undefined) {
      this.drop(problem);
      return;
    }
    if (this.unknownSender(address)) return;
    // A plain Uint8Array, not a Buffer: Buffer#slice does not copy, a trap for handlers.
    const frame = new Uint8Array(
      msg.buffer,
      msg.byteOffset + VXLAN_HEADER_BYTES,
      msg.length - VXLAN_HEADER_BYTES,
    );
    if (this.learn && !isGroupMac(frame, 6)) this.learnFrom(frame, 6, address, port);
    this.s.rxFrames++;
    this.s.rxBytes += frame.length;
    this.pending.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      // Datagrams read in one poll phase are delivered as one batch.
      setImmediate(() => this.flushRx());
    }
  }

  private flushRx(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (this.closed || batch.length === 0) return;
    this.deliver(batch);
  }

  private deliver(batch: Uint8Array[]): void {
    this.rx.deliver(batch);
  }

  // ------------------------------------------------------------ native receive

  /** The receive ring (udp-ring.ts), filled by the addon and drained here in place by a RingPump. */
  private startNativeRx(ringBytes: number): void {
    const { native, handle } = this.nio!;
    let ring: FrameRing<ArrayBuffer>;
    try {
      ring = createUdpRing(ringBytes, 'openVxlan');
    } catch (e) {
      native.vxClose(handle);
      throw e;
    }
    this.sender = new UdpSender(ring);
    // Valid frames are handed over as views into the ring, one batch per drain; the
    // records are released after the handlers return.
    const pump = udpRingPump(ring, (max) => ring.drainBatch(max, this.nativeRecord, this.nativeBatch));
    this.rxPump = pump;
    native.vxStart(
      handle,
      new Int32Array(ring.buffer),
      () => {
        this.rxWakeups++;
        pump.run();
      },
      this.rxMode === 'loop',
    );
    // Drain (nothing yet) and announce the sleep, so the reader wakes us.
    pump.run();
  }

  private readonly nativeRecord = (u8: Uint8Array, off: number, len: number): Uint8Array | undefined =>
    this.closed ? undefined : this.nativeDatagram(u8, off, len);

  private readonly nativeBatch = (batch: Uint8Array[]): void => {
    if (!this.closed) this.deliver(batch);
  };

  /** One record: checks as onMessage, learning; returns the inner frame view or undefined. */
  private nativeDatagram(u8: Uint8Array, off: number, len: number): Uint8Array | undefined {
    const d = off + META_BYTES;
    const dlen = len - META_BYTES;
    const s = this.s;
    // Longer than a ring record (truncated): not a frame we can deliver.
    const problem = truncated(u8, off) ? 'rxMalformed' : this.headerProblem(u8, d, dlen);
    if (problem !== undefined) {
      this.drop(problem);
      return undefined;
    }
    const frame = new Uint8Array(u8.buffer, d + VXLAN_HEADER_BYTES, dlen - VXLAN_HEADER_BYTES);
    const sender = this.sender!;
    sender.read(u8, off);
    if (this.unknownSender(sender.address)) return undefined;
    if (this.learn && !isGroupMac(frame, 6)) this.learnFrom(frame, 6, sender.address, sender.port);
    s.rxFrames++;
    s.rxBytes += frame.length;
    return frame;
  }

  // ------------------------------------------------------------ send

  send(frame: Uint8Array): boolean {
    if (this.closed || frame.length < ETHERNET_HEADER_LEN || frame.length > this.mtu + 18) {
      this.s.txDropped++;
      return false;
    }
    let target: Endpoint | undefined;
    if (!isGroupMac(frame, 0)) target = this.lookup(frame);
    if (!target && this.endpoints.size === 0) {
      this.s.txDropped++;
      return false;
    }
    if (this.nio) {
      this.stageFrame(frame, target);
    } else {
      const socket = this.socket!;
      const tx = this.tx;
      tx.set(frame, VXLAN_HEADER_BYTES);
      const pkt = tx.subarray(0, VXLAN_HEADER_BYTES + frame.length);
      if (target) {
        socket.send(pkt, target.port, target.address, this.onSent);
      } else {
        this.s.txFlooded++;
        for (const e of this.endpoints.values()) socket.send(pkt, e.port, e.address, this.onSent);
      }
      // A send still queued holds `tx` until it completes: the next frame needs another.
      if (socket.getSendQueueCount() > 0) this.tx = this.newTxBuffer();
    }
    this.s.txFrames++;
    this.s.txBytes += frame.length;
    return true;
  }

  /** Native path: copies header + frame into the stage and queues one datagram per target. */
  private stageFrame(frame: Uint8Array, target: Endpoint | undefined): void {
    const need = VXLAN_HEADER_BYTES + frame.length;
    let off = (this.stagedBytes + 7) & ~7;
    if (off + need > this.stage.length || this.txCount >= TX_ENTRIES) {
      this.flush();
      off = 0;
    }
    const st = this.stage;
    const vni = this.vni;
    st[off] = FLAG_I;
    st[off + 1] = 0;
    st[off + 2] = 0;
    st[off + 3] = 0;
    st[off + 4] = (vni >>> 16) & 255;
    st[off + 5] = (vni >>> 8) & 255;
    st[off + 6] = vni & 255;
    st[off + 7] = 0;
    st.set(frame, off + VXLAN_HEADER_BYTES);
    this.stagedBytes = off + need;
    if (target) {
      this.queueDatagram(off, need, target);
    } else {
      this.s.txFlooded++;
      for (const e of this.endpoints.values()) this.queueDatagram(off, need, e);
    }
    if (this.txCount >= TX_BATCH || this.stagedBytes >= TX_FLUSH_BYTES) this.flush();
    else if (!this.flushQueued && this.txCount > 0) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private queueDatagram(off: number, len: number, e: Endpoint): void {
    const id = this.endpointId(e);
    if (id < 0) {
      if (id === -2) this.s.socketErrors++;
      return;
    }
    if (this.txCount >= TX_ENTRIES) {
      // A flood to very many endpoints: send what is queued, keep this frame's bytes.
      const keep = this.stagedBytes;
      this.flush();
      this.stagedBytes = keep;
    }
    const i = this.txCount++;
    this.txOff[i] = off;
    this.txLen[i] = len;
    this.txEp[i] = id;
  }

  /** The addon's id for an endpoint (registered once per address:port). */
  private endpointId(e: Endpoint): number {
    const known = this.epIds.get(e.key);
    if (known !== undefined) return known;
    const { native, handle } = this.nio!;
    const reuse = this.freeIds.pop();
    let id = native.vxEndpoint(handle, e.address, e.port, reuse);
    if (reuse !== undefined && id !== reuse) this.freeIds.push(reuse);
    if (id < 0) {
      if (isIP(e.address) !== 0) {
        id = -2; // an address of the other family: as dgram, a socket error per send
      } else {
        // A host name: resolve it (as dgram would); frames to it are dropped meanwhile.
        id = -1;
        const family = isIPv6(this.nio!.address.address) ? 6 : 4;
        dnsLookup(e.address, { family }, (err, addr) => {
          if (this.closed) return;
          const got = err ? -2 : native.vxEndpoint(handle, addr, e.port);
          this.epIds.set(e.key, got < 0 ? -2 : got);
        });
      }
    }
    // Kept for every later datagram (it was kept only for failures: a slot per datagram).
    this.epIds.set(e.key, id);
    return id;
  }

  /** Native path: sends everything staged now (send() does it by itself at the end of the tick). */
  flush(): void {
    this.flushQueued = false;
    const count = this.txCount;
    this.txCount = 0;
    this.stagedBytes = 0;
    if (count === 0 || this.closed || !this.nio) return;
    const { native, handle } = this.nio;
    native.vxSend(handle, this.stage, this.txOff, this.txLen, this.txEp, count, this.sout);
    this.txCalls++;
    const sent = this.sout[0]!;
    const errors = this.sout[1]!;
    if (errors > 0) this.s.socketErrors += errors;
    if (sent > 0) this.health.sent(sent);
    else if (errors > 0) this.health.failed(this.sout[2]!, errors);
  }

  private newTxBuffer(): Buffer {
    // Frames are at most mtu + 18 bytes (an 802.1Q tag).
    const b = Buffer.allocUnsafeSlow(VXLAN_HEADER_BYTES + this.mtu + 18);
    b.set([FLAG_I, 0, 0, 0, (this.vni >>> 16) & 255, (this.vni >>> 8) & 255, this.vni & 255, 0], 0);
    return b;
  }

  sendBatch(frames: readonly Uint8Array[]): number {
    let n = 0;
    for (const f of frames) if (this.send(f)) n++;
    if (this.nio) this.flush();
    return n;
  }

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.rx.onFrames(handler);
  }

  attachRxRing(ring: FrameRing, onReadable?: () => void): void {
    this.rx.attachRxRing(ring, onReadable);
  }

  /** Keep (true, default) or stop the link from keeping the event loop alive. */
  ref(keep = true): void {
    if (this.closed) return;
    if (this.nio) this.nio.native.vxRef(this.nio.handle, keep);
    else if (keep) this.socket!.ref();
    else this.socket!.unref();
  }

  stats(): VxlanStats {
    const out: VxlanStats = {
      ...this.s,
      rxDropped: this.s.rxDropped + this.rx.ringDropped,
      peers: this.endpoints.size,
      learnedMacs: this.learned.size,
      txEndpointIds: 0,
      down: 0,
      txLastErrno: this.health.lastErrno,
      rxLastErrno: 0,
    };
    if (this.nio && !this.closed) {
      const r = this.nio.native.vxStats(this.nio.handle);
      out.rxDropped += r.dropped; // ring full
      out.rxErrors = r.readErrors;
      out.rxBatches = r.batches;
      out.rxWakeups = this.rxWakeups;
      out.txCalls = this.txCalls;
      out.txEndpointIds = r.endpoints ?? 0;
      // The reader stops only on an error it cannot go on from (the socket is gone).
      if (!r.threadRunning && !r.polling && r.readErrors > 0) out.rxLastErrno = r.lastErrno || 5;
    } else if (this.nio) {
      out.rxDropped += this.finalRxDropped;
      out.rxWakeups = this.rxWakeups;
      out.txCalls = this.txCalls;
    }
    out.down = out.rxLastErrno !== 0 || this.health.down ? 1 : 0;
    return out;
  }

  private finalRxDropped = 0;

  /** Native path: whether the reader (thread, or poll in loop mode) runs; false after close. */
  nativeReaderRunning(): boolean {
    if (!this.nio) return false;
    const st = this.nio.native.vxStats(this.nio.handle);
    return st.threadRunning || st.polling;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.nio) {
      this.flush();
      this.closed = true;
      const { native, handle } = this.nio;
      this.finalRxDropped = native.vxStats(handle).dropped;
      this.rxPump?.stop();
      native.vxClose(handle); // stops and joins the reader thread, closes the socket
      return;
    }
    this.closed = true;
    await new Promise<void>((resolve) => this.socket!.close(() => resolve()));
  }
}

/**
 * dgram's address lookup: IP literals (every peer, in practice) are answered at once,
 * so `send()` reaches the kernel before it returns instead of one process.nextTick
 * later (dns.lookup defers even a literal); names still go to dns.lookup.
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family === 0) dnsLookup(hostname, options, callback);
  else callback(null, hostname, family);
}

/** Opens a VXLAN link (binds its UDP socket). */
export function openVxlan(opts: VxlanOptions): Promise<VxlanLink> {
  return VxlanLink.open(opts);
}
