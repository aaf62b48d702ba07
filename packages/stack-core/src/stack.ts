/**
 * `Stack`: the IP layer and everything below and beside TCP — interfaces, routing,
 * ARP/NDP, IPv4/IPv6 (fragmentation and reassembly), ICMP, UDP and ping sockets —
 * and the `IpHost` that the TCP layer runs on. The caller drives it: `receive()` for
 * each frame, `poll(now)` when `pollAt()` says so. It never reads a clock.
 */
import { NeighborCache, type NeighborConfig, defaultNeighborConfig } from './neighbor.js';
import { Reassembler } from './reassembly.js';
import { SlabCopier } from './slab.js';
import { TcpLayer } from './tcp/index.js';
import {
  type AddressInfo,
  type EventHandler,
  type Handle,
  IcmpErrorKind,
  type InterfaceConfig,
  type Instant,
  type IpConfig,
  type IpHost,
  SocketError,
  SocketEvent,
  type SocketEventMask,
  type StackApi,
  type StackConfig,
  type TcpApi,
  type TcpInfo,
  type TcpSocketOptions,
  type TransportProtocol,
} from './registration.js';
import { ARP_PACKET_LEN, ArpOperation, ArpPacket, ArpRepr } from './wire/arp.js';
import {
  BROADCAST_MAC,
  ETHERNET_HEADER_LEN,
  EtherType,
  EthernetFrame,
  emitEthernetHeader,
  macEquals,
} from './wire/ethernet.js';
import { type Icmpv4Repr, Icmpv4Packet, emitIcmpv4, icmpv4BufferLen, parseIcmpv4 } from './wire/icmpv4.js';
import { type Icmpv6Repr, Icmpv6Packet, emitIcmpv6, icmpv6BufferLen, parseIcmpv6 } from './wire/icmpv6.js';
import { type IpAddress, Ipv4Address, Ipv6Address, parseCidr, parseIpAddress } from './wire/ip-address.js';
import { IPV4_HEADER_LEN, Ipv4Packet, emitIpv4Header } from './wire/ipv4.js';
import {
  IPV6_FRAGMENT_HEADER_LEN,
  IPV6_HEADER_LEN,
  Ipv6Packet,
  emitIpv6FragmentHeader,
  emitIpv6Header,
  eui64Address,
  multicastMac,
  solicitedNode,
  walkIpv6Extensions,
} from './wire/ipv6.js';
import { UDP_HEADER_LEN, UdpPacket, emitUdp } from './wire/udp.js';
import { getU16, setU16 } from './wire/wire-error.js';

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
  'icmpv6.truncated',
  'icmpv6.badChecksum',
  'icmpv6.malformed',
  'icmpv6.unsupported',
  'icmpv6.errorNotOurs',
  'icmp.noSocket',
  'ndp.notForUs',
  'ndp.badRouterAdvert',
  'ndp.noInterface',
  'udp.truncated',
  'udp.malformed',
  'udp.badChecksum',
  'udp.noSocket',
  'udp.recvQueueFull',
  'tcp.notAvailable',
  'tcp.broadcast',
] as const;
export type DropCounter = (typeof DROP_COUNTERS)[number];

interface AddrV4 {
  address: Ipv4Address;
  prefixLength: number;
  /** Network mask as an unsigned 32-bit number. */
  mask: number;
  origin: string;
}

interface AddrV6 {
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

interface Route {
  version: 4 | 6;
  destination: IpAddress;
  prefixLength: number;
  gateway: IpAddress | undefined;
  iface: number;
  origin: 'static' | 'ra';
  expires: Instant;
}

/** Where a packet to some destination leaves: `iface` undefined means loopback. */
interface RouteResult {
  iface: Iface | undefined;
  nextHop: IpAddress;
}

interface Iface {
  index: number;
  name: string;
  mac: Uint8Array;
  mtu: number;
  /** IPv6 link MTU (an RA's MTU option can lower it). */
  mtu6: number;
  transmit: (frame: Uint8Array) => void;
  /** InterfaceConfig.medium 'ip': packets without an Ethernet header, no neighbor resolution. */
  ip: boolean;
  /** InterfaceConfig.checksumOffload: TCP checksums neither filled nor checked here. */
  csumOffload: boolean;
  /** Transmit scratch: frames are built here and handed to `transmit` as a view. */
  tx: Uint8Array;
  /**
   * The last view of `tx` handed out, reused while the frame length repeats (a bulk
   * sender's frames are all full-size): a fresh subarray per frame was a visible cost.
   */
  txView: Uint8Array;
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

interface Datagram {
  data: Uint8Array;
  address: IpAddress;
  port: number;
}

interface UdpSocket {
  handle: Handle;
  local: IpAddress | undefined;
  /** 4 after a bind to 0.0.0.0 (IPv4 only, as Node's udp4 sockets); undefined = both families. */
  family: 4 | undefined;
  port: number;
  iface: number | undefined;
  broadcast: boolean;
  rx: Datagram[];
  rxBytes: number;
  rxMax: number;
  drops: number;
  tx: Datagram[];
  txBytes: number;
  error: 0 | SocketError;
}

interface EchoReply {
  from: IpAddress;
  sequence: number;
  payload: Uint8Array;
  ttl: number;
}

interface IcmpSocket {
  handle: Handle;
  ident: number;
  rx: EchoReply[];
  tx: { dst: IpAddress; sequence: number; payload: Uint8Array }[];
  error: 0 | SocketError;
}

/** What receive-path functions return, so `return this.drop(...)` reads as one step. */
type Rx = undefined;

type TcpTransport = TransportProtocol &
  TcpApi & { socketError?(h: Handle): 0 | SocketError; connectionCount?(): number; handleCount?(): number };

/** The drop counter (after the family prefix) for each way reassembly can refuse a fragment. */
const FRAG_DROPS = {
  duplicate: 'fragDuplicate',
  overlap: 'fragOverlap',
  tooBig: 'fragTooBig',
  noMemory: 'fragNoMemory',
  malformed: 'fragMalformed',
} as const;

const LOOPBACK_MTU = 65535;
const LOOPBACK_QUEUE_MAX = 1024;
const UDP_DEFAULT_RECV_BYTES = 262_144;
const UDP_SEND_QUEUE_BYTES = 262_144;
const ICMP_SOCKET_QUEUE = 64;
/** Defaults of `StackConfig.ip`. ICMP errors: Linux's icmp_msgs_burst / icmp_msgs_per_sec. */
export const defaultIpConfig: IpConfig = {
  reachableTime: 30_000,
  retransTime: 1000,
  maxSolicitations: 3,
  maxPendingPerNeighbor: 32,
  maxPendingBytes: 262_144,
  reassemblyTimeout: 30_000,
  reassemblyMaxBytes: 4 << 20,
  reassemblyMaxDatagrams: 256,
  icmpErrorBurst: 50,
  icmpErrorsPerSecond: 1000,
};
/** RFC 4861 §10 constants. */
const RTR_SOLICITATION_INTERVAL = 4000;
const MAX_RTR_SOLICITATIONS = 3;
const DUP_ADDR_DETECT_TRANSMITS = 1;
/** Caps on state that router advertisements create (Linux: max_addresses 16). */
const MAX_SLAAC_ADDRESSES = 16;
const MAX_RA_ROUTES = 64;
/** RFC 8201 §4 / RFC 1191: PMTU estimates age out after 10 minutes. */
const PMTU_TIMEOUT = 600_000;
/** RFC 3810 §9: robustness 2, unsolicited report interval 1 s; record types §5.2.12. */
const MLD_ROBUSTNESS = 2;
const MLD_UNSOLICITED_INTERVAL = 1000;
const MLD_MODE_IS_EXCLUDE = 2;
const MLD_CHANGE_TO_EXCLUDE = 4;
const MLDV2_ROUTERS = Ipv6Address.parse('ff02::16');
const EPHEMERAL_MIN = 49152;
const EPHEMERAL_MAX = 65535;

export class Stack implements StackApi {
  private readonly ifaces: Iface[] = [];
  private readonly routes: Route[] = [];
  private readonly counters: Record<string, number> = Object.create(null);
  private handler: EventHandler | undefined;
  private nextHandle = 1;
  private readonly udp = new Map<Handle, UdpSocket>();
  private readonly udpPorts = new Map<number, UdpSocket[]>();
  private readonly icmp = new Map<Handle, IcmpSocket>();
  private readonly tcp: TcpTransport | undefined;
  private loopQueue: Uint8Array[] = [];
  private readonly ip: IpConfig;
  private readonly neighborConfig: NeighborConfig;
  private readonly reasm4: Reassembler;
  private readonly reasm6: Reassembler;
  private readonly pmtu = new Map<string | number, { mtu: number; expires: Instant }>();
  /**
   * Our usable addresses (tentative IPv6 ones excluded), rebuilt by `topologyChanged`.
   * IPv4 maps to the address object, so received packets can share it instead of allocating.
   */
  private readonly localV4 = new Map<number, Ipv4Address>();
  private readonly localV6 = new Set<string>();
  /** The source of the last IPv4 packet received: bulk traffic comes from one peer, so it is shared. */
  private lastSrcV4 = Ipv4Address.UNSPECIFIED;
  /**
   * The last route lookup. Most traffic goes to one peer at a time and TCP looks the
   * route up twice per segment; `topologyChanged` clears it.
   */
  private lastRoute: { dst: IpAddress; hint: number | undefined; route: RouteResult | undefined } | undefined;
  private ipIdent: number;
  private icmpTokens: number;
  private icmpRefilled = 0;
  private lastNow = 0;
  private txPending = false;
  /** Transport segments (UDP, ICMP) are built here before sendIp copies them into a frame. */
  private readonly seg = new Uint8Array(65536 + 64);
  private readonly rnd = new Uint8Array(4);
  private readonly copier = new SlabCopier();
  /** Hot counters live in fields; stats() merges them. */
  private rxFrames = 0;
  private rxAccepted = 0;
  private rxDropped = 0;
  private udpRxDatagrams = 0;
  private txFrames = 0;
  private rxOutcome = 0;
  /** The frame being received (its Ethernet source answers an NS without a link-layer option). */
  private rxFrame: Uint8Array | undefined;
  /** The frame being received was link-layer broadcast/multicast: no ICMP errors about it (RFC 1122 §3.2.2). */
  private rxLinkMulticast = false;
  /** The last exception caught by the last-resort handler (a bug; see `stack.internalError`). */
  lastInternalError: unknown;
  /** The IpHost the transport layer runs on. */
  readonly host: IpHost;

  constructor(private readonly config: StackConfig) {
    const ip = (this.ip = { ...defaultIpConfig, ...config.ip });
    this.neighborConfig = {
      ...defaultNeighborConfig,
      reachableTime: ip.reachableTime,
      retransTime: ip.retransTime,
      maxMulticastProbes: ip.maxSolicitations,
      maxUnicastProbes: ip.maxSolicitations,
      maxQueuePerEntry: ip.maxPendingPerNeighbor,
      maxQueueBytes: ip.maxPendingBytes,
    };
    const reassembly = {
      timeout: ip.reassemblyTimeout,
      maxBytes: ip.reassemblyMaxBytes,
      maxDatagrams: ip.reassemblyMaxDatagrams,
    };
    this.reasm4 = new Reassembler(reassembly);
    this.reasm6 = new Reassembler(reassembly);
    this.icmpTokens = ip.icmpErrorBurst;
    this.ipIdent = this.random16();
    this.host = {
      selectSource: (dst) => this.selectSource(dst),
      isLocalAddress: (a) => this.isLocalAddress(a),
      maxTransportPayload: (dst) => this.maxTransportPayload(dst),
      sendIp: (src, dst, protocol, payload, now) => this.sendIp(src, dst, protocol, payload, now),
      checksumOffload: (dst) => this.lookupRoute(dst)?.iface?.csumOffload === true,
      random: (buf) => this.config.random(buf),
      allocHandle: () => this.nextHandle++,
      emit: (h, ev) => this.emit(h, ev),
      count: (name, n = 1) => this.count(name, n),
    };
    this.tcp = new TcpLayer(this.host, config.tcp);
  }

  // ---------------------------------------------------------------------------------
  // Configuration

