/**
 * Ethernet over UDP with VXLAN framing (RFC 7348): an 8-byte header (flags with the I
 * bit, a 24-bit VNI) in front of the inner Ethernet frame. Peers are static or learned
 * from traffic (inner source MAC -> remote endpoint); broadcast, multicast and unknown
 * destinations are flooded to every known endpoint (head-end replication, RFC 7348 §4.2
 * without multicast). Runs unprivileged; interoperates with a Linux vxlan device.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';
import type { FrameRing } from '@tapstack/frame-ring';
import { emptyStats, isGroupMac, type Link, LinkError, type LinkStats, macKey, toMac } from './link.js';

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
  /** Learn MAC -> endpoint from received frames. Default true. */
  learn?: boolean;
  /** Socket buffer sizes in bytes. Default 4 MiB each (the kernel may cap them). */
  socketBufferBytes?: number;
}

export interface VxlanStats extends LinkStats {
  /** Datagrams shorter than a VXLAN header plus an Ethernet header. */
  rxMalformed: number;
  /** Datagrams without the I flag. */
  rxBadFlags: number;
  /** Datagrams for another VNI. */
  rxWrongVni: number;
  /** Frames sent to every known endpoint (broadcast, multicast, unknown unicast). */
  txFlooded: number;
  socketErrors: number;
  peers: number;
  learnedMacs: number;
}

interface Endpoint {
  address: string;
  port: number;
  key: string;
}

const ep = (address: string, port: number): Endpoint => ({ address, port, key: `${address}|${port}` });

export class VxlanLink implements Link {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly vni: number;
  private readonly socket: Socket;
  private readonly learn: boolean;
  private readonly staticPeers: Endpoint[];
  private readonly staticByAddress = new Map<string, Endpoint>();
  private readonly learned = new Map<number, Endpoint>();
  private readonly endpoints = new Map<string, Endpoint>();
  /**
   * Reused for outgoing datagrams (header written once): dgram sends synchronously here
   * (see `literalLookup`), and a send the kernel could not take at once (EAGAIN) stays
   * queued holding it, which `getSendQueueCount()` tells, and then a fresh one is made.
   */
  private tx: Buffer;
  private handlers: Array<(frames: readonly Uint8Array[]) => void> = [];
  private ring: FrameRing | undefined;
  private onReadable: (() => void) | undefined;
  private pending: Uint8Array[] = [];
  private scheduled = false;
  private closed = false;
  private readonly s = {
    ...emptyStats(),
    rxMalformed: 0,
    rxBadFlags: 0,
    rxWrongVni: 0,
    txFlooded: 0,
    socketErrors: 0,
  };

