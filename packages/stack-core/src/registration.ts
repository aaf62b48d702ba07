/**
 * Every interface between stack-core's layers, in one place (after gVisor's
 * stack/registration.go). The IP layer (stack.ts) implements `IpHost`; the TCP
 * layer (tcp/) implements `TransportProtocol` and is driven only through it.
 * The public API that the driver and bridge use is `Stack` (stack.ts), whose
 * socket calls are declared here too so every package codes against one shape.
 */
import type { IpAddress } from './wire/ip-address.js';

/** Milliseconds on the caller's monotonic clock. The stack never reads a clock. */
export type Instant = number;

/** A socket handle: a small positive integer, unique across TCP, UDP and ICMP sockets of one stack. */
export type Handle = number;

/** Socket events, OR-ed into one bitmask per callback. */
export const SocketEvent = {
  /** Data (or EOF) can be read. */
  Readable: 1,
  /** The send buffer has room again. */
  Writable: 2,
  /** An active open finished (ESTABLISHED). */
  Connected: 4,
  /** A listener has a connection in its accept queue. */
  Acceptable: 8,
  /** The peer sent FIN: after the buffered data, reads return EOF. */
  PeerClosed: 16,
  /** The connection is fully closed (the handle can be released / is released). */
  Closed: 32,
  /** An error was recorded; read it with `socketError(handle)`. */
  Error: 64,
} as const;
export type SocketEventMask = number;

/**
 * The closed set of socket errors; the bridge maps each to one Node error code
 * (the name is that code).
 */
export const SocketError = {
  ECONNREFUSED: 1,
  ECONNRESET: 2,
  ETIMEDOUT: 3,
  EPIPE: 4,
  EADDRINUSE: 5,
  ENOTCONN: 6,
  EHOSTUNREACH: 7,
  EADDRNOTAVAIL: 8,
  EINVAL: 9,
  EMSGSIZE: 10,
  EISCONN: 11,
  EBADF: 12,
  ENOBUFS: 13,
  /** Connect to a broadcast (or multicast) address: no unicast path there. */
  ENETUNREACH: 14,
  /**
   * UDP send to a broadcast address without the socket's `broadcast` option (Linux:
   * SO_BROADCAST), or to a multicast group without its `multicast` option.
   */
  EACCES: 15,
} as const;
export type SocketError = (typeof SocketError)[keyof typeof SocketError];
export type SocketErrorName = keyof typeof SocketError;

const errorNames: Record<number, SocketErrorName> = Object.fromEntries(
  Object.entries(SocketError).map(([k, v]) => [v, k as SocketErrorName]),
);
/** The Node-style code for a socket error ("ECONNREFUSED", ...). */
export function socketErrorName(e: SocketError): SocketErrorName {
  return errorNames[e] ?? 'EINVAL';
}

/** Called by the stack, from inside receive()/poll()/socket calls, when a socket's state changes. */
export type EventHandler = (handle: Handle, events: SocketEventMask) => void;