  addInterface(config: InterfaceConfig): number {
    if (config.mac.length !== 6) throw new TypeError('interface MAC must be 6 bytes');
    if (!Number.isInteger(config.mtu) || config.mtu < 576 || config.mtu > 65535) {
      throw new TypeError(`interface MTU out of range (576..65535): ${config.mtu}`);
    }
    const index = this.ifaces.length;
    const iface: Iface = {
      index,
      name: config.name,
      mac: config.mac.slice(),
      mtu: config.mtu,
      mtu6: Math.max(1280, config.mtu),
      transmit: config.transmit,
      ip: config.medium === 'ip',
      csumOffload: config.checksumOffload === true,
      tx: new Uint8Array(Math.max(config.mtu, 1280) + ETHERNET_HEADER_LEN + 64),
      txView: EMPTY,
      v4: [],
      v6: [],
      arp: new NeighborCache<Ipv4Address>(this.neighborConfig),
      ndp: new NeighborCache<Ipv6Address>({ ...this.neighborConfig }),
      pendingGarp: [],
      slaac: false,
      rsSent: 0,
      rsAt: Number.POSITIVE_INFINITY,
      mldAt: Number.POSITIVE_INFINITY,
      mldLeft: 0,
      mldType: MLD_CHANGE_TO_EXCLUDE,
    };
    this.ifaces.push(iface);
    if (iface.ip) {
      // No MAC to form an EUI-64 from: a random interface id (RFC 7217 spirit), and no DAD
      // on a point-to-point link where the only other node is the peer.
      const id = new Uint8Array(16);
      this.config.random(id);
      id.set([0xfe, 0x80, 0, 0, 0, 0, 0, 0], 0);
      const ll = iface.v6.length === 0 ? new Ipv6Address(id) : undefined;
      if (ll)
        iface.v6.push({
          address: ll,
          prefixLength: 64,
          origin: 'link-local',
          tentative: false,
          dadAt: Number.POSITIVE_INFINITY,
          dadSent: 0,
          validUntil: Number.POSITIVE_INFINITY,
        });
      this.topologyChanged();
      return index;
    }
    // RFC 4862 §5.3: every interface gets a link-local address, checked by DAD.
    const ll = eui64Address(Ipv6Address.parse('fe80::').bytes, iface.mac);
    iface.v6.push(this.tentativeV6(ll, 64, 'link-local'));
    this.joinGroups(iface);
    this.topologyChanged();
    return index;
  }

  addAddress(index: number, cidr: string, origin = 'static'): void {
    const iface = this.iface(index);
    const { address, prefixLength } = parseCidr(cidr);
    if (address.version === 4) {
      const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
      const old = iface.v4.find((a) => a.address.equals(address));
      if (old) {
        old.prefixLength = prefixLength;
        old.mask = mask;
        old.origin = origin;
      } else iface.v4.push({ address, prefixLength, mask, origin });
      // Announce the address (gratuitous ARP, RFC 5227 §3) on the next poll.
      if (!iface.ip) {
        iface.pendingGarp.push(address);
        this.txPending = true;
      }
    } else {
      const old = iface.v6.find((a) => a.address.equals(address));
      if (old) {
        old.prefixLength = prefixLength;
        old.origin = origin;
      } else if (origin === 'slaac') {
        iface.v6.push(this.tentativeV6(address, prefixLength, origin));
        if (!iface.ip) this.joinGroups(iface);
      } else {
        // Static addresses are used at once (like Linux with `nodad`); DAD guards SLAAC and link-local.
        iface.v6.push({
          address,
          prefixLength,
          origin,
          tentative: false,
          dadAt: Number.POSITIVE_INFINITY,
          dadSent: 0,
          validUntil: Number.POSITIVE_INFINITY,
        });
        if (!iface.ip) this.joinGroups(iface);
      }
    }
    this.topologyChanged();
  }

  removeAddress(index: number, address: string): void {
    const iface = this.iface(index);
    const a = parseIpAddress(address.includes('/') ? address.slice(0, address.indexOf('/')) : address);
    if (a.version === 4) iface.v4 = iface.v4.filter((x) => !x.address.equals(a));
    else iface.v6 = iface.v6.filter((x) => !x.address.equals(a));
    this.topologyChanged();
  }

  addresses(index: number): AddressInfo[] {
    const iface = this.iface(index);
    return [
      ...iface.v4.map((a) => ({
        address: a.address,
        prefixLength: a.prefixLength,
        origin: a.origin,
        tentative: false,
      })),
      ...iface.v6.map((a) => ({
        address: a.address,
        prefixLength: a.prefixLength,
        origin: a.tentative ? 'tentative' : a.origin,
        tentative: a.tentative,
      })),
    ];
  }

  addRoute(route: { destination: string; gateway?: string; iface: number }): void {
    this.iface(route.iface);
    const { address, prefixLength } = parseCidr(route.destination);
    const gateway = route.gateway === undefined ? undefined : parseIpAddress(route.gateway);
    if (gateway && gateway.version !== address.version)
      throw new TypeError('gateway family differs from destination');
    this.upsertRoute({
      version: address.version,
      destination: address,
      prefixLength,
      gateway,
      iface: route.iface,
      origin: 'static',
      expires: Number.POSITIVE_INFINITY,
    });
  }

  removeRoute(destination: string): void {
    const { address, prefixLength } = parseCidr(destination);
    for (let i = this.routes.length - 1; i >= 0; i--) {
      const r = this.routes[i]!;
      if (r.prefixLength === prefixLength && r.destination.equals(address)) this.routes.splice(i, 1);
    }
    this.topologyChanged();
  }

  enableSlaac(index: number): void {
    const iface = this.iface(index);
    iface.slaac = true;
    iface.rsSent = 0;
    iface.rsAt = this.lastNow;
  }

  setEventHandler(handler: EventHandler): void {
    this.handler = handler;
  }

  stats(): Record<string, number> {
    const c = this.counters;
    const hot: Record<string, number> = {
      'eth.rxFrames': this.rxFrames,
      'stack.rxAccepted': this.rxAccepted,
      'stack.rxDropped': this.rxDropped,
      'udp.rxDatagrams': this.udpRxDatagrams,
      'eth.txFrames': this.txFrames,
    };
    const out: Record<string, number> = {};
    for (const k of [...Object.keys(c), ...Object.keys(hot)].sort()) {
      const v = (c[k] ?? 0) + (hot[k] ?? 0);
      if (v !== 0 || k in c) out[k] = v;
    }
    let arp = 0;
    let ndp = 0;
    for (const i of this.ifaces) {
      arp += i.arp.entries.size;
      ndp += i.ndp.entries.size;
    }
    out['arp.entries'] = arp;
    out['ndp.entries'] = ndp;
    out['ipv4.reassemblyPending'] = this.reasm4.pending;
    out['ipv6.reassemblyPending'] = this.reasm6.pending;
    out['udp.sockets'] = this.udp.size;
    // Gauges for leak checks: connections in the demux table (TIME-WAIT included) and handles held.
    out['tcp.connections'] = this.tcp?.connectionCount?.() ?? 0;
    out['tcp.handles'] = this.tcp?.handleCount?.() ?? 0;
    return out;
  }

  /** The neighbour cache entries of an interface (for diagnostics and tests). */
  neighbors(index: number): { address: IpAddress; state: string; mac: Uint8Array | undefined }[] {
    const iface = this.iface(index);
    const names = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE'];
    const out: { address: IpAddress; state: string; mac: Uint8Array | undefined }[] = [];
    for (const c of [iface.arp, iface.ndp] as NeighborCache<IpAddress>[]) {
      for (const e of c.entries.values())
        out.push({ address: e.address, state: names[e.state]!, mac: e.mac });
    }
    return out;
  }

  // ---------------------------------------------------------------------------------
  // Driving

  receive(index: number, frame: Uint8Array, now: Instant): void {
    this.lastNow = now;
    this.rxOutcome = 0;
    this.rxFrames++;
    try {
      const iface = this.ifaces[index];
      if (iface === undefined) this.drop('stack.badInterface');
      else if (iface.ip) this.ipMediumInput(iface, frame, now);
      else this.ethernetInput(iface, frame, now);
    } catch (e) {
      this.internalError(e);
    }
    this.rxFrame = undefined;
    this.rxLinkMulticast = false;
    this.finishRx();
  }

  poll(now: Instant): void {
    this.lastNow = now;
    try {
      this.drainLoopback(now);
      if (this.txPending) {
        this.txPending = false;
        this.flushSockets(now);
      }
      for (const iface of this.ifaces) this.pollIface(iface, now);
      this.expireRoutes(now);
      // Timers are rarely due: only then build the callbacks (poll runs every few frames).
      if (this.reasm4.pollAt() <= now)
        this.reasm4.poll(now, (_k, hdr, first) => this.reassemblyExpired(4, hdr, first, now));
      if (this.reasm6.pollAt() <= now)
        this.reasm6.poll(now, (_k, hdr, first) => this.reassemblyExpired(6, hdr, first, now));
      this.tcp?.poll(now);
    } catch (e) {
      this.internalError(e);
    }
  }

  pollAt(): Instant {
    if (this.txPending || this.loopQueue.length > 0) return this.lastNow;
    let t = Math.min(this.reasm4.pollAt(), this.reasm6.pollAt());
    for (const iface of this.ifaces) {
      if (iface.pendingGarp.length > 0) return this.lastNow;
      t = Math.min(t, iface.arp.pollAt(), iface.ndp.pollAt(), iface.rsAt, iface.mldAt);
      for (const a of iface.v6) {
        if (a.tentative && a.dadAt < t) t = a.dadAt;
        if (a.validUntil < t) t = a.validUntil;
      }
    }
    for (const r of this.routes) if (r.expires < t) t = r.expires;
    if (this.tcp) t = Math.min(t, this.tcp.pollAt());
    return t;
  }

  // ---------------------------------------------------------------------------------
  // IpHost

  /** The source address for reaching `dst` (RFC 6724 in brief: same scope, longest matching prefix). */
  selectSource(dst: IpAddress, ifaceHint?: number): IpAddress | undefined {
    if (dst.version === 4) {
      if (dst.isLoopback()) return dst;
      if (this.isLocalAddress(dst)) return dst;
      const r = this.lookupRoute(dst, ifaceHint);
      if (r === undefined) return undefined;
      if (r.iface === undefined) return new Ipv4Address(0x7f000001);
      const addrs = r.iface.v4;
      const nh = (r.nextHop as Ipv4Address).value;
      for (const a of addrs) if (((a.address.value ^ nh) & a.mask) === 0) return a.address;
      return addrs[0]?.address;
    }
    if (dst.isLoopback()) return dst;
    if (this.isLocalAddress(dst)) return dst;
    const r = this.lookupRoute(dst, ifaceHint);
    if (r === undefined) return undefined;
    if (r.iface === undefined) return Ipv6Address.LOOPBACK;
    const linkScope = dst.isLinkLocal() || (dst.isMulticast() && (dst.bytes[1]! & 0xf) <= 2);
    let best: AddrV6 | undefined;
    let bestLen = -1;
    for (const a of r.iface.v6) {
      if (a.tentative) continue;
      const ll = a.address.isLinkLocal();
      if (linkScope !== ll) continue;
      const l = commonPrefix(a.address.bytes, dst.bytes);
      if (l > bestLen) {
        best = a;
        bestLen = l;
      }
    }
    if (best) return best.address;
    for (const a of r.iface.v6) if (!a.tentative) return a.address;
    return undefined;
  }

  isLocalAddress(addr: IpAddress): boolean {
    if (addr.isLoopback()) return true;
    return addr.version === 4 ? this.localV4.has(v4Key(addr.value)) : this.localV6.has(v6Key(addr));
  }

  maxTransportPayload(dst: IpAddress): number {
    const hdr = dst.version === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    if (dst.isLoopback() || this.isLocalAddress(dst)) return LOOPBACK_MTU - hdr;
    const r = this.lookupRoute(dst);
    let mtu = r?.iface ? (dst.version === 4 ? r.iface.mtu : r.iface.mtu6) : dst.version === 4 ? 576 : 1280;
    const p = this.pmtu.get(addrKey(dst));
    if (p !== undefined) {
      if (p.expires <= this.lastNow) this.pmtu.delete(addrKey(dst));
      else if (p.mtu < mtu) mtu = p.mtu;
    }
    return mtu - hdr;
  }

