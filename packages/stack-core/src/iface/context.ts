/**
 * The IP layer's inner context: the one piece of state that its modules (iface/,
 * ipv4/, ipv6/, icmp/, socket/) share, and the contract between them. Modules are
 * functions over this context (as smoltcp's `InterfaceInner` is split across
 * `iface/interface/*.rs`); none of them holds state of its own. Packets travel down
 * by plain imports (socket → icmp → output → ethernet → medium) and up through the
 * upward handlers (`ipv4Input`, `ipv6Input`, given by `Stack`), so the module graph
 * has no cycles.
 *
 * Receive outcome: every receive handler returns one `Rx` — ACCEPTED, or the drop
 * counter naming why the packet was dropped — and passes on what the handler it hands
 * the packet to returns. `finishRx` counts it, so each received frame (and each
 * looped-back packet) ends in exactly one outcome.
 */
import type { TcpGro } from '../gro.js';
import type { NeighborCache, NeighborConfig } from '../neighbor.js';
import type { Reassembler } from '../reassembly.js';
import type {
  EventHandler,
  Handle,
  Instant,
  IpConfig,
  IpTxSlot,
  SocketError,
  SocketEventMask,
  StackConfig,
  TcpApi,
  TransportProtocol,
} from '../registration.js';
import { SlabCopier } from '../slab.js';
import type { IpAddress, Ipv4Address, Ipv6Address } from '../wire/ip-address.js';
import { Ipv4Address as V4 } from '../wire/ip-address.js';
import { v4Key, v6Key } from './util.js';

/**
 * Every reason a received frame is dropped. Each received frame (and each packet
 * looped back internally) ends in exactly one of these or is accepted, so
 * `stack.rxDropped` equals the sum of these counters.
 */
export const DROP_COUNTERS = [
  'stack.badInterface',
  'eth.truncated',
  'eth.otherHost',
  'eth.vlanTagged',
  'eth.unknownEthertype',
  /** IP-only medium: a packet that is neither IPv4 nor IPv6. */
  'ip.badVersion',
  'arp.truncated',
  'arp.unsupported',
  'arp.badSender',
  'ipv4.truncated',
  'ipv4.malformed',
  'ipv4.badChecksum',
  'ipv4.badSource',
  'ipv4.notForUs',
  'ipv4.unknownProtocol',
  'ipv4.fragOverlap',
  'ipv4.fragDuplicate',
  'ipv4.fragMalformed',
  'ipv4.fragTooBig',
  'ipv4.fragNoMemory',
  'ipv6.truncated',
  'ipv6.malformed',
  'ipv6.badSource',
  'ipv6.notForUs',
  'ipv6.badExtensionHeader',
  'ipv6.unknownNextHeader',
  'ipv6.noNextHeader',
  'ipv6.fragOverlap',
  'ipv6.fragDuplicate',
  'ipv6.fragMalformed',
  'ipv6.fragTooBig',
  'ipv6.fragNoMemory',
  'icmpv4.truncated',
  'icmpv4.badChecksum',
  'icmpv4.malformed',
  'icmpv4.unsupported',
  'icmpv4.broadcastEcho',
  'icmpv4.errorNotOurs',
  /** A Fragmentation Needed that quotes nothing we sent (RFC 5927 §4.3): the MTU is ignored. */
  'icmpv4.pmtuUnverified',
  'icmpv6.truncated',
  'icmpv6.badChecksum',
  'icmpv6.malformed',
  'icmpv6.unsupported',
  'icmpv6.errorNotOurs',
  /** A Packet Too Big that quotes nothing we sent (RFC 5927 §4.3): the MTU is ignored. */
  'icmpv6.pmtuUnverified',
  'icmp.noSocket',
  'ndp.notForUs',
  'ndp.badRouterAdvert',
  'ndp.noInterface',
  'udp.truncated',
  'udp.malformed',
  'udp.badChecksum',
  'udp.noSocket',
  'udp.recvQueueFull',
  'tcp.broadcast',
] as const;
export type DropCounter = (typeof DROP_COUNTERS)[number];

/** The drop counter (after the family prefix) for each way reassembly can refuse a fragment. */
export const FRAG_DROPS = {
  duplicate: 'fragDuplicate',
  overlap: 'fragOverlap',
  tooBig: 'fragTooBig',
  noMemory: 'fragNoMemory',
  malformed: 'fragMalformed',
} as const;

/** The packet was taken (delivered, queued, answered or deliberately ignored). */
export const ACCEPTED = 0;
/** What a receive handler returns: ACCEPTED, or why the packet was dropped. */
export type Rx = DropCounter | typeof ACCEPTED;

export interface AddrV4 {
  address: Ipv4Address;
  prefixLength: number;
  /** Network mask as an unsigned 32-bit number. */
  mask: number;
  origin: string;
}

export interface AddrV6 {
  address: Ipv6Address;
  prefixLength: number;
  origin: string;
  tentative: boolean;
  /** Next DAD step (send NS, or finish) while tentative. */
  dadAt: Instant;
  dadSent: number;
  /** Lifetime end for SLAAC addresses (Infinity for static ones). */
  validUntil: Instant;
}

