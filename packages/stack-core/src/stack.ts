/**
 * `Stack`: the public face of the IP layer and everything below and beside TCP, and
 * the `IpHost` that the TCP layer runs on. The caller drives it: `receive()` for each
 * frame, `poll(now)` when `pollAt()` says so. It never reads a clock.
 *
 * The work is done by modules over one shared context (`iface/context.ts`):
 * - `iface/`: interfaces and their configuration, the medium (Ethernet with ARP, or
 *   IP-only), routing and source selection, IP output with fragmentation, loopback;
 * - `ipv4/`, `ipv6/` (with NDP, SLAAC and MLD): input and reassembly;
 * - `icmp/`: ICMPv4/v6 input and the errors we send;
 * - `socket/`: UDP and ICMP echo sockets.
 * This class wires them together: it gives the context its upward handlers, runs
 * the timers in `poll`, and delegates each API call.
 */
import {
  addAddress,
  addInterface,
  addresses,
  confirmReachable,
  neighbors,
  removeAddress,
} from './iface/interface.js';
import { sendPendingGarp, pollArp } from './iface/arp.js';
import { IpContext, type Rx } from './iface/context.js';
import { ethernetInput, ipMediumInput } from './iface/ethernet.js';
import { drainLoopback } from './iface/loopback.js';
import { output, reserve, sendReserved } from './iface/output.js';
import {
  expireRoutes,
  lookupRoute,
  maxTransportPayload,
  removeRoute,
  selectSource,
  upsertRoute,
} from './iface/route.js';
import { reassemblyExpired } from './icmp/errors.js';
import { ipv4Input } from './ipv4/ipv4.js';
import { ipv6Input } from './ipv6/ipv6.js';
import { pollMld } from './ipv6/mld.js';
import { pollAddresses, pollNeighbors } from './ipv6/ndp.js';
import { pollRouterSolicit } from './ipv6/slaac.js';
import { type NeighborConfig, defaultNeighborConfig } from './neighbor.js';
import { Reassembler } from './reassembly.js';
import type {
  InterfaceAddress,
  EventHandler,
  Handle,
  InterfaceConfig,
  Instant,
  IpConfig,
  IpHost,
  SocketError,
  StackApi,
  StackConfig,
  TcpInfo,
  TcpSocketOptions,
  UdpOpenOptions,
} from './registration.js';
import { flushIcmpSockets, icmpOpen, icmpSendEcho } from './socket/icmp.js';
import { flushUdpSockets, udpBind, udpClose, udpOpen, udpRecv, udpSend } from './socket/udp.js';
import { TcpLayer } from './tcp/index.js';
import { TcpGro } from './gro.js';
import { type IpAddress, parseCidr, parseIpAddress } from './wire/ip-address.js';

export { DROP_COUNTERS, type DropCounter } from './iface/context.js';

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

export class Stack implements StackApi {
  /** The shared state of the IP layer's modules. */
  private readonly cx: IpContext;
  /** The last exception caught by the last-resort handler (a bug; see `stack.internalError`). */
  lastInternalError: unknown;
  /** The IpHost the transport layer runs on. */
  readonly host: IpHost;