/** What the IP layer offers a transport protocol (TCP). */
export interface IpHost {
  /** The source address the stack would use to reach `dst`, or undefined when there is no route. */
  selectSource(dst: IpAddress): IpAddress | undefined;
  /** Is `addr` assigned to one of our interfaces (or loopback)? */
  isLocalAddress(addr: IpAddress): boolean;
  /** Is `addr` the limited broadcast or a directed broadcast of one of our prefixes? Absent: false. */
  isBroadcast?(addr: IpAddress): boolean;
  /**
   * Largest transport payload (TCP header + data) that reaches `dst` unfragmented:
   * the path MTU (link MTU, lowered by Packet Too Big / Fragmentation Needed) minus the IP header.
   */
  maxTransportPayload(dst: IpAddress): number;
  /**
   * Sends one IP packet. `payload` is the whole transport segment with its checksum
   * already filled in; the IP layer copies it (`reserve` avoids that copy), so the caller may reuse the buffer
   * after return. Returns false when the packet could not be sent or queued (no route,
   * neighbour queue full); TCP treats that as a loss.
   */
  sendIp(
    src: IpAddress,
    dst: IpAddress,
    protocol: number,
    payload: Uint8Array,
    now: Instant,
    gsoSize?: number,
  ): boolean;
  /**
   * Zero-copy output, first half: looks the route to `dst` up once and returns where
   * the transport writes its whole segment of exactly `length` bytes — a view into the
   * outgoing frame, behind the IP header, when the packet leaves an interface in one
   * piece; otherwise a scratch view that IP copies as `sendIp` would — and whether
   * that interface offloads TCP checksums (then the transport may leave the field 0).
   * The transport fills `slot.segment` and calls `sendReserved(now)` before any other
   * call into the IP layer. The slot object is reused. Absent: the transport builds the
   * segment in its own buffer and calls `sendIp`. gsoSize > 0: a TCP super-segment for
   * an interface with gsoMaxSize (see sendIp).
   */
  reserve?(
    src: IpAddress,
    dst: IpAddress,
    protocol: number,
    length: number,
    now: Instant,
    gsoSize?: number,
  ): IpTxSlot;
  /** Zero-copy output, second half: sends the segment written into the reserved slot (false as `sendIp`). */
  sendReserved?(now: Instant): boolean;
  /**
   * True when packets to `dst` leave through an interface that offloads TCP checksums
   * (InterfaceConfig.checksumOffload): the transport may then leave the field 0.
   * Absent means false.
   */
  checksumOffload?(dst: IpAddress): boolean;
  /**
   * The largest IP packet towards `dst` that the interface takes as a TCP super-segment
   * (InterfaceConfig.gsoMaxSize), or 0. Absent means 0.
   */
  gsoMaxSize?(dst: IpAddress): number;
  /**
   * Forward progress towards `dst` (TCP: new data acknowledged): the neighbour that
   * carries it is reachable (RFC 4861 §7.3.1 upper-layer advice). Absent: no advice.
   */
  confirmReachable?(dst: IpAddress, now: Instant): void;
  /** Fills `buf` from the configured random source. */
  random(buf: Uint8Array): void;
  /** The configured keyed PRF (`StackConfig.keyedPrf`). */
  keyedPrf: KeyedPrf;
  /** A new handle from the stack-wide socket set. */
  allocHandle(): Handle;
  /** Reports socket events to the stack's event handler. */
  emit(handle: Handle, events: SocketEventMask): void;
  /** Named drop/event counter shared with the stack's stats snapshot ("tcp.badChecksum", ...). */
  count(name: string, n?: number): void;
}

/** Where a transport writes a reserved outgoing segment (`IpHost.reserve`). */
export interface IpTxSlot {
  /** Exactly the reserved length; valid until `sendReserved`. */
  segment: Uint8Array;
  /** The packet leaves through an interface that offloads TCP checksums. */
  checksumOffload: boolean;
}

/** ICMP errors the IP layer hands to the transport whose segment they quote. */
export const IcmpErrorKind = {
  /** Port/protocol/host/net unreachable, administratively prohibited. */
  Unreachable: 1,
  /** IPv4 Fragmentation Needed with DF set, or ICMPv6 Packet Too Big. `mtu` is given. */
  PacketTooBig: 2,
  /** Time exceeded. */
  TimeExceeded: 3,
} as const;
export type IcmpErrorKind = (typeof IcmpErrorKind)[keyof typeof IcmpErrorKind];

/** A transport protocol driven by the IP layer. */
export interface TransportProtocol {
  readonly protocol: number;
  /**
   * One received segment. `segment` is a view into the received frame, valid only during
   * the call (copy what you keep). The transport verifies its own checksum unless
   * `checksumTrusted` says the frame came in on an interface that offloads checksums (or
   * receive coalescing checked it). `segSize` > 0: the segment is several coalesced
   * segments of that many payload bytes each (the last may be shorter).
   */
  input(
    src: IpAddress,
    dst: IpAddress,
    segment: Uint8Array,
    now: Instant,
    checksumTrusted?: boolean,
    segSize?: number,
  ): void;
  /**
   * An ICMP error about a segment we sent. `quoted` holds the start of that segment
   * (at least 8 bytes). For PacketTooBig, `mtu` is the reported next-hop MTU. Returns
   * true when the quote matches a real connection (RFC 5927 §4.3); a Packet Too Big
   * lowers the path MTU only then.
   */
  icmpError(
    kind: IcmpErrorKind,
    src: IpAddress,
    dst: IpAddress,
    quoted: Uint8Array,
    mtu: number,
    now: Instant,
  ): boolean | undefined;
  /** Does timer work and transmits what is due (including data queued by socket calls). */
  poll(now: Instant): void;
  /** When poll() must next be called; Infinity when nothing is pending. */
  pollAt(): Instant;
}

