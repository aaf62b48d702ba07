/**
 * A WireGuard tunnel as a tap-io `Link`. By default it carries bare IP
 * packets (`medium: 'ip'`) for a stack's IP-only interface. With `medium: 'ethernet'` it
 * emulates a point-to-point Ethernet segment for a stack with Ethernet interfaces only:
 * outgoing frames lose their Ethernet header and go into the tunnel by cryptokey routing; ARP
 * requests and IPv6 neighbor solicitations are answered here with one fixed gateway MAC; incoming
 * IP packets get an Ethernet header from that MAC to ours.
 */
import {
  ETHERNET_HEADER_LEN,
  type Link,
  type LinkStats,
  fillTcpChecksum,
  nativeTcpSegment,
} from '@tapstack/tap-io';
import type { InterfaceConfig } from './config.js';
import type { Limits } from './constants.js';
import { formatPrefix } from './ip.js';
import { encodeKey } from './keys.js';
import { UdpWireGuard } from './udp.js';

/** The MAC every tunnel address resolves to (locally administered). */
export const TUNNEL_GATEWAY_MAC = Uint8Array.of(0x02, 0x77, 0x67, 0x00, 0x00, 0x01);

export interface WireGuardLinkOptions {
  config: InterfaceConfig;
  /** The stack's MAC on this link. */
  mac: Uint8Array;
  name?: string;
  /**
   * 'ip' (default): the link carries bare IP packets, for a stack's IP-only interface.
   * 'ethernet': it emulates a point-to-point Ethernet segment (ARP and IPv6 neighbor
   * solicitations answered here with one gateway MAC) for a stack with Ethernet interfaces only.
   */
  medium?: 'ethernet' | 'ip';
  /** UDP address to bind (default 0.0.0.0). */
  host?: string;
  limits?: Partial<Limits>;
  /**
   * IP medium only: take the stack's TCP super-segments (gsoMaxSize 65535) and TCP packets
   * without checksums (checksumOffload), and cut and finish them here, before sealing
   * (software GSO, as wireguard-go does with TUN offloads); received TCP segments are
   * coalesced by the stack (gro) without a checksum check, as Linux's WireGuard marks every
   * authenticated packet CHECKSUM_UNNECESSARY. Default: on where tap-io's addon cuts the parts
   * natively (`nativeTcpSegment()`); its JS twin costs about what the stack's own per-segment
   * path does, so without the addon it is off. TAPSTACK_WG_OFFLOAD=0 / =1 in the environment
   * makes the default off / on. A pcap or faults wrapper turns it off (disableOffloads).
   */
  offload?: boolean;
}

/**
 * What `wg show` prints for the link, as plain JSON-safe data: what a daemon asks of a link
 * that lives on another thread (the stack thread) as well as of one on its own.
 */
export interface WireGuardLinkStatus {
  publicKey: string;
  /** Transport data AEAD: 'openssl' (tap-io's batched addon) or 'node' (node:crypto). */
  aead: 'openssl' | 'node';
  /** The bound UDP endpoint. */
  address: string;
  listenPort: number;
  peers: {
    publicKey: string;
    endpoint: { address: string; port: number } | undefined;
    allowedIps: string[];
    /** Wall-clock ms of the latest handshake; 0 = none yet. */
    latestHandshake: number;
    rxBytes: number;
    txBytes: number;
    persistentKeepalive: number;
    hasSession: boolean;
  }[];
}

/** Opens a WireGuard link (WireGuardLink.open): the factory a worker opens it by (stack-driver link specs). */
export function openWireGuardLink(o: WireGuardLinkOptions): Promise<WireGuardLink> {
  return WireGuardLink.open(o);
}

export interface WireGuardLinkStats extends LinkStats {
  arpAnswered: number;
  ndAnswered: number;
}