  constructor(config: StackConfig) {
    if (typeof config.keyedPrf !== 'function')
      throw new TypeError(
        'StackConfig.keyedPrf: a keyed PRF is required (SipHash-2-4 from a library, e.g. the siphash24 package)',
      );
    const ip = { ...defaultIpConfig, ...config.ip };
    const neighborConfig: NeighborConfig = {
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
    const cx = new IpContext(
      config,
      ip,
      neighborConfig,
      new Reassembler(reassembly),
      new Reassembler(reassembly),
      ipv4Input,
      ipv6Input,
    );
    this.cx = cx;
    cx.ipIdent = cx.random16();
    this.host = {
      selectSource: (dst) => selectSource(cx, dst),
      isLocalAddress: (a) => cx.isLocalAddress(a),
      isBroadcast: (a) => a.version === 4 && cx.isBroadcastV4(a.value, undefined),
      maxTransportPayload: (dst) => maxTransportPayload(cx, dst),
      sendIp: (src, dst, protocol, payload, now, gsoSize) =>
        output(cx, src, dst, protocol, payload, now, undefined, protocol === 6, 64, gsoSize),
      reserve: (src, dst, protocol, length, now, gsoSize) =>
        reserve(cx, src, dst, protocol, length, now, gsoSize),
      sendReserved: (now) => sendReserved(cx, now),
      checksumOffload: (dst) => lookupRoute(cx, dst)?.iface?.csumOffload === true,
      gsoMaxSize: (dst) => lookupRoute(cx, dst)?.iface?.gsoMax ?? 0,
      confirmReachable: (dst, now) => confirmReachable(cx, dst, now),
      random: (buf) => config.random(buf),
      keyedPrf: config.keyedPrf,
      allocHandle: () => cx.nextHandle++,
      emit: (h, ev) => cx.emit(h, ev),
      count: (name, n = 1) => cx.count(name, n),
    };
    cx.tcp = new TcpLayer(this.host, config.tcp);
    const tcp = cx.tcp;
    cx.gro = new TcpGro((src, dst, seg, now, trusted, segSize) =>
      tcp.input(src, dst, seg, now, trusted, segSize),
    );
  }

  // ---------------------------------------------------------------------------------
  // Configuration (iface/interface.ts, iface/route.ts)

  addInterface(config: InterfaceConfig): number {
    return addInterface(this.cx, config);
  }

  addAddress(index: number, cidr: string, origin = 'static'): void {
    addAddress(this.cx, index, cidr, origin);
  }

  removeAddress(index: number, address: string): void {
    removeAddress(this.cx, index, address);
  }

  addresses(index: number): InterfaceAddress[] {
    return addresses(this.cx, index);
  }

  addRoute(route: { destination: string; gateway?: string; iface: number }): void {
    this.cx.iface(route.iface);
    const { address, prefixLength } = parseCidr(route.destination);
    const gateway = route.gateway === undefined ? undefined : parseIpAddress(route.gateway);
    if (gateway && gateway.version !== address.version)
      throw new TypeError('gateway family differs from destination');
    upsertRoute(this.cx, {
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
    removeRoute(this.cx, address, prefixLength);
  }

  enableSlaac(index: number): void {
    const iface = this.cx.iface(index);
    iface.slaac = true;
    iface.rsSent = 0;
    iface.rsAt = this.cx.lastNow;
  }

  setEventHandler(handler: EventHandler): void {
    this.cx.handler = handler;
  }

  stats(): Record<string, number> {
    const cx = this.cx;
    const c = cx.counters;
    const hot: Record<string, number> = {
      'eth.rxFrames': cx.rxFrames,
      'eth.rxGsoFrames': cx.rxGsoFrames,
      'stack.rxAccepted': cx.rxAccepted,
      'stack.rxDropped': cx.rxDropped,
      'udp.rxDatagrams': cx.udpRxDatagrams,
      'eth.txFrames': cx.txFrames,
    };
    const out: Record<string, number> = {};
    for (const k of [...Object.keys(c), ...Object.keys(hot)].sort()) {
      const v = (c[k] ?? 0) + (hot[k] ?? 0);
      if (v !== 0 || k in c) out[k] = v;
    }
    let arp = 0;
    let ndp = 0;
    for (const i of cx.ifaces) {
      arp += i.arp.entries.size;
      ndp += i.ndp.entries.size;
    }
    out['arp.entries'] = arp;
    out['ndp.entries'] = ndp;
    out['ipv4.reassemblyPending'] = cx.reasm4.pending;
    out['ipv6.reassemblyPending'] = cx.reasm6.pending;
    out['ipv4.fragEvicted'] = cx.reasm4.evicted;
    out['ipv6.fragEvicted'] = cx.reasm6.evicted;
    out['udp.sockets'] = cx.udp.size;
    // Gauges for leak checks: connections in the demux table (TIME-WAIT included) and handles held.
    out['tcp.connections'] = cx.tcp.connectionCount();
    out['tcp.handles'] = cx.tcp.handleCount();
    out['tcp.timeWait'] = cx.tcp.timeWaitCount();
    out['tcp.groMerged'] = cx.gro.merged;
    out['tcp.groCoalesced'] = cx.gro.coalesced;
    return out;
  }

  /** The neighbour cache entries of an interface (for diagnostics and tests). */
  neighbors(index: number): { address: IpAddress; state: string; mac: Uint8Array | undefined }[] {
    return neighbors(this.cx, index);
  }

  // ---------------------------------------------------------------------------------
  // Driving

  receive(index: number, frame: Uint8Array, now: Instant, gsoSize = 0): void {
    const cx = this.cx;
    cx.lastNow = now;
    cx.rxFrames++;
    if (gsoSize > 0 && gsoSize < 65536 && (gsoSize | 0) === gsoSize) {
      cx.rxGso = gsoSize;
      cx.rxGsoFrames++;
    }
    let o: Rx | undefined;
    try {
      const iface = cx.ifaces[index];
      if (iface === undefined) o = 'stack.badInterface';
      else if (iface.ip) o = ipMediumInput(cx, iface, frame, now);
      else o = ethernetInput(cx, iface, frame, now);
    } catch (e) {
      this.internalError(e);
    }
    cx.rxFrame = undefined;
    cx.rxLinkMulticast = false;
    cx.rxGso = 0;
    cx.finishRx(o);
  }

  poll(now: Instant): void {
    const cx = this.cx;
    cx.lastNow = now;
    try {
      // Coalesced segments go up first: the ACKs of this poll cover them.
      if (cx.gro.holding) cx.gro.flush(now);
      drainLoopback(cx, now);
      if (cx.txPending) {
        cx.txPending = false;
        for (const iface of cx.ifaces) sendPendingGarp(cx, iface);
        flushUdpSockets(cx, now);
        flushIcmpSockets(cx, now);
      }
      for (const iface of cx.ifaces) {
        pollArp(cx, iface, now);
        pollNeighbors(cx, iface, now);
        pollAddresses(cx, iface, now);
        pollRouterSolicit(cx, iface, now);
        pollMld(cx, iface, now);
      }
      expireRoutes(cx, now);
      // Timers are rarely due: only then build the callbacks (poll runs every few frames).
      if (cx.reasm4.pollAt() <= now)
        cx.reasm4.poll(now, (_k, hdr, first) => reassemblyExpired(cx, 4, hdr, first, now));
      if (cx.reasm6.pollAt() <= now)
        cx.reasm6.poll(now, (_k, hdr, first) => reassemblyExpired(cx, 6, hdr, first, now));
      cx.tcp.poll(now);
    } catch (e) {
      this.internalError(e);
    }
  }

  pollAt(): Instant {
    const cx = this.cx;
    if (cx.txPending || cx.loopQueue.length > 0 || cx.gro.holding) return cx.lastNow;
    let t = Math.min(cx.reasm4.pollAt(), cx.reasm6.pollAt());
    for (const iface of cx.ifaces) {
      if (iface.pendingGarp.length > 0) return cx.lastNow;
      t = Math.min(t, iface.arp.pollAt(), iface.ndp.pollAt(), iface.rsAt, iface.mldAt);
      for (const a of iface.v6) {
        if (a.tentative && a.dadAt < t) t = a.dadAt;
        if (a.validUntil < t) t = a.validUntil;
      }
    }
    for (const r of cx.routes) if (r.expires < t) t = r.expires;
    t = Math.min(t, cx.tcp.pollAt());
    return t;
  }

  // ---------------------------------------------------------------------------------
  // IpHost

  /** The source address for reaching `dst` (RFC 6724 in brief: same scope, longest matching prefix). */
  selectSource(dst: IpAddress, ifaceHint?: number): IpAddress | undefined {
    return selectSource(this.cx, dst, ifaceHint);
  }

  isLocalAddress(addr: IpAddress): boolean {
    return this.cx.isLocalAddress(addr);
  }

  maxTransportPayload(dst: IpAddress): number {
    return maxTransportPayload(this.cx, dst);
  }

  /** IpHost.sendIp: DF set for TCP (RFC 1191 path MTU discovery); other protocols may fragment. */
  sendIp(src: IpAddress, dst: IpAddress, protocol: number, payload: Uint8Array, now: Instant): boolean {
    return output(this.cx, src, dst, protocol, payload, now, undefined, protocol === 6, 64);
  }

  // ---------------------------------------------------------------------------------
  // UDP sockets (socket/udp.ts)

  udpOpen(options?: UdpOpenOptions): Handle {
    return udpOpen(this.cx, options);
  }

  udpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError {
    return udpBind(this.cx, h, address, port);
  }

  udpSend(h: Handle, data: Uint8Array, address: IpAddress, port: number): number {
    return udpSend(this.cx, h, data, address, port);
  }

  udpRecv(h: Handle): { data: Uint8Array; address: IpAddress; port: number } | undefined {
    return udpRecv(this.cx, h);
  }

  udpLocal(h: Handle): { address: IpAddress | undefined; port: number } | undefined {
    const s = this.cx.udp.get(h);
    return s ? { address: s.local, port: s.port } : undefined;
  }

  udpClose(h: Handle): void {
    udpClose(this.cx, h);
  }

  /** Datagrams dropped because this socket's receive queue was full. */
  udpDrops(h: Handle): number {
    return this.cx.udp.get(h)?.drops ?? 0;
  }

  socketError(h: Handle): 0 | SocketError {
    const cx = this.cx;
    const u = cx.udp.get(h) ?? cx.icmp.get(h);
    if (u) {
      const e = u.error;
      u.error = 0;
      return e;
    }
    return cx.tcp.socketError(h);
  }

  // ---------------------------------------------------------------------------------
  // ICMP echo sockets (socket/icmp.ts)

  icmpOpen(): Handle {
    return icmpOpen(this.cx);
  }

  icmpSendEcho(h: Handle, dst: IpAddress, sequence: number, payload: Uint8Array): 0 | SocketError {
    return icmpSendEcho(this.cx, h, dst, sequence, payload);
  }

  icmpRecv(h: Handle): { from: IpAddress; sequence: number; payload: Uint8Array; ttl: number } | undefined {
    return this.cx.icmp.get(h)?.rx.shift();
  }

  icmpClose(h: Handle): void {
    this.cx.icmp.delete(h);
  }

  // ---------------------------------------------------------------------------------
  // TCP (delegated to tcp/)

  tcpOpen(options?: TcpSocketOptions): Handle {
    return this.cx.tcp.tcpOpen(options);
  }
  tcpBind(h: Handle, address: IpAddress | undefined, port: number): 0 | SocketError {
    return this.cx.tcp.tcpBind(h, address, port);
  }
  tcpConnect(h: Handle, address: IpAddress, port: number, now: Instant): 0 | SocketError {
    const cx = this.cx;
    if (now > cx.lastNow) cx.lastNow = now;
    return cx.tcp.tcpConnect(h, address, port, now);
  }
  tcpListen(h: Handle, backlog: number): 0 | SocketError {
    return this.cx.tcp.tcpListen(h, backlog);
  }
  tcpAccept(h: Handle): Handle | undefined {
    return this.cx.tcp.tcpAccept(h);
  }
  tcpSend(h: Handle, data: Uint8Array): number | SocketError {
    return this.cx.tcp.tcpSend(h, data);
  }
  tcpSendSpace(h: Handle): number {
    return this.cx.tcp.tcpSendSpace(h);
  }
  tcpRecv(h: Handle, into: Uint8Array): number {
    return this.cx.tcp.tcpRecv(h, into);
  }
  tcpShutdown(h: Handle): 0 | SocketError {
    return this.cx.tcp.tcpShutdown(h);
  }
  tcpClose(h: Handle): void {
    this.cx.tcp.tcpClose(h);
  }
  tcpAbort(h: Handle): void {
    this.cx.tcp.tcpAbort(h);
  }
  tcpSetNoDelay(h: Handle, on: boolean): void {
    this.cx.tcp.tcpSetNoDelay(h, on);
  }
  tcpSetKeepAlive(h: Handle, idleMs: number): void {
    this.cx.tcp.tcpSetKeepAlive(h, idleMs);
  }
  tcpInfo(h: Handle): TcpInfo | undefined {
    return this.cx.tcp.tcpInfo(h);
  }

  /** A bug: counted, kept for `lastInternalError`, never thrown out of receive()/poll(). */
  private internalError(e: unknown): void {
    this.cx.count('stack.internalError');
    this.lastInternalError = e;
  }
}