  /** IpHost.sendIp: DF set for TCP (RFC 1191 path MTU discovery); other protocols may fragment. */
  sendIp(src: IpAddress, dst: IpAddress, protocol: number, payload: Uint8Array, now: Instant): boolean {
    return this.output(src, dst, protocol, payload, now, undefined, protocol === 6, 64);
  }

  // ---------------------------------------------------------------------------------
  // UDP sockets

  udpOpen(options?: { recvQueueBytes?: number; broadcast?: boolean; iface?: number }): Handle {
    const h = this.nextHandle++;
    const iface = options?.iface;
    this.udp.set(h, {
      handle: h,
      local: undefined,
      family: undefined,
      port: 0,
      iface: iface !== undefined && this.ifaces[iface] ? iface : undefined,
      broadcast: options?.broadcast ?? false,
      rx: [],
      rxBytes: 0,
      rxMax: Math.max(0, options?.recvQueueBytes ?? UDP_DEFAULT_RECV_BYTES),
      drops: 0,
      tx: [],
      txBytes: 0,
      error: 0,
    });
    return h;
  }

  udpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError {
    const s = this.udp.get(h);
    if (s === undefined) return SocketError.EBADF;
    if (s.port !== 0) return SocketError.EINVAL;
    if (!Number.isInteger(port) || port < 0 || port > 65535) return SocketError.EINVAL;
    const local = address === undefined || address.isUnspecified() ? undefined : address;
    if (local !== undefined && !this.isLocalAddress(local)) return SocketError.EADDRNOTAVAIL;
    if (port === 0) {
      const p = this.ephemeralPort((p) => this.udpPortFree(p, local, s.iface));
      if (p === 0) return SocketError.EADDRINUSE;
      port = p;
    } else if (!this.udpPortFree(port, local, s.iface)) return SocketError.EADDRINUSE;
    s.local = local;
    s.port = port;
    if (address?.version === 4) s.family = 4;
    const list = this.udpPorts.get(port);
    if (list) list.push(s);
    else this.udpPorts.set(port, [s]);
    return 0;
  }

  udpSend(h: Handle, data: Uint8Array, address: IpAddress, port: number): number {
    const s = this.udp.get(h);
    if (s === undefined) return -SocketError.EBADF;
    if (!Number.isInteger(port) || port < 1 || port > 65535) return -SocketError.EINVAL;
    if (s.local !== undefined && s.local.version !== address.version) return -SocketError.EINVAL;
    if (s.family === 4 && address.version !== 4) return -SocketError.EINVAL;
    const max = address.version === 4 ? 65535 - IPV4_HEADER_LEN - UDP_HEADER_LEN : 65535 - UDP_HEADER_LEN;
    if (data.length > max) return -SocketError.EMSGSIZE;
    const bcast = address.version === 4 && this.isBroadcastV4(address.value, s.iface);
    if (bcast && !s.broadcast) return -SocketError.EINVAL;
    if (address.isUnspecified()) return -SocketError.EINVAL;
    const noSource = this.udpSource(s, address) === undefined;
    if (noSource) return -SocketError.EHOSTUNREACH;
    if (s.txBytes + data.length > UDP_SEND_QUEUE_BYTES) return -SocketError.ENOBUFS;
    if (s.port === 0) {
      const err = this.udpBind(h, s.local, 0);
      if (err !== 0) return -err;
    }
    s.tx.push({ data: data.slice(), address, port });
    s.txBytes += data.length;
    this.txPending = true;
    return data.length;
  }

  udpRecv(h: Handle): { data: Uint8Array; address: IpAddress; port: number } | undefined {
    const s = this.udp.get(h);
    if (s === undefined) return undefined;
    const d = s.rx.shift();
    if (d) s.rxBytes -= d.data.length;
    return d;
  }

  udpLocal(h: Handle): { address: IpAddress | undefined; port: number } | undefined {
    const s = this.udp.get(h);
    return s ? { address: s.local, port: s.port } : undefined;
  }

  udpClose(h: Handle): void {
    const s = this.udp.get(h);
    if (s === undefined) return;
    this.udp.delete(h);
    const list = this.udpPorts.get(s.port);
    if (list) {
      const rest = list.filter((x) => x !== s);
      if (rest.length) this.udpPorts.set(s.port, rest);
      else this.udpPorts.delete(s.port);
    }
  }

  /** Datagrams dropped because this socket's receive queue was full. */
  udpDrops(h: Handle): number {
    return this.udp.get(h)?.drops ?? 0;
  }

  socketError(h: Handle): 0 | SocketError {
    const u = this.udp.get(h) ?? this.icmp.get(h);
    if (u) {
      const e = u.error;
      u.error = 0;
      return e;
    }
    if (this.tcp?.socketError) return this.tcp.socketError(h);
    return SocketError.EBADF;
  }

  // ---------------------------------------------------------------------------------
  // ICMP echo sockets

  icmpOpen(): Handle {
    const h = this.nextHandle++;
    let ident = this.random16();
    for (let i = 0; i < 65536 && [...this.icmp.values()].some((s) => s.ident === ident); i++) {
      ident = (ident + 1) & 0xffff;
    }
    this.icmp.set(h, { handle: h, ident, rx: [], tx: [], error: 0 });
    return h;
  }

  icmpSendEcho(h: Handle, dst: IpAddress, sequence: number, payload: Uint8Array): 0 | SocketError {
    const s = this.icmp.get(h);
    if (s === undefined) return SocketError.EBADF;
    if (payload.length > 65535 - 48 - 8) return SocketError.EMSGSIZE;
    if (dst.isUnspecified()) return SocketError.EINVAL;
    if (this.selectSource(dst) === undefined) return SocketError.EHOSTUNREACH;
    if (s.tx.length >= ICMP_SOCKET_QUEUE) return SocketError.ENOBUFS;
    s.tx.push({ dst, sequence: sequence & 0xffff, payload: payload.slice() });
    this.txPending = true;
    return 0;
  }

  icmpRecv(h: Handle): { from: IpAddress; sequence: number; payload: Uint8Array; ttl: number } | undefined {
    return this.icmp.get(h)?.rx.shift();
  }

  icmpClose(h: Handle): void {
    this.icmp.delete(h);
  }

  // ---------------------------------------------------------------------------------
  // TCP (delegated to tcp/)

  tcpOpen(options?: TcpSocketOptions): Handle {
    return this.tcp ? this.tcp.tcpOpen(options) : 0;
  }
  tcpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError {
    return this.tcp ? this.tcp.tcpBind(h, address, port) : SocketError.EBADF;
  }
  tcpConnect(h: Handle, address: IpAddress, port: number, now: Instant): 0 | SocketError {
    if (now > this.lastNow) this.lastNow = now;
    return this.tcp ? this.tcp.tcpConnect(h, address, port, now) : SocketError.EBADF;
  }
  tcpListen(h: Handle, backlog: number): 0 | SocketError {
    return this.tcp ? this.tcp.tcpListen(h, backlog) : SocketError.EBADF;
  }
  tcpAccept(h: Handle): Handle | undefined {
    return this.tcp?.tcpAccept(h);
  }
  tcpSend(h: Handle, data: Uint8Array): number | SocketError {
    return this.tcp ? this.tcp.tcpSend(h, data) : SocketError.EBADF;
  }
  tcpSendSpace(h: Handle): number {
    return this.tcp ? this.tcp.tcpSendSpace(h) : 0;
  }
  tcpRecv(h: Handle, into: Uint8Array): number {
    return this.tcp ? this.tcp.tcpRecv(h, into) : -SocketError.EBADF;
  }
  tcpShutdown(h: Handle): 0 | SocketError {
    return this.tcp ? this.tcp.tcpShutdown(h) : SocketError.EBADF;
  }
  tcpClose(h: Handle): void {
    this.tcp?.tcpClose(h);
  }
  tcpAbort(h: Handle): void {
    this.tcp?.tcpAbort(h);
  }
  tcpSetNoDelay(h: Handle, on: boolean): void {
    this.tcp?.tcpSetNoDelay(h, on);
  }
  tcpSetKeepAlive(h: Handle, idleMs: number): void {
    this.tcp?.tcpSetKeepAlive(h, idleMs);
  }
  tcpInfo(h: Handle): TcpInfo | undefined {
    return this.tcp?.tcpInfo(h);
  }

  // ---------------------------------------------------------------------------------
  // Receive path

  /** An IP-only medium: the packet's version nibble says which layer takes it. */
  private ipMediumInput(iface: Iface, packet: Uint8Array, now: Instant): Rx {
    const v = packet.length > 0 ? packet[0]! >> 4 : 0;
    if (v === 4) return this.ipv4Input(iface, packet, now);
    if (v === 6) return this.ipv6Input(iface, packet, now);
    return this.drop('ip.badVersion');
  }

  private ethernetInput(iface: Iface, frame: Uint8Array, now: Instant): Rx {
    const eth = EthernetFrame.newChecked(frame);
    if (typeof eth === 'string') return this.drop('eth.truncated');
    const b = frame;
    const multicast = (b[0]! & 1) === 1;
    if (!multicast && !macEquals(b, 0, iface.mac)) return this.drop('eth.otherHost');
    const type = eth.ethertype;
    this.rxFrame = frame;
    this.rxLinkMulticast = multicast;
    const payload = frame.subarray(ETHERNET_HEADER_LEN);
    switch (type) {
      case EtherType.Ipv4:
        return this.ipv4Input(iface, payload, now);
      case EtherType.Ipv6:
        return this.ipv6Input(iface, payload, now);
      case EtherType.Arp:
        return this.arpInput(iface, payload, now);
      case EtherType.Vlan:
      case EtherType.QinQ:
        return this.drop('eth.vlanTagged');
      default:
        return this.drop('eth.unknownEthertype');
    }
  }

  private arpInput(iface: Iface, buf: Uint8Array, now: Instant): Rx {
    const p = ArpPacket.newChecked(buf);
    if (p === 'truncated') return this.drop('arp.truncated');
    if (typeof p === 'string') return this.drop('arp.unsupported');
    const r = ArpRepr.parse(p);
    if (typeof r === 'string') return this.drop('arp.unsupported');
    const sha = r.senderHardwareAddr;
    if ((sha[0]! & 1) === 1 || sha.every((x) => x === 0)) return this.drop('arp.badSender');
    const spa = r.senderProtocolAddr.value;
    const tpa = r.targetProtocolAddr.value;
    this.count('arp.rx');
    if (iface.v4.some((a) => a.address.value === spa)) {
      // Someone else claims our address (RFC 5227 §2.4); we keep it and count.
      if (!macEquals(sha, 0, iface.mac)) this.count('arp.addressConflict');
      return this.accept();
    }
    const targetIsUs = iface.v4.some((a) => a.address.value === tpa);
    if (spa !== 0) {
      const q =
        r.operation === ArpOperation.Reply
          ? (iface.arp.confirm(v4Key(spa), sha, targetIsUs, true, now) ??
            (targetIsUs ? iface.arp.learn(v4Key(spa), r.senderProtocolAddr, sha, true, now) : undefined))
          : iface.arp.learn(v4Key(spa), r.senderProtocolAddr, sha, targetIsUs, now);
      if (q) this.flushQueued(iface, q, sha, EtherType.Ipv4);
    }
    if (r.operation === ArpOperation.Request && targetIsUs) {
      const tx = iface.tx;
      new ArpRepr(ArpOperation.Reply, iface.mac, r.targetProtocolAddr, sha, r.senderProtocolAddr).emit(
        tx,
        14,
      );
      emitEthernetHeader(tx, 0, sha, iface.mac, EtherType.Arp);
      this.transmit(iface, 14 + ARP_PACKET_LEN);
      this.count('arp.repliesSent');
    }
    this.accept();
  }