export interface Route {
  version: 4 | 6;
  destination: IpAddress;
  prefixLength: number;
  gateway: IpAddress | undefined;
  iface: number;
  origin: 'static' | 'ra';
  expires: Instant;
}

/** Where a packet to some destination leaves: `iface` undefined means loopback. */
export interface RouteResult {
  iface: Iface | undefined;
  nextHop: IpAddress;
}

export interface Iface {
  index: number;
  name: string;
  mac: Uint8Array;
  mtu: number;
  /** IPv6 link MTU (an RA's MTU option can lower it). */
  mtu6: number;
  transmit: (frame: Uint8Array, gsoSize?: number) => void;
  /** InterfaceConfig.gsoMaxSize (0: none). */
  gsoMax: number;
  /** gsoSize of the frame being sent now (set by output() around one super-segment). */
  txGso: number;
  /** InterfaceConfig.medium 'ip': packets without an Ethernet header, no neighbor resolution. */
  ip: boolean;
  /** InterfaceConfig.checksumOffload: TCP checksums neither filled nor checked here. */
  csumOffload: boolean;
  /** InterfaceConfig.gro: TCP segments received here are coalesced (gro.ts). */
  gro: boolean;
  /** Transmit scratch: frames are built here and handed to `transmit` as a view. */
  tx: Uint8Array;
  /**
   * The last view of `tx` handed out, reused while the frame length repeats (a bulk
   * sender's frames are all full-size): a fresh subarray per frame was a visible cost.
   */
  txView: Uint8Array;
  /** The last segment view handed out by `reserve` (reused like `txView`). */
  segView: Uint8Array;
  v4: AddrV4[];
  v6: AddrV6[];
  arp: NeighborCache<Ipv4Address>;
  ndp: NeighborCache<Ipv6Address>;
  pendingGarp: Ipv4Address[];
  slaac: boolean;
  rsSent: number;
  rsAt: Instant;
  /** Next MLDv2 report (RFC 3810 §6.1), how many remain, and its record type. */
  mldAt: Instant;
  mldLeft: number;
  mldType: number;
}

export interface Datagram {
  data: Uint8Array;
  address: IpAddress;
  port: number;
}

export interface UdpSocket {
  handle: Handle;
  local: IpAddress | undefined;
  /** 4 after a bind to 0.0.0.0 (IPv4 only, as Node's udp4 sockets); undefined = both families. */
  family: 4 | undefined;
  port: number;
  iface: number | undefined;
  broadcast: boolean;
  /** May send to multicast groups (udpOpen option). */
  multicast: boolean;
  rx: Datagram[];
  rxBytes: number;
  rxMax: number;
  drops: number;
  tx: Datagram[];
  txBytes: number;
  error: 0 | SocketError;
}

export interface EchoReply {
  from: IpAddress;
  sequence: number;
  payload: Uint8Array;
  ttl: number;
}

export interface IcmpSocket {
  handle: Handle;
  ident: number;
  rx: EchoReply[];
  tx: { dst: IpAddress; sequence: number; payload: Uint8Array }[];
  error: 0 | SocketError;
}

/** The open zero-copy reservation (`reserve` → `sendReserved`); `iface` undefined = the scratch path. */
export interface TxReservation {
  slot: IpTxSlot;
  iface: Iface | undefined;
  nextHop: IpAddress;
  src: IpAddress;
  dst: IpAddress;
  protocol: number;
  length: number;
  /** gsoSize of a reserved TCP super-segment (0: an ordinary packet). */
  gso: number;
}

/** The transport the IP layer drives (TCP), with the stack's socket-call surface. */
export type TcpTransport = TransportProtocol &
  TcpApi & {
    socketError(h: Handle): 0 | SocketError;
    connectionCount(): number;
    handleCount(): number;
    timeWaitCount(): number;
  };

/** An upward handler: one network-layer packet from `iface` (undefined = looped back). */
export type IpInput = (cx: IpContext, iface: Iface | undefined, packet: Uint8Array, now: Instant) => Rx;