export class WireGuardLink implements Link {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly mtu: number;
  readonly medium: 'ethernet' | 'ip';
  readonly #stats: WireGuardLinkStats = {
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    rxDropped: 0,
    txDropped: 0,
    txErrors: 0,
    arpAnswered: 0,
    ndAnswered: 0,
  };
  #handler: ((frames: readonly Uint8Array[]) => void) | undefined;
  #pending: Uint8Array[] = [];
  #scheduled = false;
  #offload: boolean;
  wg!: UdpWireGuard;

  private constructor(o: WireGuardLinkOptions) {
    this.name = o.name ?? 'wg0';
    this.mac = Uint8Array.from(o.mac);
    this.mtu = o.config.mtu ?? 1420;
    this.medium = o.medium ?? 'ip';
    this.#offload = this.medium === 'ip' && (o.offload ?? defaultOffload());
  }

  /** TCP checksums are left to this link and not checked on what it delivers (see `offload`). */
  get checksumOffload(): boolean {
    return this.#offload;
  }

  /** The largest TCP super-segment send() takes (see `offload`); 0 without it. */
  get gsoMaxSize(): number {
    return this.#offload ? 65535 : 0;
  }

  /** The stack coalesces what this link delivers (also with checksumOffload). */
  get gro(): boolean {
    return true;
  }

  /** From now on: whole packets with their checksums only (a pcap or faults wrapper asks). */
  disableOffloads(): void {
    this.#offload = false;
  }

  static async open(o: WireGuardLinkOptions): Promise<WireGuardLink> {
    const link = new WireGuardLink(o);
    link.wg = await UdpWireGuard.open({
      config: o.config,
      host: o.host,
      limits: o.limits,
      onPacket: (p) => link.#fromTunnel(p),
      // A burst's packets go to the stack at its end, in the same turn (no setImmediate hop).
      onBurstEnd: () => link.#flush(),
    });
    return link;
  }

  /** The bound UDP endpoint. */
  address(): { address: string; port: number } {
    return this.wg.address();
  }

  /** The device and its peers, as `wg show` would print them (plain data). */
  status(): WireGuardLinkStatus {
    const d = this.wg.device;
    const a = this.wg.address();
    return {
      publicKey: encodeKey(d.publicKey),
      aead: d.aeadBackend,
      address: a.address,
      listenPort: a.port,
      peers: d.peers().map((p) => ({
        publicKey: p.publicKey,
        endpoint: p.endpoint,
        allowedIps: p.allowedIps.map(formatPrefix),
        latestHandshake: p.latestHandshake,
        rxBytes: p.rxBytes,
        txBytes: p.txBytes,
        persistentKeepalive: p.persistentKeepalive,
        hasSession: p.hasSession,
      })),
    };
  }

  /** From the device, during a receive burst: handed over at its end (onBurstEnd); `later` for our own answers. */
  #fromTunnel(p: Uint8Array, later = false): void {
    if (this.medium === 'ip') {
      this.#deliver(p, later); // the device made this buffer for this packet alone
      return;
    }
    const f = new Uint8Array(ETHERNET_HEADER_LEN + p.length);
    f.set(this.mac, 0);
    f.set(TUNNEL_GATEWAY_MAC, 6);
    const v6 = (p[0] as number) >> 4 === 6;
    f[12] = v6 ? 0x86 : 0x08;
    f[13] = v6 ? 0xdd : 0x00;
    f.set(p, ETHERNET_HEADER_LEN);
    this.#deliver(f, later);
  }

  /**
   * Frames are handed over in batches: a receive burst's at its end; answers made here
   * (ARP, neighbor advertisements: `later`) at the next turn.
   */
  #deliver(f: Uint8Array, later = true): void {
    this.#stats.rxFrames++;
    this.#stats.rxBytes += f.length;
    this.#pending.push(f);
    if (later && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    if (this.#handler) this.#handler(batch);
    else this.#stats.rxDropped += batch.length;
  }

  send(frame: Uint8Array, gsoSize?: number): boolean {
    if (this.medium === 'ip') {
      if (this.#offload) return this.#sendOffloaded(frame, gsoSize ?? 0);
      return this.#sendIp(frame, frame.length);
    }
    if (frame.length < ETHERNET_HEADER_LEN) {
      this.#stats.txDropped++;
      return false;
    }
    const type = ((frame[12] as number) << 8) | (frame[13] as number);
    if (type === 0x0806) return this.#answerArp(frame);
    if (type !== 0x0800 && type !== 0x86dd) {
      this.#stats.txDropped++;
      return false;
    }
    const ip = frame.subarray(ETHERNET_HEADER_LEN);
    if (type === 0x86dd && this.#answerNeighborSolicitation(ip)) return true;
    return this.#sendIp(ip, frame.length);
  }

  /**
   * With offload: a TCP super-segment goes to the device, which cuts it into MTU-sized
   * packets in its seal buffer; a TCP packet that fits gets its checksum here (the stack left
   * it to us; its buffer is ours to write until this returns).
   */
  #sendOffloaded(ip: Uint8Array, gsoSize: number): boolean {
    if (gsoSize > 0 && ip.length > this.mtu) {
      const n = this.wg.sendSegmented(ip, gsoSize);
      if (n === 0) {
        this.#stats.txDropped++;
        return false;
      }
      // Counted as the packets that go into the tunnel (each part repeats the headers).
      const parts = Math.ceil((ip.length - segmentHeaderBytes(ip)) / gsoSize);
      this.#stats.txFrames += n;
      this.#stats.txBytes += ip.length + (parts - 1) * segmentHeaderBytes(ip);
      return true;
    }
    fillTcpChecksum(ip); // false (nothing done) for anything but a whole TCP segment
    return this.#sendIp(ip, ip.length);
  }

  #sendIp(ip: Uint8Array, frameBytes: number): boolean {
    const v = ip.length > 0 ? (ip[0] as number) >> 4 : 0;
    // Multicast (IPv4 224/4, IPv6 ff00::/8) has no peer on a point-to-point tunnel.
    if (
      (v === 4 && ((ip[16] as number) & 0xf0) === 0xe0) ||
      (v === 6 && ip[24] === 0xff) ||
      !this.wg.send(ip)
    ) {
      this.#stats.txDropped++;
      return false;
    }
    this.#stats.txFrames++;
    this.#stats.txBytes += frameBytes;
    return true;
  }

  #batch: Uint8Array[] = [];
  #accepted = new Uint8Array(64);

  /** IP packets of a batch are sealed together (one AEAD call per session key). */
  sendBatch(frames: readonly Uint8Array[]): number {
    if (this.medium !== 'ip') {
      let n = 0;
      for (const f of frames) if (this.send(f)) n++;
      return n;
    }
    const batch = this.#batch;
    for (const ip of frames) {
      const v = ip.length > 0 ? (ip[0] as number) >> 4 : 0;
      // Multicast (IPv4 224/4, IPv6 ff00::/8) has no peer on a point-to-point tunnel.
      if ((v === 4 && ((ip[16] as number) & 0xf0) === 0xe0) || (v === 6 && ip[24] === 0xff))
        this.#stats.txDropped++;
      else {
        if (this.#offload) fillTcpChecksum(ip);
        batch.push(ip);
      }
    }
    if (this.#accepted.length < batch.length) this.#accepted = new Uint8Array(batch.length * 2);
    const ok = this.#accepted;
    const n = this.wg.sendMany(batch, ok);
    for (let i = 0; i < batch.length; i++) {
      if (ok[i] === 1) {
        this.#stats.txFrames++;
        this.#stats.txBytes += (batch[i] as Uint8Array).length;
      } else this.#stats.txDropped++;
    }
    batch.length = 0;
    return n;
  }

  /** ARP request for any address but the asker's own: the gateway MAC answers. */
  #answerArp(f: Uint8Array): boolean {
    if (f.length < 42 || f[20] !== 0 || f[21] !== 1) return false; // not a request
    const senderIp = f.subarray(28, 32);
    const targetIp = f.subarray(38, 42);
    const probe = senderIp.every((b) => b === 0) || senderIp.every((b, i) => b === targetIp[i]);
    if (probe) return true; // DAD probe or gratuitous ARP: nobody else is on this link
    const r = new Uint8Array(42);
    r.set(f.subarray(6, 12), 0);
    r.set(TUNNEL_GATEWAY_MAC, 6);
    r.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x02], 12);
    r.set(TUNNEL_GATEWAY_MAC, 22);
    r.set(targetIp, 28);
    r.set(f.subarray(22, 28), 32);
    r.set(senderIp, 38);
    this.#stats.arpAnswered++;
    this.#deliver(r);
    return true;
  }

  /** ICMPv6 neighbor solicitation (RFC 4861 7.2.4): answer with an advertisement from the gateway. */
  #answerNeighborSolicitation(ip: Uint8Array): boolean {
    if (ip.length < 64 || ip[6] !== 58 || ip[40] !== 135) return false;
    const src = ip.subarray(8, 24);
    if (src.every((b) => b === 0)) return true; // DAD: no other node, no answer
    const target = ip.subarray(48, 64);
    const na = new Uint8Array(40 + 32);
    na[0] = 0x60;
    na[5] = 32;
    na[6] = 58;
    na[7] = 255;
    na.set(target, 8);
    na.set(src, 24);
    na[40] = 136;
    na[44] = 0x60; // Solicited | Override
    na.set(target, 48);
    na[64] = 2; // target link-layer address option
    na[65] = 1;
    na.set(TUNNEL_GATEWAY_MAC, 66);
    const c = icmpv6Checksum(na);
    na[42] = c >> 8;
    na[43] = c & 0xff;
    this.#stats.ndAnswered++;
    this.#fromTunnel(na, true);
    return true;
  }

  onFrames(handler: (frames: readonly Uint8Array[]) => void): void {
    this.#handler = handler;
  }

  stats(): WireGuardLinkStats {
    const d = this.wg.device;
    const c = d.counters;
    const peers = d.peers();
    const sock = this.wg.socketHealth();
    return {
      ...this.#stats,
      // The UDP socket: `down` (a gauge) while sends find no path, and the last errno.
      txLastErrno: sock.txLastErrno,
      down: sock.down,
      // Levels (gauges): peers configured, peers with a session that can send now.
      peers: peers.length,
      sessions: peers.filter((p) => p.hasSession).length,
      handshakes: c.responsesReceived + c.initiationsReceived,
      // The UDP socket under the tunnel: send errors, a full destination table, ring drops.
      ...udpStats(this.wg.ioStats()),
      cookieReplies: c.cookieRepliesSent,
      wgDropped:
        c.dropMalformed +
        c.dropMac1 +
        c.dropUnknownPeer +
        c.dropHandshakeRejected +
        c.dropUnknownIndex +
        c.dropRateLimited +
        c.dropDecrypt +
        c.dropReplay +
        c.dropExpiredKeypair +
        c.dropAllowedIps +
        c.dropBadInner,
    };
  }

  async close(): Promise<void> {
    this.#handler = undefined;
    this.wg.close();
  }
}

function udpStats(u: { txErrors: number; txNoSlot: number; rxDropped: number }) {
  return { udpTxErrors: u.txErrors, udpTxNoSlot: u.txNoSlot, udpRxDropped: u.rxDropped };
}

function icmpv6Checksum(p: Uint8Array): number {
  let s = 0;
  const len = p.length - 40;
  for (let i = 8; i < 40; i += 2) s += ((p[i] as number) << 8) | (p[i + 1] as number);
  s += len + 58;
  for (let i = 40; i < p.length; i += 2) s += ((p[i] as number) << 8) | (p[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** IP and TCP header bytes of a TCP segment (what each part of a super-segment repeats). */
function segmentHeaderBytes(ip: Uint8Array): number {
  const th = (ip[0] as number) >> 4 === 4 ? ((ip[0] as number) & 0x0f) * 4 : 40;
  return th + ((ip[th + 12] as number) >> 4) * 4;
}

/** `offload` unless given: TAPSTACK_WG_OFFLOAD=0/1, else on where the addon cuts super-segments. */
function defaultOffload(): boolean {
  const env = process.env.TAPSTACK_WG_OFFLOAD;
  if (env === '0') return false;
  if (env === '1') return true;
  return nativeTcpSegment() !== undefined;
}