  private ipv4Input(iface: Iface | undefined, buf: Uint8Array, now: Instant): Rx {
    const p = Ipv4Packet.newChecked(buf);
    if (p === 'truncated') return this.drop('ipv4.truncated');
    if (typeof p === 'string') return this.drop('ipv4.malformed');
    if (!p.verifyChecksum()) return this.drop('ipv4.badChecksum');
    const srcV = p.srcValue;
    const dstV = p.dstValue;
    if (srcV === 0xffffffff || srcV >>> 28 === 0xe) return this.drop('ipv4.badSource');
    const ours = this.localV4.get(v4Key(dstV));
    const proto = p.protocol;
    let bcast = false;
    let noAddress = false;
    if (iface === undefined) {
      // Looped back: only our own packets travel here.
    } else if (dstV === 0xffffffff || dstV === 0xe0000001) {
      bcast = true;
    } else if (dstV >>> 28 === 0xe) {
      return this.drop('ipv4.notForUs');
    } else if (ours === undefined) {
      if (this.isBroadcastV4(dstV, iface.index)) bcast = true;
      else if (iface.v4.length === 0 && proto === 17)
        noAddress = true; // e.g. a DHCP offer to the offered address
      else return this.drop('ipv4.notForUs');
    }
    // Address objects are immutable: share ours and the last peer's rather than allocate two per packet.
    const dst = ours ?? new Ipv4Address(dstV);
    if (this.lastSrcV4.value !== srcV) this.lastSrcV4 = new Ipv4Address(srcV);
    const src = this.lastSrcV4;
    const hl = p.headerLen;
    const payload = buf.subarray(hl, p.totalLen);
    const fragOffset = p.fragOffset;
    if (fragOffset !== 0 || p.moreFragments) {
      const key = `${srcV}/${dstV}/${proto}/${p.ident}`;
      const r = this.reasm4.add(key, fragOffset, p.moreFragments, payload, buf.subarray(0, hl), now);
      switch (r.kind) {
        case 'queued':
          this.count('ipv4.fragmentsQueued');
          return this.accept();
        case 'complete': {
          this.count('ipv4.reassembled');
          const h = r.header;
          return this.ipv4Deliver(
            iface,
            h,
            h.length,
            r.payload,
            src,
            dst,
            proto,
            h[8]!,
            bcast,
            noAddress,
            now,
          );
        }
        default:
          return this.drop(`ipv4.${FRAG_DROPS[r.kind]}`);
      }
    }
    this.ipv4Deliver(iface, buf, hl, payload, src, dst, proto, p.ttl, bcast, noAddress, now);
  }

  private ipv4Deliver(
    iface: Iface | undefined,
    /** The packet (or the first fragment's header) whose first `hl` bytes are the IP header. */
    ip: Uint8Array,
    hl: number,
    payload: Uint8Array,
    src: Ipv4Address,
    dst: Ipv4Address,
    proto: number,
    ttl: number,
    bcast: boolean,
    noAddress: boolean,
    now: Instant,
  ): Rx {
    switch (proto) {
      case 17:
        return this.udpInput(iface, src, dst, payload, bcast, noAddress, ip, hl, now);
      case 6:
        if (bcast || noAddress) return this.drop('tcp.broadcast');
        if (this.tcp === undefined) return this.drop('tcp.notAvailable');
        this.tcp.input(src, dst, payload, now, iface?.csumOffload === true);
        return this.accept();
      case 1:
        if (noAddress) return this.drop('ipv4.notForUs');
        return this.icmpv4Input(src, dst, payload, ttl, bcast, now);
      default:
        if (!bcast && !noAddress) this.icmpv4Error(ip.subarray(0, hl), payload, 3, 2, 0, now);
        return this.drop('ipv4.unknownProtocol');
    }
  }

  private icmpv4Input(
    src: Ipv4Address,
    dst: Ipv4Address,
    buf: Uint8Array,
    ttl: number,
    bcast: boolean,
    now: Instant,
  ): Rx {
    const p = Icmpv4Packet.newChecked(buf);
    if (typeof p === 'string') return this.drop('icmpv4.truncated');
    const r = parseIcmpv4(p);
    if (typeof r === 'string') {
      if (r === 'badChecksum') return this.drop('icmpv4.badChecksum');
      if (r === 'unsupported') return this.drop('icmpv4.unsupported');
      return this.drop('icmpv4.malformed');
    }
    switch (r.kind) {
      case 'echoRequest': {
        // Linux ignores broadcast pings by default (icmp_echo_ignore_broadcasts); so do we.
        if (bcast) return this.drop('icmpv4.broadcastEcho');
        if (src.isUnspecified()) return this.drop('icmpv4.malformed');
        const reply: Icmpv4Repr = { kind: 'echoReply', ident: r.ident, seq: r.seq, data: r.data };
        const len = icmpv4BufferLen(reply);
        emitIcmpv4(this.seg, 0, reply);
        this.count('icmpv4.echoRequests');
        this.output(dst, src, 1, this.seg.subarray(0, len), now, undefined, false, 64);
        return this.accept();
      }
      case 'echoReply':
        return this.echoReplyInput(src, r.ident, r.seq, r.data, ttl);
      case 'dstUnreachable':
      case 'timeExceeded': {
        const q = r.data;
        if (q.length < 28 || q[0]! >> 4 !== 4) return this.drop('icmpv4.malformed');
        const hl = (q[0]! & 0xf) * 4;
        if (hl < 20 || q.length < hl + 8) return this.drop('icmpv4.malformed');
        const qsrc = new Ipv4Address(((q[12]! << 24) | (q[13]! << 16) | (q[14]! << 8) | q[15]!) >>> 0);
        const qdst = new Ipv4Address(((q[16]! << 24) | (q[17]! << 16) | (q[18]! << 8) | q[19]!) >>> 0);
        if (!this.isLocalAddress(qsrc)) return this.drop('icmpv4.errorNotOurs');
        let kind: IcmpErrorKind = IcmpErrorKind.Unreachable;
        let mtu = 0;
        if (r.kind === 'timeExceeded') kind = IcmpErrorKind.TimeExceeded;
        else if (r.code === 4) {
          kind = IcmpErrorKind.PacketTooBig;
          // RFC 1191 §5: no MTU (old routers) → the next lower plateau; we use 576. Never below 552 (Linux min_pmtu).
          mtu = Math.max(552, r.mtu === 0 ? 576 : r.mtu);
          this.lowerPmtu(qdst, mtu, now);
          this.count('icmpv4.fragNeeded');
        }
        this.count(r.kind === 'timeExceeded' ? 'icmpv4.rxTimeExceeded' : 'icmpv4.rxUnreachable');
        if (q[9] === 6 && this.tcp) this.tcp.icmpError(kind, qsrc, qdst, q.subarray(hl), mtu, now);
        return this.accept();
      }
    }
  }

  private echoReplyInput(src: IpAddress, ident: number, seq: number, data: Uint8Array, ttl: number): Rx {
    for (const s of this.icmp.values()) {
      if (s.ident !== ident) continue;
      if (s.rx.length >= ICMP_SOCKET_QUEUE) {
        this.count('icmp.recvQueueFull');
        return this.accept();
      }
      s.rx.push({ from: src, sequence: seq, payload: this.copier.copy(data), ttl });
      this.emit(s.handle, SocketEvent.Readable);
      return this.accept();
    }
    return this.drop('icmp.noSocket');
  }

  private ipv6Input(iface: Iface | undefined, buf: Uint8Array, now: Instant): Rx {
    const p = Ipv6Packet.newChecked(buf);
    if (p === 'truncated') return this.drop('ipv6.truncated');
    if (typeof p === 'string') return this.drop('ipv6.malformed');
    if (buf[8] === 0xff) return this.drop('ipv6.badSource');
    const src = p.src;
    const dst = p.dst;
    let mcast = false;
    if (iface !== undefined) {
      if (dst.isMulticast()) {
        if (!this.acceptsMulticast6(iface, dst)) return this.drop('ipv6.notForUs');
        mcast = true;
      } else if (!this.isLocalAddress(dst) || dst.isLoopback()) {
        return this.drop('ipv6.notForUs');
      }
    }
    const problem = { pointer: -1 };
    const w = walkIpv6Extensions(p.payload, p.nextHeader, problem);
    if (typeof w === 'string') {
      if (w === 'truncated') return this.drop('ipv6.truncated');
      if (problem.pointer >= 0) this.extensionProblem(buf, w, problem.pointer, mcast);
      return this.drop('ipv6.badExtensionHeader');
    }
    if (w.fragment !== undefined && (w.fragment.offset !== 0 || w.fragment.more)) {
      const f = w.fragment;
      const payload = p.payload;
      const hdr = buf.slice(0, IPV6_HEADER_LEN);
      hdr[6] = payload[f.headerOffset]!;
      const key = `${v6Key(src)}${v6Key(dst)}${f.ident}`;
      const r = this.reasm6.add(key, f.offset, f.more, payload.subarray(w.offset), hdr, now);
      switch (r.kind) {
        case 'queued':
          this.count('ipv6.fragmentsQueued');
          return this.accept();
        case 'complete': {
          this.count('ipv6.reassembled');
          if (r.payload.length > 65535) return this.drop('ipv6.fragTooBig');
          const pkt = new Uint8Array(IPV6_HEADER_LEN + r.payload.length);
          pkt.set(r.header.subarray(0, IPV6_HEADER_LEN));
          setU16(pkt, 4, r.payload.length);
          pkt.set(r.payload, IPV6_HEADER_LEN);
          return this.ipv6Input(iface, pkt, now);
        }
        default:
          return this.drop(`ipv6.${FRAG_DROPS[r.kind]}`);
      }
    }
    const upper = p.payload.subarray(w.offset);
    switch (w.protocol) {
      case 58:
        return this.icmpv6Input(iface, src, dst, upper, p.hopLimit, mcast, now);
      case 17:
        return this.udpInput(iface, src, dst, upper, mcast, false, buf, IPV6_HEADER_LEN + w.offset, now);
      case 6:
        if (mcast) return this.drop('tcp.broadcast');
        if (this.tcp === undefined) return this.drop('tcp.notAvailable');
        this.tcp.input(src, dst, upper, now, iface?.csumOffload === true);
        return this.accept();
      case 59:
        return this.drop('ipv6.noNextHeader');
      default:
        // RFC 8200 §4: Parameter Problem code 1, pointing at the Next Header field that named it.
        if (!mcast) {
          const pointer = w.offset === 0 ? 6 : IPV6_HEADER_LEN + w.lastHeaderOffset;
          this.icmpv6Error(buf, { kind: 'paramProblem', code: 1, pointer, data: EMPTY }, now);
        }
        return this.drop('ipv6.unknownNextHeader');
    }
  }

  private icmpv6Input(
    iface: Iface | undefined,
    src: Ipv6Address,
    dst: Ipv6Address,
    buf: Uint8Array,
    hopLimit: number,
    mcast: boolean,
    now: Instant,
  ): Rx {
    const p = Icmpv6Packet.newChecked(buf);
    if (typeof p === 'string') return this.drop('icmpv6.truncated');
    const r = parseIcmpv6(p, src, dst, hopLimit);
    if (typeof r === 'string') {
      if (r === 'badChecksum') return this.drop('icmpv6.badChecksum');
      if (r === 'unsupported') return this.drop('icmpv6.unsupported');
      if (r === 'truncated') return this.drop('icmpv6.truncated');
      return this.drop('icmpv6.malformed');
    }
    switch (r.kind) {
      case 'echoRequest': {
        if (src.isUnspecified()) return this.drop('icmpv6.malformed');
        const from = mcast ? this.selectSource(src, iface?.index) : dst;
        if (from === undefined) return this.accept();
        const reply: Icmpv6Repr = { kind: 'echoReply', ident: r.ident, seq: r.seq, data: r.data };
        const end = emitIcmpv6(this.seg, 0, reply, from as Ipv6Address, src);
        this.count('icmpv6.echoRequests');
        this.output(from, src, 58, this.seg.subarray(0, end), now, iface?.index, false, 64);
        return this.accept();
      }
      case 'echoReply':
        return this.echoReplyInput(src, r.ident, r.seq, r.data, hopLimit);
      case 'dstUnreachable':
      case 'packetTooBig':
      case 'timeExceeded':
      case 'paramProblem':
        return this.icmpv6ErrorInput(r, now);
      case 'routerSolicit':
        this.count('ndp.rsIgnored');
        return this.accept();
      case 'mldReport':
        return this.accept();
      case 'mldQuery': {
        if (iface === undefined) return this.drop('ndp.noInterface');
        if (!src.isLinkLocal() || hopLimit !== 1) return this.drop('icmpv6.malformed');
        // RFC 3810 §6.2: answer a general (or our group's) query after a random delay.
        const g = r.group;
        const ours = g.isUnspecified() || iface.v6.some((a) => solicitedNode(a.address).equals(g));
        if (ours) {
          const at =
            now + (r.maxResponseDelay > 0 ? this.random16() % Math.min(r.maxResponseDelay, 10_000) : 0);
          if (iface.mldLeft === 0 || at < iface.mldAt) {
            iface.mldType = iface.mldLeft === 0 ? MLD_MODE_IS_EXCLUDE : iface.mldType;
            iface.mldLeft = Math.max(iface.mldLeft, 1);
            iface.mldAt = Math.min(iface.mldAt, at);
          }
          this.count('mld.queries');
        }
        return this.accept();
      }
      case 'routerAdvert':
        if (iface === undefined) return this.drop('ndp.noInterface');
        if (!src.isLinkLocal()) return this.drop('ndp.badRouterAdvert');
        return this.routerAdvertInput(iface, src, r, now);
      case 'neighborSolicit':
        if (iface === undefined) return this.drop('ndp.noInterface');
        return this.neighborSolicitInput(iface, src, dst, r, now);
      case 'neighborAdvert':
        if (iface === undefined) return this.drop('ndp.noInterface');
        return this.neighborAdvertInput(iface, r, now);
    }
  }