/** Per-socket TCP options (defaults in brackets). */
export interface TcpSocketOptions {
  /** Send buffer bytes [262144]. */
  sendBufferSize?: number;
  /**
   * Send buffer autotuning up to this many bytes [0: off] (Linux's tcp_sndbuf_expand): an
   * application held back by a full send buffer while congestion and peer window allow
   * more gets a buffer of twice that window, so the buffer does not cap the flight.
   */
  sendBufferMax?: number;
  /** Receive buffer bytes [262144]; the advertised window follows its free space. */
  recvBufferSize?: number;
  /**
   * Receive buffer autotuning up to this many bytes [0: off] (Linux's tcp_rcv_space_adjust,
   * "dynamic right-sizing"): once per round trip, when the application took more than ever
   * before, the buffer grows to twice that, so a reader that keeps up is not held to
   * `recvBufferSize` by the window. The window scale (RFC 7323) is chosen for this size.
   */
  recvBufferMax?: number;
  /** Disable Nagle [false]. */
  noDelay?: boolean;
  /** Keepalive idle time in ms, 0 = off [0]. */
  keepAlive?: number;
  /** Congestion control ['cubic']. */
  congestionControl?: 'cubic' | 'newreno';
}

export interface TcpConfig {
  /**
   * Floor of the RTO's variance term ms [200] (RTO = SRTT + max(minRto, 4·RTTVAR), Linux's
   * tcp_rto_min), initial RTO ms [1000], maximum RTO ms [120000].
   */
  minRto: number;
  initialRto: number;
  maxRto: number;
  /** Retransmissions before ETIMEDOUT [15], SYN retransmissions [6]. */
  maxRetries: number;
  maxSynRetries: number;
  /** Maximum segment lifetime ms; TIME-WAIT lasts 2×MSL [30000 → 60 s]. */
  msl: number;
  /** Delayed ACK timeout ms [40]. */
  delayedAckTimeout: number;
  /** Defaults for new sockets. */
  defaults: Required<TcpSocketOptions>;
  /** Ephemeral port range [49152, 65535] (RFC 6056). */
  ephemeralPortMin: number;
  ephemeralPortMax: number;
  /**
   * Connections in TIME-WAIT at most [8192] (Linux's tcp_max_tw_buckets): beyond it a
   * closing connection skips TIME-WAIT (`tcp.timeWaitOverflow`), as Linux does.
   */
  maxTimeWait?: number;
  /**
   * Answer SYNs with SYN cookies (RFC 4987 §3.6) when a listener's SYN queue is full
   * [true]; false drops them (`tcp.synQueueFull`). Half-open connections are never evicted.
   */
  synCookies?: boolean;
}

/** See `StackConfig.keyedPrf`. Must not keep `message`, `key` or `out` after returning. */
export type KeyedPrf = (message: Uint8Array, key: Uint8Array, out: Uint8Array) => void;

export interface TcpInfo {
  state: TcpStateName;
  localAddress: IpAddress | undefined;
  localPort: number;
  remoteAddress: IpAddress | undefined;
  remotePort: number;
  /** Bytes queued for sending but not yet acknowledged. */
  sendQueued: number;
  /** Bytes received and not yet read. */
  recvQueued: number;
  /** Smoothed RTT ms (0 before a sample). */
  srtt: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  mss: number;
  /** Peer's advertised window (scaled). */
  sendWindow: number;
  retransmits: number;
}

export type TcpStateName =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSING'
  | 'TIME-WAIT'
  | 'CLOSE-WAIT'
  | 'LAST-ACK';