  private constructor(socket: Socket, opts: VxlanOptions) {
    this.socket = socket;
    this.name = opts.name ?? 'vxlan';
    this.mac = toMac(opts.mac);
    this.mtu = opts.mtu ?? defaultVxlanMtu(opts.address);
    this.vni = opts.vni ?? 1;
    this.learn = opts.learn ?? true;
    this.staticPeers = (opts.peers ?? []).map((p) => ep(p.address, p.port ?? VXLAN_PORT));
    for (const p of this.staticPeers) {
      this.staticByAddress.set(p.address, p);
      this.endpoints.set(p.key, p);
    }
    this.tx = this.newTxBuffer();
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.address, rinfo.port));
    socket.on('error', () => {
      this.s.socketErrors++;
    });
  }

  /** Binds the UDP socket and returns the link. */
  static async open(opts: VxlanOptions): Promise<VxlanLink> {
    const vni = opts.vni ?? 1;
    if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) {
      throw new LinkError(`VNI must be an integer in 0..16777215, got ${vni}`, 'EINVAL');
    }
    const address = opts.address ?? '127.0.0.1';
    const socket = createSocket({
      type: isIPv6(address) ? 'udp6' : 'udp4',
      reuseAddr: false,
      lookup: literalLookup,
    });
    await new Promise<void>((resolve, reject) => {
      const onErr = (e: NodeJS.ErrnoException) => {
        socket.close();
        reject(
          new LinkError(
            `cannot bind VXLAN socket to ${address}:${opts.port ?? VXLAN_PORT}: ${e.message}`,
            e.code ?? 'EIO',
            { cause: e },
          ),
        );
      };
      socket.once('error', onErr);
      socket.bind(opts.port ?? VXLAN_PORT, address, () => {
        socket.off('error', onErr);
        resolve();
      });
    });
    const bytes = opts.socketBufferBytes ?? 4 * 1024 * 1024;
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
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /** Adds a static peer at run time. */
  addPeer(peer: VxlanPeer): void {
    const e = ep(peer.address, peer.port ?? VXLAN_PORT);
    this.staticPeers.push(e);
    this.staticByAddress.set(e.address, e);
    this.endpoints.set(e.key, e);
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

  private onMessage(msg: Buffer, address: string, port: number): void {
    if (this.closed) return;
    if (msg.length < VXLAN_HEADER_BYTES + 14) {
      this.s.rxMalformed++;
      this.s.rxDropped++;
      return;
    }
    if ((msg[0]! & FLAG_I) === 0) {
      this.s.rxBadFlags++;
      this.s.rxDropped++;
      return;
    }
    const vni = (msg[4]! << 16) | (msg[5]! << 8) | msg[6]!;
    if (vni !== this.vni) {
      this.s.rxWrongVni++;
      this.s.rxDropped++;
      return;
    }
    // A plain Uint8Array, not a Buffer: Buffer#slice does not copy, a trap for handlers.
    const frame = new Uint8Array(
      msg.buffer,
      msg.byteOffset + VXLAN_HEADER_BYTES,
      msg.length - VXLAN_HEADER_BYTES,
    );
    if (this.learn && !isGroupMac(frame, 6)) {
      // A peer we configured is answered on its configured port: a kernel vxlan device
      // sends from a hashed source port but listens on its dstport.
      const known = this.staticByAddress.get(address);
      const key = macKey(frame, 6);
      const cur = this.learned.get(key);
      const e = known ?? (cur && cur.address === address && cur.port === port ? cur : ep(address, port));
      if (cur !== e) {
        this.learned.set(key, e);
        this.endpoints.set(e.key, e);
      }
    }
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
    if (this.ring) {
      const n = this.ring.pushBatch(batch, 'drop');
      this.s.rxDropped += batch.length - n;
      if (n > 0) {
        this.ring.notifyConsumer();
        this.onReadable?.();
      }
      return;
    }
    for (const h of this.handlers) h(batch);
  }

  send(frame: Uint8Array): boolean {
    if (this.closed || frame.length < 14 || frame.length > this.mtu + 18) {
      this.s.txDropped++;
      return false;
    }
    let target: Endpoint | undefined;
    if (!isGroupMac(frame, 0)) target = this.learned.get(macKey(frame, 0));
    if (!target && this.endpoints.size === 0) {
      this.s.txDropped++;
      return false;
    }
    const tx = this.tx;
    tx.set(frame, VXLAN_HEADER_BYTES);
    const pkt = tx.subarray(0, VXLAN_HEADER_BYTES + frame.length);
    if (target) {
      this.socket.send(pkt, target.port, target.address);
    } else {
      this.s.txFlooded++;
      for (const e of this.endpoints.values()) this.socket.send(pkt, e.port, e.address);
    }
    // A send still queued holds `tx` until it completes: the next frame needs another.
    if (this.socket.getSendQueueCount() > 0) this.tx = this.newTxBuffer();
    this.s.txFrames++;
    this.s.txBytes += frame.length;
    return true;
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
    return n;
  }

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.handlers.push(handler);
  }

  attachRxRing(ring: FrameRing, onReadable?: () => void): void {
    this.ring = ring;
    this.onReadable = onReadable;
  }

  stats(): VxlanStats {
    return { ...this.s, peers: this.endpoints.size, learnedMacs: this.learned.size };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
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