  private icmpv6ErrorInput(
    r: Extract<Icmpv6Repr, { kind: 'dstUnreachable' | 'packetTooBig' | 'timeExceeded' | 'paramProblem' }>,
    now: Instant,
  ): Rx {
    const q = r.data;
    if (q.length < IPV6_HEADER_LEN + 8 || q[0]! >> 4 !== 6) return this.drop('icmpv6.malformed');
    const qsrc = Ipv6Address.fromBytes(q, 8);
    const qdst = Ipv6Address.fromBytes(q, 24);
    if (!this.isLocalAddress(qsrc)) return this.drop('icmpv6.errorNotOurs');
    let kind: IcmpErrorKind = IcmpErrorKind.Unreachable;
    let mtu = 0;
    if (r.kind === 'packetTooBig') {
      kind = IcmpErrorKind.PacketTooBig;
      // RFC 8201 §4: never below the IPv6 minimum link MTU.
      mtu = Math.max(1280, Math.min(r.mtu, 65535));
      this.lowerPmtu(qdst, mtu, now);
      this.count('icmpv6.packetTooBig');
    } else if (r.kind === 'timeExceeded') kind = IcmpErrorKind.TimeExceeded;
    this.count(`icmpv6.rx.${r.kind}`);
    // Walk the quoted extension headers (the quote may end early; only the transport start matters).
    const w = walkIpv6Extensions(q.subarray(IPV6_HEADER_LEN), q[6]!);
    if (typeof w !== 'string' && w.protocol === 6 && this.tcp && r.kind !== 'paramProblem') {
      this.tcp.icmpError(kind, qsrc, qdst, q.subarray(IPV6_HEADER_LEN + w.offset), mtu, now);
    }
    return this.accept();
  }

  private neighborSolicitInput(
    iface: Iface,
    src: Ipv6Address,
    dst: Ipv6Address,
    r: Extract<Icmpv6Repr, { kind: 'neighborSolicit' }>,
    now: Instant,
  ): Rx {
    const own = iface.v6.find((a) => a.address.equals(r.target));
    if (own === undefined) return this.drop('ndp.notForUs');
    if (src.isUnspecified()) {
      // RFC 4862 §5.4.3: a DAD probe. For our tentative address it means a duplicate.
      if (!dst.isMulticast() || r.sourceLinkAddr !== undefined) return this.drop('icmpv6.malformed');
      if (own.tentative) {
        this.dadFailed(iface, own);
        return this.accept();
      }
      this.sendNdp(iface, own.address, Ipv6Address.ALL_NODES, multicastMac(Ipv6Address.ALL_NODES), {
        kind: 'neighborAdvert',
        router: false,
        solicited: false,
        override: true,
        target: own.address,
        targetLinkAddr: iface.mac,
      });
      return this.accept();
    }
    if (own.tentative) return this.accept(); // RFC 4862 §5.4.3: not ours yet
    let mac = r.sourceLinkAddr;
    if (mac) {
      const q = iface.ndp.learn(v6Key(src), src, mac, true, now);
      if (q) this.flushQueued(iface, q, mac, EtherType.Ipv6);
    } else {
      mac = iface.ndp.get(v6Key(src))?.mac ?? this.rxFrame?.slice(6, 12);
    }
    if (mac === undefined) return this.accept();
    this.sendNdp(iface, own.address, src, mac, {
      kind: 'neighborAdvert',
      router: false,
      solicited: true,
      override: true,
      target: own.address,
      targetLinkAddr: iface.mac,
    });
    this.count('ndp.advertsSent');
    return this.accept();
  }

  private neighborAdvertInput(
    iface: Iface,
    r: Extract<Icmpv6Repr, { kind: 'neighborAdvert' }>,
    now: Instant,
  ): Rx {
    const own = iface.v6.find((a) => a.address.equals(r.target));
    if (own) {
      if (own.tentative) this.dadFailed(iface, own);
      else this.count('ndp.addressConflict');
      return this.accept();
    }
    const q = iface.ndp.confirm(v6Key(r.target), r.targetLinkAddr, r.solicited, r.override, now);
    if (q && r.targetLinkAddr) this.flushQueued(iface, q, r.targetLinkAddr, EtherType.Ipv6);
    return this.accept();
  }

  private routerAdvertInput(
    iface: Iface,
    src: Ipv6Address,
    r: Extract<Icmpv6Repr, { kind: 'routerAdvert' }>,
    now: Instant,
  ): Rx {
    this.count('ndp.routerAdverts');
    if (!iface.slaac) return this.accept();
    iface.rsAt = Number.POSITIVE_INFINITY; // RFC 4861 §6.3.7: stop soliciting
    const o = r.options;
    if (o.sourceLinkAddr) {
      const q = iface.ndp.learn(v6Key(src), src, o.sourceLinkAddr, true, now);
      if (q) this.flushQueued(iface, q, o.sourceLinkAddr, EtherType.Ipv6);
    }
    const any = Ipv6Address.UNSPECIFIED;
    if (r.routerLifetime > 0) {
      this.upsertRoute({
        version: 6,
        destination: any,
        prefixLength: 0,
        gateway: src,
        iface: iface.index,
        origin: 'ra',
        expires: now + r.routerLifetime * 1000,
      });
    } else {
      this.removeRaRoute(any, 0, iface.index, src);
    }
    if (o.mtu !== undefined && o.mtu >= 1280 && o.mtu <= iface.mtu) iface.mtu6 = o.mtu;
    // RFC 4861 §6.3.4: non-zero Reachable Time and Retrans Timer replace ours (sane bounds).
    const nc = iface.ndp.config;
    if (r.reachableTime > 0 && r.reachableTime <= 3_600_000) nc.reachableTime = r.reachableTime;
    if (r.retransTimer > 0) nc.retransTime = Math.min(Math.max(r.retransTimer, 100), 60_000);
    for (const pi of o.prefixes) {
      if (pi.prefix.isLinkLocal() || pi.prefix.isMulticast()) continue;
      const life = (s: number) => (s === 0xffffffff ? Number.POSITIVE_INFINITY : now + s * 1000);
      const prefix = maskV6(pi.prefix, pi.prefixLength);
      if (pi.onLink) {
        if (pi.validLifetime === 0) this.removeRaRoute(prefix, pi.prefixLength, iface.index, undefined);
        else {
          this.upsertRoute({
            version: 6,
            destination: prefix,
            prefixLength: pi.prefixLength,
            gateway: undefined,
            iface: iface.index,
            origin: 'ra',
            expires: life(pi.validLifetime),
          });
        }
      }
      // RFC 4862 §5.5.3: autonomous /64 prefixes form an address (EUI-64 interface identifier).
      if (!pi.autonomous || pi.prefixLength !== 64 || pi.preferredLifetime > pi.validLifetime) continue;
      const addr = eui64Address(prefix.bytes, iface.mac);
      const existing = iface.v6.find((a) => a.address.equals(addr));
      if (existing) {
        // §5.5.3 e: the "two hours" rule against shortening lifetimes by unauthenticated RAs.
        const remaining = existing.validUntil - now;
        const proposed = pi.validLifetime * 1000;
        if (proposed > 7_200_000 || proposed > remaining) existing.validUntil = life(pi.validLifetime);
        else if (remaining > 7_200_000) existing.validUntil = now + 7_200_000;
      } else if (pi.validLifetime > 0) {
        if (iface.v6.filter((x) => x.origin === 'slaac').length >= MAX_SLAAC_ADDRESSES) {
          this.count('ndp.slaacLimit');
          continue;
        }
        const a = this.tentativeV6(addr, 64, 'slaac');
        a.validUntil = life(pi.validLifetime);
        iface.v6.push(a);
        this.joinGroups(iface);
        this.topologyChanged();
        this.count('ndp.slaacAddresses');
      }
    }
    return this.accept();
  }

  private udpInput(
    iface: Iface | undefined,
    src: IpAddress,
    dst: IpAddress,
    buf: Uint8Array,
    bcast: boolean,
    noAddress: boolean,
    /** The IP header is ip[0, ipHeaderLen) (for quoting in an ICMP error). */
    ip: Uint8Array,
    ipHeaderLen: number,
    now: Instant,
  ): Rx {
    const u = UdpPacket.newChecked(buf);
    if (u === 'truncated') return this.drop('udp.truncated');
    if (typeof u === 'string') return this.drop('udp.malformed');
    if (!u.verifyChecksum(src, dst)) return this.drop('udp.badChecksum');
    const port = u.dstPort;
    if (port === 0) return this.drop('udp.malformed');
    const s = this.findUdp(port, dst, iface, bcast, noAddress);
    if (s === undefined) {
      if (!bcast && !noAddress) {
        const ipHeader = ip.subarray(0, ipHeaderLen);
        if (src.version === 4) this.icmpv4Error(ipHeader, buf, 3, 3, 0, now);
        else {
          const pkt = concat(ipHeader, buf);
          this.icmpv6Error(pkt, { kind: 'dstUnreachable', code: 4, data: EMPTY }, now);
        }
      }
      return this.drop('udp.noSocket');
    }
    const payload = u.payload;
    if (s.rxBytes + payload.length > s.rxMax) {
      s.drops++;
      return this.drop('udp.recvQueueFull');
    }
    s.rx.push({ data: this.copier.copy(payload), address: src, port: u.srcPort });
    s.rxBytes += payload.length;
    this.udpRxDatagrams++;
    this.emit(s.handle, SocketEvent.Readable);
    return this.accept();
  }

  private findUdp(
    port: number,
    dst: IpAddress,
    iface: Iface | undefined,
    bcast: boolean,
    noAddress: boolean,
  ): UdpSocket | undefined {
    const list = this.udpPorts.get(port);
    if (list === undefined) return undefined;
    let wildcard: UdpSocket | undefined;
    for (const s of list) {
      if (s.iface !== undefined && iface !== undefined && s.iface !== iface.index) continue;
      if (noAddress && s.iface === undefined) continue;
      if (bcast && dst.version === 4 && !s.broadcast) continue;
      if (s.family === 4 && dst.version !== 4) continue;
      if (s.local === undefined) {
        wildcard ??= s;
      } else if (s.local.equals(dst)) return s;
    }
    return wildcard;
  }

  // ---------------------------------------------------------------------------------
  // ICMP errors we send

  private icmpAllowed(now: Instant): boolean {
    const elapsed = now - this.icmpRefilled;
    if (elapsed > 0) {
      this.icmpTokens = Math.min(
        this.ip.icmpErrorBurst,
        this.icmpTokens + (elapsed * this.ip.icmpErrorsPerSecond) / 1000,
      );
      this.icmpRefilled = now;
    }
    if (this.icmpTokens < 1) {
      this.count('icmp.rateLimited');
      return false;
    }
    this.icmpTokens -= 1;
    return true;
  }