/** Returned by tcpRecv when the peer has closed and every byte has been read. */
export const EOF = -1;

/**
 * The TCP socket API. stack.ts exposes exactly these methods (delegating to tcp/).
 * Socket calls only change buffers and state: segments go out on the next
 * `poll(now)` (after any socket call, `pollAt()` is <= the last `now`), so a driver
 * calls poll() once after a batch of socket calls.
 * Methods return a SocketError (a positive number) or 0 / a count; they never throw
 * for runtime conditions (a bad handle is EBADF).
 */
export interface TcpApi {
  tcpOpen(options?: TcpSocketOptions): Handle;
  /** Binds a local address/port (port 0 = ephemeral). EADDRINUSE, EADDRNOTAVAIL. */
  tcpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError;
  /** Starts an active open; completion is SocketEvent.Connected or Error (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH). */
  tcpConnect(h: Handle, address: IpAddress, port: number, now: Instant): 0 | SocketError;
  /** Passive open on the bound address/port; `backlog` bounds the accept queue. */
  tcpListen(h: Handle, backlog: number): 0 | SocketError;
  /** Takes an established connection from a listener's accept queue. */
  tcpAccept(h: Handle): Handle | undefined;
  /** Copies up to data.length bytes into the send buffer; returns how many it took (0 when full), or -(SocketError). */
  tcpSend(h: Handle, data: Uint8Array): number | SocketError;
  /** Free bytes in the send buffer. */
  tcpSendSpace(h: Handle): number;
  /**
   * Copies received bytes into `into`; returns the count, 0 when nothing is ready,
   * EOF (-1) after the peer's FIN once all data is read, or -(SocketError) on error.
   * Reading opens the receive window again.
   */
  tcpRecv(h: Handle, into: Uint8Array): number;
  /** Sends FIN after the queued data (shutdown(SHUT_WR)). */
  tcpShutdown(h: Handle): 0 | SocketError;
  /** Graceful close and release of the handle (FIN; the stack finishes the close on its own). */
  tcpClose(h: Handle): void;
  /** Sends RST, releases the handle. */
  tcpAbort(h: Handle): void;
  tcpSetNoDelay(h: Handle, on: boolean): void;
  /** Keepalive idle time in ms; 0 turns it off. */
  tcpSetKeepAlive(h: Handle, idleMs: number): void;
  tcpInfo(h: Handle): TcpInfo | undefined;
}

/** Options of `udpOpen`. */
export interface UdpOpenOptions {
  /** Receive queue limit in bytes. */
  recvQueueBytes?: number;
  /** Receive broadcasts and allow sending them (SO_BROADCAST); without it a send is EACCES. */
  broadcast?: boolean;
  /**
   * Allow sending to multicast groups. Off by default, unlike Linux: one datagram to a
   * group reaches every member of the link, so an application asks for it (issue 14).
   */
  multicast?: boolean;
  /**
   * Bind to one interface (SO_BINDTODEVICE); with it, sending to 255.255.255.255 works
   * with source 0.0.0.0 when the interface has no IPv4 address yet (a DHCP client).
   */
  iface?: number;
}

/** UDP socket API (stack.ts). */
export interface UdpApi {
  udpOpen(options?: UdpOpenOptions): Handle;
  udpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError;
  /**
   * Sends one datagram (fragmented by IPv4 if needed); returns the bytes queued or
   * -(SocketError) — negative, like tcpRecv, so a datagram's length is never taken for
   * an error. Binds an ephemeral port if unbound.
   */
  udpSend(h: Handle, data: Uint8Array, address: IpAddress, port: number): number;
  /** Next queued datagram, or undefined. */
  udpRecv(h: Handle): { data: Uint8Array; address: IpAddress; port: number } | undefined;
  udpLocal(h: Handle): { address: IpAddress | undefined; port: number } | undefined;
  udpClose(h: Handle): void;
}

/** Common to every socket handle. */
export interface SocketApi {
  /** The error recorded on a socket (read once: it is cleared), or 0. */
  socketError(h: Handle): 0 | SocketError;
}