export class IpContext {
  readonly ifaces: Iface[] = [];
  readonly routes: Route[] = [];
  readonly counters: Record<string, number> = Object.create(null);
  handler: EventHandler | undefined;
  nextHandle = 1;
  readonly udp = new Map<Handle, UdpSocket>();
  readonly udpPorts = new Map<number, UdpSocket[]>();
  readonly icmp = new Map<Handle, IcmpSocket>();
  /** Set by `Stack` right after the context (TCP needs the `IpHost` built over it). */
  tcp!: TcpTransport;
  /** Receive coalescing for interfaces with InterfaceConfig.gro (set by `Stack` with `tcp`). */
  gro!: TcpGro;
  loopQueue: Uint8Array[] = [];
  readonly pmtu = new Map<string | number, { mtu: number; expires: Instant }>();
  /**
   * Our usable addresses (tentative IPv6 ones excluded), rebuilt by `topologyChanged`.
   * IPv4 maps to the address object, so received packets can share it instead of allocating.
   */
  readonly localV4 = new Map<number, Ipv4Address>();
  readonly localV6 = new Set<string>();
  /** The source of the last IPv4 packet received: bulk traffic comes from one peer, so it is shared. */
  lastSrcV4: Ipv4Address = V4.UNSPECIFIED;
  /**
   * The last route lookup. Most traffic goes to one peer at a time and TCP looks the
   * route up twice per segment; `topologyChanged` clears it.
   */
  lastRoute: { dst: IpAddress; hint: number | undefined; route: RouteResult | undefined } | undefined;
  ipIdent = 0;
  icmpTokens: number;
  icmpRefilled = 0;
  lastNow = 0;
  txPending = false;
  /** Transport segments (UDP, ICMP) are built here before output copies them into a frame. */
  readonly seg = new Uint8Array(65536 + 64);
  readonly rnd = new Uint8Array(4);
  readonly copier = new SlabCopier();
  readonly txr: TxReservation = {
    slot: { segment: new Uint8Array(0), checksumOffload: false },
    iface: undefined,
    nextHop: V4.UNSPECIFIED,
    src: V4.UNSPECIFIED,
    dst: V4.UNSPECIFIED,
    protocol: 0,
    length: 0,
    gso: 0,
  };
  /** Hot counters live in fields; stats() merges them. */
  rxFrames = 0;
  /** Frames received with a gsoSize (super-frames from a coalescing link). */
  rxGsoFrames = 0;
  rxAccepted = 0;
  rxDropped = 0;
  udpRxDatagrams = 0;
  txFrames = 0;
  /** The frame being received (its Ethernet source answers an NS without a link-layer option). */
  rxFrame: Uint8Array | undefined;
  /** The frame being received was link-layer broadcast/multicast: no ICMP errors about it (RFC 1122 §3.2.2). */
  rxLinkMulticast = false;
  /** gsoSize of the frame being received (Stack.receive): its TCP segment's part size, or 0. */
  rxGso = 0;

  constructor(
    readonly config: StackConfig,
    readonly ip: IpConfig,
    readonly neighborConfig: NeighborConfig,
    readonly reasm4: Reassembler,
    readonly reasm6: Reassembler,
    /** Upward handlers, given by `Stack`: the medium and loopback hand packets up through them. */
    readonly ipv4Input: IpInput,
    readonly ipv6Input: IpInput,
  ) {
    this.icmpTokens = ip.icmpErrorBurst;
  }

  isLocalAddress(addr: IpAddress): boolean {
    if (addr.isLoopback()) return true;
    return addr.version === 4 ? this.localV4.has(v4Key(addr.value)) : this.localV6.has(v6Key(addr));
  }

  isLocalV4(v: number): boolean {
    return this.localV4.has(v4Key(v));
  }

  /**
   * Interfaces, addresses (or their DAD state) or routes changed: rebuild the local
   * address index and forget the cached route. Every such change must come through here.
   */
  topologyChanged(): void {
    this.lastRoute = undefined;
    this.localV4.clear();
    this.localV6.clear();
    for (const i of this.ifaces) {
      for (const a of i.v4) this.localV4.set(v4Key(a.address.value), a.address);
      for (const a of i.v6) if (!a.tentative) this.localV6.add(v6Key(a.address));
    }
  }

  /** Limited broadcast, or the directed broadcast of a prefix on `iface` (any interface when undefined). */
  isBroadcastV4(v: number, iface: number | undefined): boolean {
    if (v === 0xffffffff) return true;
    for (const i of this.ifaces) {
      if (iface !== undefined && i.index !== iface) continue;
      for (const a of i.v4) {
        if (
          a.prefixLength < 31 &&
          ((a.address.value ^ v) & a.mask) === 0 &&
          (v | a.mask) >>> 0 === 0xffffffff
        ) {
          return true;
        }
      }
    }
    return false;
  }

  random16(): number {
    this.config.random(this.rnd);
    return ((this.rnd[0]! << 8) | this.rnd[1]!) & 0xffff;
  }
  random32(): number {
    this.config.random(this.rnd);
    return ((this.rnd[0]! << 24) | (this.rnd[1]! << 16) | (this.rnd[2]! << 8) | this.rnd[3]!) >>> 0;
  }

  iface(index: number): Iface {
    const i = this.ifaces[index];
    if (i === undefined) throw new RangeError(`no interface ${index}`);
    return i;
  }

  emit(h: Handle, events: SocketEventMask): void {
    this.handler?.(h, events);
  }

  count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  /** Counts one received packet's outcome; undefined when a handler threw before it had one. */
  finishRx(o: Rx | undefined): void {
    if (o === ACCEPTED) this.rxAccepted++;
    else if (o !== undefined) {
      this.rxDropped++;
      this.counters[o] = (this.counters[o] ?? 0) + 1;
    } else this.count('stack.rxUnaccounted');
  }
}