  /** RFC 1122 §3.2.2: never about ICMP errors, broadcasts, non-first fragments or odd sources. */
  private icmpv4Error(
    header: Uint8Array,
    payload: Uint8Array,
    type: number,
    code: number,
    mtu: number,
    now: Instant,
  ) {
    const src = ((header[12]! << 24) | (header[13]! << 16) | (header[14]! << 8) | header[15]!) >>> 0;
    const dst = ((header[16]! << 24) | (header[17]! << 16) | (header[18]! << 8) | header[19]!) >>> 0;
    if (this.rxLinkMulticast) return;
    if (src === 0 || src === 0xffffffff || src >>> 28 >= 0xe || (src >>> 24 === 127 && !this.isLocalV4(dst)))
      return;
    if (dst === 0xffffffff || dst >>> 28 === 0xe || this.isBroadcastV4(dst, undefined)) return;
    if ((getU16(header, 6) & 0x1fff) !== 0) return;
    if (header[9] === 1 && payload.length > 0 && !isIcmpv4Query(payload[0]!)) return;
    if (!this.icmpAllowed(now)) return;
    // RFC 1812 §4.3.2.3: quote as much as fits in 576 bytes.
    const quoteLen = Math.min(payload.length, 576 - 20 - 8 - header.length);
    const data = concat(header, payload.subarray(0, quoteLen));
    const r: Icmpv4Repr =
      type === 11 ? { kind: 'timeExceeded', code, data } : { kind: 'dstUnreachable', code, mtu, data };
    const from = this.isLocalV4(dst) ? new Ipv4Address(dst) : this.selectSource(new Ipv4Address(src));
    if (from === undefined) return;
    const len = icmpv4BufferLen(r);
    emitIcmpv4(this.seg, 0, r);
    this.count('icmpv4.errorsSent');
    this.output(from, new Ipv4Address(src), 1, this.seg.subarray(0, len), now, undefined, false, 64);
  }

  /** RFC 4443 §2.4: not about errors, multicast destinations or unspecified/multicast sources. */
  private icmpv6Error(packet: Uint8Array, r: Icmpv6Repr & { data: Uint8Array }, now: Instant): void {
    if (packet.length < IPV6_HEADER_LEN || this.rxLinkMulticast) return;
    const src = Ipv6Address.fromBytes(packet, 8);
    const dst = Ipv6Address.fromBytes(packet, 24);
    if (src.isUnspecified() || src.isMulticast() || dst.isMulticast()) return;
    if (packet[6] === 58 && packet.length > IPV6_HEADER_LEN && packet[IPV6_HEADER_LEN]! < 128) return;
    if (!this.icmpAllowed(now)) return;
    const from = this.isLocalAddress(dst) ? dst : this.selectSource(src);
    if (from === undefined || from.version !== 6) return;
    const data = packet.subarray(0, Math.min(packet.length, 1280 - IPV6_HEADER_LEN - 8));
    const msg = { ...r, data } as Icmpv6Repr;
    const end = emitIcmpv6(this.seg, 0, msg, from, src);
    this.count('icmpv6.errorsSent');
    this.output(from, src, 58, this.seg.subarray(0, end), now, undefined, false, 64);
  }

  /**
   * RFC 8200 §4.2–4.5: Parameter Problem for an extension header we refuse — code 2 for
   * an unrecognised option, 1 for a misplaced hop-by-hop header, 0 for a routing header
   * we would have to forward. Sent for unicast destinations only (§4.2 would also allow
   * answering multicast for option types 10xxxxxx; we do not).
   */
  private extensionProblem(packet: Uint8Array, why: string, pointer: number, mcast: boolean): void {
    if (mcast) return;
    const code = why === 'unknownOption' ? 2 : why === 'hopByHopNotFirst' ? 1 : 0;
    this.icmpv6Error(
      packet.subarray(0, IPV6_HEADER_LEN + ((packet[4]! << 8) | packet[5]!)),
      { kind: 'paramProblem', code, pointer: IPV6_HEADER_LEN + pointer, data: EMPTY },
      this.lastNow,
    );
  }

  private reassemblyExpired(
    v: 4 | 6,
    header: Uint8Array | undefined,
    first: Uint8Array | undefined,
    now: Instant,
  ) {
    this.count(v === 4 ? 'ipv4.reassemblyTimeout' : 'ipv6.reassemblyTimeout');
    // RFC 792 / RFC 4443 §3.3: Time Exceeded code 1, only when the first fragment arrived.
    if (header === undefined || first === undefined) return;
    if (v === 4) {
      const h = header.slice();
      setU16(h, 6, getU16(h, 6) & 0x4000); // quote it as the first fragment (offset 0)
      this.icmpv4Error(h, first, 11, 1, 0, now);
    } else {
      this.icmpv6Error(
        concat(header.subarray(0, IPV6_HEADER_LEN), first),
        { kind: 'timeExceeded', code: 1, data: EMPTY },
        now,
      );
    }
  }

  // ---------------------------------------------------------------------------------
  // Send path

  /**
   * Sends one IP packet from `src` to `dst`. Local destinations go through the loopback
   * queue (delivered on the next poll); the rest are routed, fragmented to the link MTU
   * (unless `df`), and handed to the link once the next hop's MAC is known.
   */
  private output(
    src: IpAddress,
    dst: IpAddress,
    protocol: number,
    payload: Uint8Array,
    now: Instant,
    ifaceHint: number | undefined,
    df: boolean,
    ttl: number,
  ): boolean {
    if (src.version !== dst.version) {
      this.count('ip.familyMismatch');
      return false;
    }
    const route = this.lookupRoute(dst, ifaceHint);
    if (route === undefined) {
      this.count('ip.noRoute');
      return false;
    }
    const iface = route.iface;
    // No interface: the destination is a loopback address or one of ours.
    if (iface === undefined) return this.loopback(src, dst, protocol, payload);
    if (dst.version === 4) {
      const nh = route.nextHop as Ipv4Address;
      const mtu = iface.mtu;
      const tx = iface.tx;
      const len = payload.length;
      const ident = this.ipIdent;
      this.ipIdent = (this.ipIdent + 1) & 0xffff;
      if (IPV4_HEADER_LEN + len <= mtu) {
        emitIpv4Header(
          tx,
          14,
          (src as Ipv4Address).value,
          dst.value,
          protocol,
          len,
          ttl,
          ident,
          df ? 0x4000 : 0,
        );
        tx.set(payload, 14 + IPV4_HEADER_LEN);
        return this.linkOutput4(iface, nh, 14 + IPV4_HEADER_LEN + len, now);
      }
      if (df) {
        this.count('ipv4.txTooBigDf');
        return false;
      }
      const chunk = (mtu - IPV4_HEADER_LEN) & ~7;
      let ok = true;
      for (let off = 0; off < len; off += chunk) {
        const n = Math.min(chunk, len - off);
        const more = off + n < len;
        emitIpv4Header(
          tx,
          14,
          (src as Ipv4Address).value,
          dst.value,
          protocol,
          n,
          ttl,
          ident,
          (more ? 0x2000 : 0) | (off >>> 3),
        );
        tx.set(payload.subarray(off, off + n), 14 + IPV4_HEADER_LEN);
        this.count('ipv4.txFragments');
        ok = this.linkOutput4(iface, nh, 14 + IPV4_HEADER_LEN + n, now) && ok;
      }
      return ok;
    }
    const s6 = src as Ipv6Address;
    const d6 = dst as Ipv6Address;
    const nh = route.nextHop as Ipv6Address;
    let mtu = iface.mtu6;
    const p = this.pmtu.get(addrKey(d6));
    if (p !== undefined && p.expires > now && p.mtu < mtu) mtu = p.mtu;
    const tx = iface.tx;
    const len = payload.length;
    if (IPV6_HEADER_LEN + len <= mtu) {
      emitIpv6Header(tx, 14, s6, d6, protocol, len, ttl);
      tx.set(payload, 14 + IPV6_HEADER_LEN);
      return this.linkOutput6(iface, nh, 14 + IPV6_HEADER_LEN + len, now);
    }
    if (df) {
      this.count('ipv6.txTooBig');
      return false;
    }
    // RFC 8200 §4.5: source fragmentation with a Fragment header.
    const ident = this.random32();
    const chunk = (mtu - IPV6_HEADER_LEN - IPV6_FRAGMENT_HEADER_LEN) & ~7;
    let ok = true;
    for (let off = 0; off < len; off += chunk) {
      const n = Math.min(chunk, len - off);
      emitIpv6Header(tx, 14, s6, d6, 44, n + IPV6_FRAGMENT_HEADER_LEN, ttl);
      emitIpv6FragmentHeader(tx, 14 + IPV6_HEADER_LEN, protocol, off, off + n < len, ident);
      tx.set(payload.subarray(off, off + n), 14 + IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN);
      this.count('ipv6.txFragments');
      ok = this.linkOutput6(iface, nh, 14 + IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN + n, now) && ok;
    }
    return ok;
  }

  private loopback(src: IpAddress, dst: IpAddress, protocol: number, payload: Uint8Array): boolean {
    if (this.loopQueue.length >= LOOPBACK_QUEUE_MAX) {
      this.count('loopback.queueFull');
      return false;
    }
    let pkt: Uint8Array;
    if (dst.version === 4) {
      if (payload.length > 65535 - IPV4_HEADER_LEN) return false;
      pkt = new Uint8Array(IPV4_HEADER_LEN + payload.length);
      emitIpv4Header(
        pkt,
        0,
        (src as Ipv4Address).value,
        dst.value,
        protocol,
        payload.length,
        64,
        this.ipIdent,
        0,
      );
      this.ipIdent = (this.ipIdent + 1) & 0xffff;
      pkt.set(payload, IPV4_HEADER_LEN);
    } else {
      if (payload.length > 65535) return false;
      pkt = new Uint8Array(IPV6_HEADER_LEN + payload.length);
      emitIpv6Header(pkt, 0, src as Ipv6Address, dst as Ipv6Address, protocol, payload.length, 64);
      pkt.set(payload, IPV6_HEADER_LEN);
    }
    this.loopQueue.push(pkt);
    this.count('loopback.txPackets');
    return true;
  }

  private drainLoopback(now: Instant): void {
    if (this.loopQueue.length === 0) return;
    const q = this.loopQueue;
    this.loopQueue = [];
    for (const pkt of q) {
      this.rxOutcome = 0;
      this.count('loopback.rxPackets');
      try {
        if (pkt[0]! >> 4 === 4) this.ipv4Input(undefined, pkt, now);
        else this.ipv6Input(undefined, pkt, now);
      } catch {
        this.count('stack.internalError');
      }
      this.finishRx();
    }
  }

  private linkOutput4(iface: Iface, nh: Ipv4Address, len: number, now: Instant): boolean {
    if (iface.ip) return this.transmitIp(iface, len);
    const v = nh.value;
    let mac: Uint8Array | undefined;
    if (v === 0xffffffff || this.isBroadcastV4(v, iface.index)) mac = BROADCAST_MAC;
    else if (v >>> 28 === 0xe)
      mac = new Uint8Array([1, 0, 0x5e, (v >>> 16) & 0x7f, (v >>> 8) & 0xff, v & 0xff]);
    else mac = iface.arp.lookup(v4Key(v), now);
    const tx = iface.tx;
    if (mac !== undefined) {
      emitEthernetHeader(tx, 0, mac, iface.mac, EtherType.Ipv4);
      this.transmit(iface, len);
      return true;
    }
    const r = iface.arp.enqueue(v4Key(v), nh, tx.subarray(14, len), now);
    if (r === 'full') {
      this.count('arp.queueFull');
      return false;
    }
    if (r === 'queuedNew') this.sendArpRequest(iface, nh, undefined);
    return true;
  }

  private linkOutput6(iface: Iface, nh: Ipv6Address, len: number, now: Instant): boolean {
    if (iface.ip) return this.transmitIp(iface, len);
    let mac: Uint8Array | undefined;
    if (nh.isMulticast()) mac = multicastMac(nh);
    else mac = iface.ndp.lookup(v6Key(nh), now);
    const tx = iface.tx;
    if (mac !== undefined) {
      emitEthernetHeader(tx, 0, mac, iface.mac, EtherType.Ipv6);
      this.transmit(iface, len);
      return true;
    }
    const r = iface.ndp.enqueue(v6Key(nh), nh, tx.subarray(14, len), now);
    if (r === 'full') {
      this.count('ndp.queueFull');
      return false;
    }
    if (r === 'queuedNew') this.sendNeighborSolicit(iface, nh, undefined);
    return true;
  }