/**
 * The socket API, declared once: every call an application makes on sockets by handle.
 * `Stack` implements it (over TcpLayer and the UDP sockets); stack-driver's `SocketHost`
 * extends it, so its single-threaded loop, the stack-thread proxy and test hosts offer the
 * same calls. Synchronous everywhere, also across threads.
 */
export interface SocketCalls extends TcpApi, UdpApi, SocketApi {}

/**
 * The names of SocketCalls' methods, for code that must list them (the stack thread's call
 * channel numbers its operations by this order: append, never reorder).
 */
export const SOCKET_CALLS = [
  'tcpOpen',
  'tcpBind',
  'tcpConnect',
  'tcpListen',
  'tcpAccept',
  'tcpSend',
  'tcpSendSpace',
  'tcpRecv',
  'tcpShutdown',
  'tcpClose',
  'tcpAbort',
  'tcpSetNoDelay',
  'tcpSetKeepAlive',
  'tcpInfo',
  'udpOpen',
  'udpBind',
  'udpSend',
  'udpRecv',
  'udpLocal',
  'udpClose',
  'socketError',
] as const satisfies readonly (keyof SocketCalls)[];

/** One of SocketCalls' method names. */
export type SocketCall = (typeof SOCKET_CALLS)[number];

// Every method of SocketCalls is in SOCKET_CALLS: a method added to the API and not listed
// fails to compile here.
const everyCallListed: [Exclude<keyof SocketCalls, SocketCall>] extends [never] ? true : never = true;
void everyCallListed;

/** One network interface of a stack. */
export interface InterfaceConfig {
  name: string;
  /** 6-byte MAC address. */
  mac: Uint8Array;
  /** IP MTU (1500 for Ethernet); frames are MTU + 14 bytes. */
  mtu: number;
  /**
   * Sends one Ethernet frame. The view is only valid during the call (the stack
   * reuses its buffers): copy it (into a frame ring, a socket write) before returning.
   */
  transmit(frame: Uint8Array, gsoSize?: number): void;
  /**
   * TCP checksum offload, as Linux does on `lo` and `veth`: TCP segments sent here
   * leave their checksum 0 and TCP segments received here are not checked. Only for a
   * link whose frames never leave trusted memory and where every station offloads too
   * (an in-process switch between our own stacks), or a link that finishes and checks
   * TCP checksums itself (a tap-io TAP opened with `offload`: the kernel or the addon
   * does); never for VXLAN or anything that may corrupt frames. Default false.
   */
  checksumOffload?: boolean;
  /**
   * Segmentation offload (TSO/GSO): the largest IP packet `transmit` takes as a TCP
   * super-segment, which the link (or the kernel behind it) cuts into segments of the
   * `gsoSize` payload bytes passed with it. TCP then hands down up to this much at once.
   * Needs checksumOffload (the segments' checksums are finished by the link). Default 0: none.
   */
  gsoMaxSize?: number;
  /**
   * Receive coalescing (GRO): consecutive in-order TCP segments of one flow received
   * between two polls are merged before TCP sees them (as Linux's GRO: same flow and
   * flags, contiguous, same options), and TCP acknowledges as if they had come one by
   * one. For links that do not coalesce themselves (VXLAN, WireGuard, an in-memory
   * switch, a TAP without offloads). Held segments go up at the next `poll()`, which
   * `pollAt()` then asks for at once. Default false.
   */
  gro?: boolean;
  /**
   * 'ip': the medium carries bare IP packets (TUN, WireGuard, an IP pipe): no Ethernet
   * header, no ARP or NDP address resolution (everything on the link is the peer), no
   * gratuitous ARP or MLD; the link-local address comes from a random interface id and
   * skips DAD (RFC 4861 on a point-to-point link); router solicitation only with SLAAC.
   * `transmit` gets and `receive` takes IP packets. Default 'ethernet'.
   */
  medium?: 'ethernet' | 'ip';
}

