/**
 * Ethernet over UDP with VXLAN framing (RFC 7348): an 8-byte header (flags with the I
 * bit, a 24-bit VNI) in front of the inner Ethernet frame. Peers are static or learned
 * from traffic (inner source MAC -> remote endpoint); broadcast, multicast and unknown
 * destinations are flooded to every known endpoint (head-end replication, RFC 7348 §4.2
 * without multicast). Runs unprivileged; interoperates with a Linux vxlan device.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { FrameRing } from '@tapstack/frame-ring';
import { emptyStats, isGroupMac, type Link, LinkError, type LinkStats, macKey, toMac } from './link.js';

export const VXLAN_PORT = 4789;
export const VXLAN_HEADER_BYTES = 8;
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
  /** Inner IP MTU. Default 1450 (1500-byte underlay minus 50 bytes of encapsulation). */
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
  private readonly hdr: Uint8Array;
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
    this.mtu = opts.mtu ?? 1450;
    this.vni = opts.vni ?? 1;
    this.learn = opts.learn ?? true;
    this.staticPeers = (opts.peers ?? []).map((p) => ep(p.address, p.port ?? VXLAN_PORT));
    for (const p of this.staticPeers) {
      this.staticByAddress.set(p.address, p);
      this.endpoints.set(p.key, p);
    }
    this.hdr = new Uint8Array([
      FLAG_I,
      0,
      0,
      0,
      (this.vni >>> 16) & 255,
      (this.vni >>> 8) & 255,
      this.vni & 255,
      0,
    ]);
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
    const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', reuseAddr: false });
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
    const pkt = Buffer.allocUnsafe(VXLAN_HEADER_BYTES + frame.length);
    pkt.set(this.hdr, 0);
    pkt.set(frame, VXLAN_HEADER_BYTES);
    if (target) {
      this.socket.send(pkt, target.port, target.address);
    } else {
      if (this.endpoints.size === 0) {
        this.s.txDropped++;
        return false;
      }
      this.s.txFlooded++;
      for (const e of this.endpoints.values()) this.socket.send(pkt, e.port, e.address);
    }
    this.s.txFrames++;
    this.s.txBytes += frame.length;
    return true;
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

/** Opens a VXLAN link (binds its UDP socket). */
export function openVxlan(opts: VxlanOptions): Promise<VxlanLink> {
  return VxlanLink.open(opts);
}