  private flushQueued(iface: Iface, packets: Uint8Array[], mac: Uint8Array, ethertype: number): void {
    const tx = iface.tx;
    for (const pkt of packets) {
      emitEthernetHeader(tx, 0, mac, iface.mac, ethertype);
      tx.set(pkt, 14);
      this.transmit(iface, 14 + pkt.length);
    }
  }

  /** IP-only medium: the packet built at tx[14..len) goes out without an Ethernet header. */
  private transmitIp(iface: Iface, len: number): boolean {
    this.txFrames++;
    if (iface.txView.length !== len - 14 || iface.txView.byteOffset !== iface.tx.byteOffset + 14)
      iface.txView = iface.tx.subarray(14, len);
    iface.transmit(iface.txView);
    return true;
  }

  private transmit(iface: Iface, len: number): void {
    this.txFrames++;
    if (iface.txView.length !== len || iface.txView.byteOffset !== iface.tx.byteOffset)
      iface.txView = iface.tx.subarray(0, len);
    iface.transmit(iface.txView);
  }

  private sendArpRequest(iface: Iface, target: Ipv4Address, unicastMac: Uint8Array | undefined): void {
    const t = target.value;
    const sender = iface.v4.find((a) => ((a.address.value ^ t) & a.mask) === 0) ?? iface.v4[0];
    const spa = sender?.address ?? Ipv4Address.UNSPECIFIED;
    const tx = iface.tx;
    new ArpRepr(ArpOperation.Request, iface.mac, spa, ZERO_MAC, target).emit(tx, 14);
    emitEthernetHeader(tx, 0, unicastMac ?? BROADCAST_MAC, iface.mac, EtherType.Arp);
    this.transmit(iface, 14 + ARP_PACKET_LEN);
    this.count('arp.requestsSent');
  }

  private sendNeighborSolicit(iface: Iface, target: Ipv6Address, unicastMac: Uint8Array | undefined): void {
    const src = this.selectSource(target, iface.index);
    if (src === undefined || src.version !== 6) {
      this.count('ndp.noSourceAddress');
      return;
    }
    const dst = unicastMac ? target : solicitedNode(target);
    this.sendNdp(iface, src, dst, unicastMac ?? multicastMac(dst), {
      kind: 'neighborSolicit',
      target,
      sourceLinkAddr: iface.mac,
    });
    this.count('ndp.solicitsSent');
  }

  /** NDP messages go straight to the link with hop limit 255 (RFC 4861 §6.1.2 / §7.1.2). */
  private sendNdp(iface: Iface, src: Ipv6Address, dst: Ipv6Address, mac: Uint8Array, r: Icmpv6Repr): void {
    const tx = iface.tx;
    const o = 14 + IPV6_HEADER_LEN;
    const end = emitIcmpv6(tx, o, r, src, dst);
    emitIpv6Header(tx, 14, src, dst, 58, end - o, 255);
    if (iface.ip) {
      this.transmitIp(iface, end);
      return;
    }
    emitEthernetHeader(tx, 0, mac, iface.mac, EtherType.Ipv6);
    this.transmit(iface, end);
  }

  private flushSockets(now: Instant): void {
    for (const iface of this.ifaces) {
      if (iface.pendingGarp.length === 0) continue;
      const g = iface.pendingGarp;
      iface.pendingGarp = [];
      for (const a of g) {
        if (!iface.v4.some((x) => x.address.equals(a))) continue;
        // Gratuitous ARP: a request for our own address (RFC 5227 §3 announcement).
        const tx = iface.tx;
        new ArpRepr(ArpOperation.Request, iface.mac, a, ZERO_MAC, a).emit(tx, 14);
        emitEthernetHeader(tx, 0, BROADCAST_MAC, iface.mac, EtherType.Arp);
        this.transmit(iface, 14 + ARP_PACKET_LEN);
        this.count('arp.gratuitousSent');
      }
    }
    for (const s of this.udp.values()) {
      if (s.tx.length === 0) continue;
      const q = s.tx;
      s.tx = [];
      s.txBytes = 0;
      for (const d of q) {
        const src = this.udpSource(s, d.address);
        if (src === undefined) {
          this.count('udp.txNoRoute');
          s.error = SocketError.EHOSTUNREACH;
          this.emit(s.handle, SocketEvent.Error);
          continue;
        }
        const len = UDP_HEADER_LEN + d.data.length;
        emitUdp(this.seg, 0, s.port, d.port, d.data, src, d.address);
        if (this.output(src, d.address, 17, this.seg.subarray(0, len), now, s.iface, false, 64)) {
          this.count('udp.txDatagrams');
        } else this.count('udp.txDropped');
      }
    }
    for (const s of this.icmp.values()) {
      if (s.tx.length === 0) continue;
      const q = s.tx;
      s.tx = [];
      for (const e of q) {
        const src = this.selectSource(e.dst);
        if (src === undefined) {
          this.count('icmp.txNoRoute');
          continue;
        }
        let len: number;
        if (e.dst.version === 4) {
          const r: Icmpv4Repr = { kind: 'echoRequest', ident: s.ident, seq: e.sequence, data: e.payload };
          emitIcmpv4(this.seg, 0, r);
          len = icmpv4BufferLen(r);
          this.output(src, e.dst, 1, this.seg.subarray(0, len), now, undefined, false, 64);
        } else {
          const r: Icmpv6Repr = { kind: 'echoRequest', ident: s.ident, seq: e.sequence, data: e.payload };
          len = emitIcmpv6(this.seg, 0, r, src as Ipv6Address, e.dst);
          this.output(src, e.dst, 58, this.seg.subarray(0, len), now, undefined, false, 64);
        }
        this.count('icmp.echoSent');
      }
    }
  }

  private udpSource(s: UdpSocket, dst: IpAddress): IpAddress | undefined {
    if (s.local !== undefined) return s.local;
    const src = this.selectSource(dst, s.iface);
    if (src !== undefined) return src;
    // A DHCP client: broadcast from 0.0.0.0 on its interface before it has an address.
    if (dst.version === 4 && s.iface !== undefined && dst.isBroadcast()) return Ipv4Address.UNSPECIFIED;
    return undefined;
  }

  // ---------------------------------------------------------------------------------
  // Timers

  private pollIface(iface: Iface, now: Instant): void {
    // As in poll(): the callbacks are built only when a neighbour timer is due.
    if (iface.arp.pollAt() <= now) {
      iface.arp.poll(now, {
        solicit: (a, mac) => this.sendArpRequest(iface, a, mac),
        failed: (_a, dropped) => {
          this.count('arp.resolveFailed');
          this.count('arp.queueDropped', dropped.length);
          this.unreachable(dropped, now);
        },
      });
    }
    if (iface.ndp.pollAt() <= now) {
      iface.ndp.poll(now, {
        solicit: (a, mac) => this.sendNeighborSolicit(iface, a, mac),
        failed: (_a, dropped) => {
          this.count('ndp.resolveFailed');
          this.count('ndp.queueDropped', dropped.length);
          this.unreachable(dropped, now);
        },
      });
    }
    for (const a of [...iface.v6]) {
      if (a.validUntil <= now) {
        iface.v6 = iface.v6.filter((x) => x !== a);
        this.topologyChanged();
        this.count('ndp.addressExpired');
        continue;
      }
      if (!a.tentative || a.dadAt > now) continue;
      if (a.dadSent < DUP_ADDR_DETECT_TRANSMITS) {
        // RFC 4862 §5.4.2: NS from :: to the solicited-node group, no source link-layer option.
        const dst = solicitedNode(a.address);
        this.sendNdp(iface, Ipv6Address.UNSPECIFIED, dst, multicastMac(dst), {
          kind: 'neighborSolicit',
          target: a.address,
          sourceLinkAddr: undefined,
        });
        a.dadSent++;
        a.dadAt = now + this.ip.retransTime;
        this.count('ndp.dadProbesSent');
      } else {
        a.tentative = false;
        a.dadAt = Number.POSITIVE_INFINITY;
        this.topologyChanged();
        this.count('ndp.dadSucceeded');
        if (a.address.isLinkLocal() && iface.slaac && iface.rsSent === 0)
          iface.rsAt = Math.min(iface.rsAt, now);
      }
    }
    if (iface.slaac && iface.rsAt <= now) {
      if (iface.rsSent >= MAX_RTR_SOLICITATIONS) iface.rsAt = Number.POSITIVE_INFINITY;
      else {
        const ll = iface.v6.find((a) => a.address.isLinkLocal() && !a.tentative);
        const src = ll?.address ?? Ipv6Address.UNSPECIFIED;
        const dst = Ipv6Address.ALL_ROUTERS;
        // RFC 4861 §4.1: no source link-layer option when the source is unspecified.
        this.sendNdp(iface, src, dst, multicastMac(dst), {
          kind: 'routerSolicit',
          sourceLinkAddr: ll ? iface.mac : undefined,
        });
        iface.rsSent++;
        iface.rsAt = now + RTR_SOLICITATION_INTERVAL;
        this.count('ndp.routerSolicitsSent');
      }
    }
    if (iface.mldAt <= now) {
      this.sendMldReport(iface, iface.mldType);
      iface.mldLeft--;
      iface.mldAt = iface.mldLeft > 0 ? now + MLD_UNSOLICITED_INTERVAL : Number.POSITIVE_INFINITY;
    }
  }

  /**
   * Announces our solicited-node groups (RFC 4861 §7.2.1 via MLDv2, RFC 3810 §6.1): an
   * unsolicited report now and once more a second later, so snooping switches deliver NS.
   */
  private joinGroups(iface: Iface): void {
    iface.mldType = MLD_CHANGE_TO_EXCLUDE;
    iface.mldLeft = MLD_ROBUSTNESS;
    iface.mldAt = this.lastNow;
  }

  /** An MLDv2 report of every solicited-node group of the interface (all-nodes is never reported). */
  private sendMldReport(iface: Iface, type: number): void {
    const groups = new Map<string, Ipv6Address>();
    for (const a of iface.v6) {
      const g = solicitedNode(a.address);
      groups.set(v6Key(g), g);
    }
    if (groups.size === 0) return;
    const ll = iface.v6.find((a) => a.address.isLinkLocal() && !a.tentative);
    // RFC 3810 §5.2.13: from the link-local address, or :: while it is still tentative.
    const src = ll?.address ?? Ipv6Address.UNSPECIFIED;
    const dst = MLDV2_ROUTERS;
    const r: Icmpv6Repr = {
      kind: 'mldReport',
      records: [...groups.values()].map((group) => ({ type, group })),
    };
    const tx = iface.tx;
    const o = 14 + IPV6_HEADER_LEN + 8;
    if (o + icmpv6BufferLen(r) > tx.length) return;
    const end = emitIcmpv6(tx, o, r, src, dst);
    // Hop-by-hop header with Router Alert (MLD), hop limit 1 (RFC 3810 §5).
    emitIpv6Header(tx, 14, src, dst, 0, end - o + 8, 1);
    tx.set([58, 0, 5, 2, 0, 0, 1, 0], 14 + IPV6_HEADER_LEN);
    emitEthernetHeader(tx, 0, multicastMac(dst), iface.mac, EtherType.Ipv6);
    this.transmit(iface, end);
    this.count('mld.reportsSent');
  }

  /**
   * Address resolution failed for these queued packets: tell TCP as if an ICMP host
   * unreachable had come back (RFC 1122 §2.3.3 / RFC 4861 §7.2.2), so a connect to an
   * absent neighbour fails with EHOSTUNREACH after the solicitations instead of timing out.
   */
  private unreachable(packets: Uint8Array[], now: Instant): void {
    if (this.tcp === undefined) return;
    for (const p of packets) {
      if (p[0]! >> 4 === 4) {
        const hl = (p[0]! & 0xf) * 4;
        if (p[9] !== 6 || (getU16(p, 6) & 0x1fff) !== 0) continue;
        const src = new Ipv4Address(((p[12]! << 24) | (p[13]! << 16) | (p[14]! << 8) | p[15]!) >>> 0);
        const dst = new Ipv4Address(((p[16]! << 24) | (p[17]! << 16) | (p[18]! << 8) | p[19]!) >>> 0);
        this.tcp.icmpError(IcmpErrorKind.Unreachable, src, dst, p.subarray(hl), 0, now);
      } else if (p[6] === 6) {
        const seg = p.subarray(IPV6_HEADER_LEN);
        this.tcp.icmpError(
          IcmpErrorKind.Unreachable,
          Ipv6Address.fromBytes(p, 8),
          Ipv6Address.fromBytes(p, 24),
          seg,
          0,
          now,
        );
      }
    }
  }