/** IP-layer tunables (defaults in brackets). */
export interface IpConfig {
  /** ARP/NDP: REACHABLE time [30000], retransmit [1000], solicitations before giving up [3]. */
  reachableTime: number;
  retransTime: number;
  maxSolicitations: number;
  /** Packets [32] and bytes per cache [262144] waiting for address resolution. */
  maxPendingPerNeighbor: number;
  maxPendingBytes: number;
  /**
   * Fragment reassembly: timeout ms [30000], memory in total [4 MiB, each fragment counted
   * with a 256-byte overhead], datagrams [256] (64 per source, 256 fragments each); when full
   * the oldest incomplete datagram is evicted (`ipv4.fragEvicted`, `ipv6.fragEvicted`).
   */
  reassemblyTimeout: number;
  reassemblyMaxBytes: number;
  reassemblyMaxDatagrams: number;
  /** ICMP error token bucket: burst [50] and rate per second [1000]. */
  icmpErrorBurst: number;
  icmpErrorsPerSecond: number;
}

export interface StackConfig {
  /** The stack's only source of randomness (ISNs, ephemeral ports, DAD/RS delays). */
  random(buf: Uint8Array): void;
  /**
   * The keyed pseudo-random function behind ISNs (RFC 6528), timestamp and port offsets
   * (RFC 7323 §5.4, RFC 6056 §3.3.3) and SYN cookies: writes the 8-byte MAC of `message`
   * under the 16-byte `key` (which the stack draws from `random`) into `out`. SipHash-2-4,
   * as Linux uses, from a library: stack-driver and the browser package pass the
   * `siphash24` package's. The stack imports no crypto and has no hash of its own.
   */
  keyedPrf: KeyedPrf;
  tcp?: Partial<TcpConfig>;
  ip?: Partial<IpConfig>;
}

/** One address of an interface (`addresses(iface)`). Not Node's `AddressInfo` (a socket's address and port), which socket-bridge defines. */
export interface InterfaceAddress {
  address: IpAddress;
  prefixLength: number;
  /** 'static' | 'slaac' | 'link-local' | 'dhcp'; 'tentative' while DAD runs. */
  origin: string;
  tentative: boolean;
}

/**
 * The whole public shape of `Stack` (stack.ts). Interfaces are numbered from 0 in
 * the order they are added. Address/route text that does not parse throws TypeError;
 * nothing else in this API throws for runtime conditions.
 */
export interface StackApi extends SocketCalls {
  addInterface(config: InterfaceConfig): number;
  /** "192.0.2.1/24" or "2001:db8::1/64". IPv4 additions send a gratuitous ARP. */
  addAddress(iface: number, cidr: string, origin?: string): void;
  removeAddress(iface: number, address: string): void;
  addresses(iface: number): InterfaceAddress[];
  /** destination "0.0.0.0/0" / "::/0" for a default route; gateway optional (on-link when absent). */
  addRoute(route: { destination: string; gateway?: string; iface: number }): void;
  removeRoute(destination: string): void;
  /** Accept router advertisements and form SLAAC addresses (RFC 4862) with DAD. */
  enableSlaac(iface: number): void;
  /**
   * One received frame. `gsoSize` > 0: the frame is a GSO super-frame from a link that
   * coalesces (a TAP with offloads: virtio-net `gso_size`), a TCP segment made of parts of
   * that many payload bytes; TCP then ACKs as if they had come one by one. Anything but an
   * integer in 1..65535 counts as 0.
   */
  receive(iface: number, frame: Uint8Array, now: Instant, gsoSize?: number): void;
  poll(now: Instant): void;
  /** When poll() must next be called; Infinity when idle. */
  pollAt(): Instant;
  setEventHandler(handler: EventHandler): void;
  /** One flat snapshot of every counter ("ipv4.badChecksum", "tcp.retransmits", "arp.queueFull", ...). */
  stats(): Record<string, number>;
  /** ICMP echo (ping): a socket whose datagrams are echo replies. */
  icmpOpen(): Handle;
  icmpSendEcho(h: Handle, dst: IpAddress, sequence: number, payload: Uint8Array): 0 | SocketError;
  icmpRecv(h: Handle): { from: IpAddress; sequence: number; payload: Uint8Array; ttl: number } | undefined;
  icmpClose(h: Handle): void;
}
