/**
 * UDP (RFC 768) sockets, in one place: the socket calls, receive demultiplexing by
 * port (specific address before wildcard, broadcast and per-interface binding), port
 * unreachable errors, and the send queue that goes out on the next poll. Queues are
 * bounded in bytes both ways.
 */
import { ACCEPTED, type Iface, type IpContext, type Rx, type UdpSocket } from '../iface/context.js';
import { output } from '../iface/output.js';
import { selectSource } from '../iface/route.js';
import { EMPTY, concat } from '../iface/util.js';
import { icmpv4Error, icmpv6Error } from '../icmp/errors.js';
import { type Handle, type Instant, SocketError, SocketEvent, type UdpOpenOptions } from '../registration.js';
import { type IpAddress, Ipv4Address } from '../wire/ip-address.js';
import { IPV4_HEADER_LEN } from '../wire/ipv4.js';
import { UDP_HEADER_LEN, UdpPacket, emitUdp } from '../wire/udp.js';

const UDP_DEFAULT_RECV_BYTES = 262_144;
const UDP_SEND_QUEUE_BYTES = 262_144;
const EPHEMERAL_MIN = 49152;
const EPHEMERAL_MAX = 65535;

export function udpOpen(cx: IpContext, options?: UdpOpenOptions): Handle {
  const h = cx.nextHandle++;
  const iface = options?.iface;
  cx.udp.set(h, {
    handle: h,
    local: undefined,
    family: undefined,
    port: 0,
    iface: iface !== undefined && cx.ifaces[iface] ? iface : undefined,
    broadcast: options?.broadcast ?? false,
    multicast: options?.multicast ?? false,
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

export function udpBind(
  cx: IpContext,
  h: Handle,
  address: IpAddress | undefined,
  port: number,
): 0 | SocketError {
  const s = cx.udp.get(h);
  if (s === undefined) return SocketError.EBADF;
  if (s.port !== 0) return SocketError.EINVAL;
  if (!Number.isInteger(port) || port < 0 || port > 65535) return SocketError.EINVAL;
  const local = address === undefined || address.isUnspecified() ? undefined : address;
  if (local !== undefined && !cx.isLocalAddress(local)) return SocketError.EADDRNOTAVAIL;
  if (port === 0) {
    const p = ephemeralPort(cx, (p) => udpPortFree(cx, p, local, s.iface));
    if (p === 0) return SocketError.EADDRINUSE;
    port = p;
  } else if (!udpPortFree(cx, port, local, s.iface)) return SocketError.EADDRINUSE;
  s.local = local;
  s.port = port;
  if (address?.version === 4) s.family = 4;
  const list = cx.udpPorts.get(port);
  if (list) list.push(s);
  else cx.udpPorts.set(port, [s]);
  return 0;
}

export function udpSend(
  cx: IpContext,
  h: Handle,
  data: Uint8Array,
  address: IpAddress,
  port: number,
): number {
  const s = cx.udp.get(h);
  if (s === undefined) return -SocketError.EBADF;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return -SocketError.EINVAL;
  if (s.local !== undefined && s.local.version !== address.version) return -SocketError.EINVAL;
  if (s.family === 4 && address.version !== 4) return -SocketError.EINVAL;
  const max = address.version === 4 ? 65535 - IPV4_HEADER_LEN - UDP_HEADER_LEN : 65535 - UDP_HEADER_LEN;
  if (data.length > max) return -SocketError.EMSGSIZE;
  const bcast = address.version === 4 && cx.isBroadcastV4(address.value, s.iface);
  if (bcast && !s.broadcast) return -SocketError.EACCES;
  if (address.isMulticast() && !s.multicast) return -SocketError.EACCES;
  if (address.isUnspecified()) return -SocketError.EINVAL;
  const noSource = udpSource(cx, s, address) === undefined;
  if (noSource) return -SocketError.EHOSTUNREACH;
  if (s.txBytes + data.length > UDP_SEND_QUEUE_BYTES) return -SocketError.ENOBUFS;
  if (s.port === 0) {
    const err = udpBind(cx, h, s.local, 0);
    if (err !== 0) return -err;
  }
  s.tx.push({ data: data.slice(), address, port });
  s.txBytes += data.length;
  cx.txPending = true;
  return data.length;
}

export function udpRecv(
  cx: IpContext,
  h: Handle,
): { data: Uint8Array; address: IpAddress; port: number } | undefined {
  const s = cx.udp.get(h);
  if (s === undefined) return undefined;
  const d = s.rx.shift();
  if (d) s.rxBytes -= d.data.length;
  return d;
}

export function udpClose(cx: IpContext, h: Handle): void {
  const s = cx.udp.get(h);
  if (s === undefined) return;
  cx.udp.delete(h);
  const list = cx.udpPorts.get(s.port);
  if (list) {
    const rest = list.filter((x) => x !== s);
    if (rest.length) cx.udpPorts.set(s.port, rest);
    else cx.udpPorts.delete(s.port);
  }
}

export function udpInput(
  cx: IpContext,
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
  if (u === 'truncated') return 'udp.truncated';
  if (typeof u === 'string') return 'udp.malformed';
  if (!u.verifyChecksum(src, dst)) return 'udp.badChecksum';
  const port = u.dstPort;
  if (port === 0) return 'udp.malformed';
  const s = findUdp(cx, port, dst, iface, bcast, noAddress);
  if (s === undefined) {
    if (!bcast && !noAddress) {
      const ipHeader = ip.subarray(0, ipHeaderLen);
      if (src.version === 4) icmpv4Error(cx, ipHeader, buf, 3, 3, 0, now);
      else {
        const pkt = concat(ipHeader, buf);
        icmpv6Error(cx, pkt, { kind: 'dstUnreachable', code: 4, data: EMPTY }, now);
      }
    }
    return 'udp.noSocket';
  }
  const payload = u.payload;
  if (s.rxBytes + payload.length > s.rxMax) {
    s.drops++;
    return 'udp.recvQueueFull';
  }
  s.rx.push({ data: cx.copier.copy(payload), address: src, port: u.srcPort });
  s.rxBytes += payload.length;
  cx.udpRxDatagrams++;
  cx.emit(s.handle, SocketEvent.Readable);
  return ACCEPTED;
}

function findUdp(
  cx: IpContext,
  port: number,
  dst: IpAddress,
  iface: Iface | undefined,
  bcast: boolean,
  noAddress: boolean,
): UdpSocket | undefined {
  const list = cx.udpPorts.get(port);
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

/** Sends the datagrams queued since the last poll. */
export function flushUdpSockets(cx: IpContext, now: Instant): void {
  for (const s of cx.udp.values()) {
    if (s.tx.length === 0) continue;
    const q = s.tx;
    s.tx = [];
    s.txBytes = 0;
    for (const d of q) {
      const src = udpSource(cx, s, d.address);
      if (src === undefined) {
        cx.count('udp.txNoRoute');
        s.error = SocketError.EHOSTUNREACH;
        cx.emit(s.handle, SocketEvent.Error);
        continue;
      }
      const len = UDP_HEADER_LEN + d.data.length;
      emitUdp(cx.seg, 0, s.port, d.port, d.data, src, d.address);
      if (output(cx, src, d.address, 17, cx.seg.subarray(0, len), now, s.iface, false, 64)) {
        cx.count('udp.txDatagrams');
      } else cx.count('udp.txDropped');
    }
  }
}

function udpSource(cx: IpContext, s: UdpSocket, dst: IpAddress): IpAddress | undefined {
  if (s.local !== undefined) return s.local;
  const src = selectSource(cx, dst, s.iface);
  if (src !== undefined) return src;
  // A DHCP client: broadcast from 0.0.0.0 on its interface before it has an address.
  if (dst.version === 4 && s.iface !== undefined && dst.isBroadcast()) return Ipv4Address.UNSPECIFIED;
  return undefined;
}

function udpPortFree(
  cx: IpContext,
  port: number,
  local: IpAddress | undefined,
  iface: number | undefined,
): boolean {
  const list = cx.udpPorts.get(port);
  if (list === undefined) return true;
  for (const s of list) {
    if (iface !== undefined && s.iface !== undefined && s.iface !== iface) continue;
    if (s.local === undefined || local === undefined || s.local.equals(local)) return false;
  }
  return true;
}

/** RFC 6056 §3.3.1 (Algorithm 1): a random start in the range, then the next free port. */
function ephemeralPort(cx: IpContext, free: (p: number) => boolean): number {
  const n = EPHEMERAL_MAX - EPHEMERAL_MIN + 1;
  let p = EPHEMERAL_MIN + (cx.random16() % n);
  for (let i = 0; i < n; i++) {
    if (free(p)) return p;
    p = p === EPHEMERAL_MAX ? EPHEMERAL_MIN : p + 1;
  }
  return 0;
}