  private expireRoutes(now: Instant): void {
    for (let i = this.routes.length - 1; i >= 0; i--) {
      if (this.routes[i]!.expires <= now) {
        this.routes.splice(i, 1);
        this.topologyChanged();
        this.count('route.expired');
      }
    }
  }

  private dadFailed(iface: Iface, a: AddrV6): void {
    iface.v6 = iface.v6.filter((x) => x !== a);
    this.topologyChanged();
    this.count('ndp.dadFailed');
  }

  private tentativeV6(address: Ipv6Address, prefixLength: number, origin: string): AddrV6 {
    return {
      address,
      prefixLength,
      origin,
      tentative: true,
      dadAt: this.lastNow,
      dadSent: 0,
      validUntil: Number.POSITIVE_INFINITY,
    };
  }

  // ---------------------------------------------------------------------------------
  // Routing

  /** `findRoute`, remembering the last answer (see `lastRoute`). */
  private lookupRoute(dst: IpAddress, ifaceHint?: number): RouteResult | undefined {
    const c = this.lastRoute;
    if (c !== undefined && c.hint === ifaceHint && c.dst.equals(dst)) return c.route;
    const route = this.findRoute(dst, ifaceHint);
    // A link-local IPv6 destination's interface depends on the neighbour caches: not cached.
    if (dst.version === 4 || !dst.isLinkLocal()) this.lastRoute = { dst, hint: ifaceHint, route };
    return route;
  }

  /**
   * Longest-prefix match over the connected prefixes (from interface addresses) and
   * the route table; connected prefixes win ties. `iface` undefined means loopback.
   * Broadcast, multicast and IPv6 link-local destinations leave on the hinted
   * interface, or the first one.
   */
  private findRoute(dst: IpAddress, ifaceHint?: number): RouteResult | undefined {
    if (dst.isLoopback() || this.isLocalAddress(dst)) return { iface: undefined, nextHop: dst };
    const hint = ifaceHint === undefined ? undefined : this.ifaces[ifaceHint];
    let best: Iface | undefined;
    let gateway: IpAddress | undefined;
    let bestLen = -1;
    if (dst.version === 4) {
      const v = dst.value;
      if (v === 0xffffffff || v >>> 28 === 0xe) {
        const i = hint ?? this.ifaces.find((x) => x.v4.length > 0) ?? this.ifaces[0];
        return i ? { iface: i, nextHop: dst } : undefined;
      }
      for (const i of this.ifaces) {
        if (hint && i !== hint) continue;
        for (const a of i.v4) {
          if (a.prefixLength > bestLen && ((a.address.value ^ v) & a.mask) === 0) {
            best = i;
            bestLen = a.prefixLength;
          }
        }
      }
      for (const r of this.routes) {
        if (r.version !== 4 || r.prefixLength <= bestLen) continue;
        if (hint && r.iface !== hint.index) continue;
        const mask = r.prefixLength === 0 ? 0 : (0xffffffff << (32 - r.prefixLength)) >>> 0;
        if ((((r.destination as Ipv4Address).value ^ v) & mask) !== 0) continue;
        best = this.ifaces[r.iface];
        gateway = r.gateway;
        bestLen = r.prefixLength;
      }
      return bestLen < 0 ? undefined : { iface: best, nextHop: gateway ?? dst };
    }
    if (dst.isMulticast() || dst.isLinkLocal()) {
      // Without zone indices, a link-local destination leaves where we know it as a
      // neighbour (where it talked to us from), else on the first interface.
      let i = hint;
      if (i === undefined && this.ifaces.length > 1 && !dst.isMulticast()) {
        const k = v6Key(dst);
        i = this.ifaces.find((x) => x.ndp.get(k) !== undefined);
      }
      i ??= this.ifaces[0];
      return i ? { iface: i, nextHop: dst } : undefined;
    }
    for (const i of this.ifaces) {
      if (hint && i !== hint) continue;
      for (const a of i.v6) {
        if (a.address.isLinkLocal()) continue;
        if (a.prefixLength > bestLen && commonPrefix(a.address.bytes, dst.bytes) >= a.prefixLength) {
          best = i;
          bestLen = a.prefixLength;
        }
      }
    }
    for (const r of this.routes) {
      if (r.version !== 6 || r.prefixLength <= bestLen) continue;
      if (hint && r.iface !== hint.index) continue;
      if (commonPrefix((r.destination as Ipv6Address).bytes, dst.bytes) < r.prefixLength) continue;
      best = this.ifaces[r.iface];
      gateway = r.gateway;
      bestLen = r.prefixLength;
    }
    return bestLen < 0 ? undefined : { iface: best, nextHop: gateway ?? dst };
  }

  private upsertRoute(route: Route): void {
    const i = this.routes.findIndex(
      (r) =>
        r.prefixLength === route.prefixLength &&
        r.destination.equals(route.destination) &&
        r.iface === route.iface &&
        (r.gateway === undefined ? route.gateway === undefined : r.gateway.equals(route.gateway)),
    );
    if (i >= 0) this.routes[i] = route;
    else if (route.origin === 'ra' && this.routes.filter((r) => r.origin === 'ra').length >= MAX_RA_ROUTES) {
      this.count('ndp.raRouteLimit'); // a flood of advertisements must not grow the table without bound
    } else this.routes.push(route);
    this.topologyChanged();
  }

  private removeRaRoute(dest: IpAddress, len: number, iface: number, gw: IpAddress | undefined): void {
    for (let i = this.routes.length - 1; i >= 0; i--) {
      const r = this.routes[i]!;
      if (r.origin !== 'ra' || r.iface !== iface || r.prefixLength !== len || !r.destination.equals(dest))
        continue;
      if (gw !== undefined && !gw.equals(r.gateway)) continue;
      this.routes.splice(i, 1);
    }
    this.topologyChanged();
  }

  private lowerPmtu(dst: IpAddress, mtu: number, now: Instant): void {
    const k = addrKey(dst);
    const old = this.pmtu.get(k);
    if (old && old.expires > now && old.mtu <= mtu) return;
    this.pmtu.set(k, { mtu, expires: now + PMTU_TIMEOUT });
    if (this.pmtu.size > 4096) {
      const first = this.pmtu.keys().next();
      if (!first.done) this.pmtu.delete(first.value);
    }
  }

  // ---------------------------------------------------------------------------------
  // Helpers

  private isLocalV4(v: number): boolean {
    return this.localV4.has(v4Key(v));
  }

  /**
   * Interfaces, addresses (or their DAD state) or routes changed: rebuild the local
   * address index and forget the cached route. Every such change must come through here.
   */
  private topologyChanged(): void {
    this.lastRoute = undefined;
    this.localV4.clear();
    this.localV6.clear();
    for (const i of this.ifaces) {
      for (const a of i.v4) this.localV4.set(v4Key(a.address.value), a.address);
      for (const a of i.v6) if (!a.tentative) this.localV6.add(v6Key(a.address));
    }
  }

  /** Limited broadcast, or the directed broadcast of a prefix on `iface` (any interface when undefined). */
  private isBroadcastV4(v: number, iface: number | undefined): boolean {
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

  /** All-nodes, or the solicited-node group of one of our addresses (tentative ones too, for DAD). */
  private acceptsMulticast6(iface: Iface, dst: Ipv6Address): boolean {
    const b = dst.bytes;
    if (b[1] === 0x02 || b[1] === 0x01) {
      let tail0 = true;
      for (let i = 2; i < 15; i++) if (b[i] !== 0) tail0 = false;
      if (tail0 && b[15] === 1) return true;
    }
    if (b[1] !== 0x02 || b[11] !== 1 || b[12] !== 0xff) return false;
    for (const a of iface.v6) {
      const ab = a.address.bytes;
      if (ab[13] === b[13] && ab[14] === b[14] && ab[15] === b[15]) return true;
    }
    return false;
  }

  private udpPortFree(port: number, local: IpAddress | undefined, iface: number | undefined): boolean {
    const list = this.udpPorts.get(port);
    if (list === undefined) return true;
    for (const s of list) {
      if (iface !== undefined && s.iface !== undefined && s.iface !== iface) continue;
      if (s.local === undefined || local === undefined || s.local.equals(local)) return false;
    }
    return true;
  }

  /** RFC 6056 §3.3.1 (Algorithm 1): a random start in the range, then the next free port. */
  private ephemeralPort(free: (p: number) => boolean): number {
    const n = EPHEMERAL_MAX - EPHEMERAL_MIN + 1;
    let p = EPHEMERAL_MIN + (this.random16() % n);
    for (let i = 0; i < n; i++) {
      if (free(p)) return p;
      p = p === EPHEMERAL_MAX ? EPHEMERAL_MIN : p + 1;
    }
    return 0;
  }

  private random16(): number {
    this.config.random(this.rnd);
    return ((this.rnd[0]! << 8) | this.rnd[1]!) & 0xffff;
  }
  private random32(): number {
    this.config.random(this.rnd);
    return ((this.rnd[0]! << 24) | (this.rnd[1]! << 16) | (this.rnd[2]! << 8) | this.rnd[3]!) >>> 0;
  }

  private iface(index: number): Iface {
    const i = this.ifaces[index];
    if (i === undefined) throw new RangeError(`no interface ${index}`);
    return i;
  }

  private emit(h: Handle, events: SocketEventMask): void {
    this.handler?.(h, events);
  }

  /** A bug: counted, kept for `lastInternalError`, never thrown out of receive()/poll(). */
  private internalError(e: unknown): void {
    this.count('stack.internalError');
    this.lastInternalError = e;
  }

  private count(name: string, n = 1): void {
    this.counters[name] = (this.counters[name] ?? 0) + n;
  }

  private drop(name: DropCounter): Rx {
    if (this.rxOutcome !== 0) return undefined;
    this.rxOutcome = 1;
    this.counters[name] = (this.counters[name] ?? 0) + 1;
    return undefined;
  }

  private accept(): Rx {
    if (this.rxOutcome === 0) this.rxOutcome = 2;
    return undefined;
  }

  private finishRx(): void {
    const o = this.rxOutcome;
    if (o === 2) this.rxAccepted++;
    else if (o === 1) this.rxDropped++;
    else this.count('stack.rxUnaccounted');
  }
}

const EMPTY = new Uint8Array(0);
const ZERO_MAC = new Uint8Array(6);

/**
 * A compact Map key for an IPv6 address (8 UTF-16 units), much cheaper than the
 * RFC 5952 text form on per-packet paths.
 */
function v6Key(a: Ipv6Address): string {
  const b = a.bytes;
  return String.fromCharCode(
    (b[0]! << 8) | b[1]!,
    (b[2]! << 8) | b[3]!,
    (b[4]! << 8) | b[5]!,
    (b[6]! << 8) | b[7]!,
    (b[8]! << 8) | b[9]!,
    (b[10]! << 8) | b[11]!,
    (b[12]! << 8) | b[13]!,
    (b[14]! << 8) | b[15]!,
  );
}

/**
 * A Map key for an IPv4 address on per-packet paths: the value as a signed 32-bit
 * integer, which V8 keeps as a small integer. The unsigned form of an address from
 * 128.0.0.0 up is a heap number, allocated and hashed as a double on every lookup.
 */
function v4Key(v: number): number {
  return v | 0;
}

/** Map key for either family: the number for IPv4, `v6Key` for IPv6. */
function addrKey(a: IpAddress): string | number {
  return a.version === 4 ? a.value : v6Key(a);
}

function isIcmpv4Query(type: number): boolean {
  return (
    type === 0 ||
    type === 8 ||
    type === 13 ||
    type === 14 ||
    type === 15 ||
    type === 16 ||
    type === 17 ||
    type === 18
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Number of leading bits two 16-byte addresses share. */
function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

function maskV6(a: Ipv6Address, len: number): Ipv6Address {
  const b = a.bytes.slice();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    b[i] = b[i]! & ((0xff00 >> keep) & 0xff);
  }
  return new Ipv6Address(b);
}
