/**
 * ICMPv6 input (RFC 4443): echo, errors about our own segments (Packet Too Big lowers
 * the path MTU, RFC 8201), and the NDP, SLAAC and MLD messages, which it hands to
 * `ipv6/ndp.ts`, `ipv6/slaac.ts` and `ipv6/mld.ts`.
 */
import { ACCEPTED, type Iface, type IpContext, type Rx } from '../iface/context.js';
import { output } from '../iface/output.js';
import { lowerPmtu, selectSource } from '../iface/route.js';
import { mldQueryInput } from '../ipv6/mld.js';
import { neighborAdvertInput, neighborSolicitInput } from '../ipv6/ndp.js';
import { routerAdvertInput } from '../ipv6/slaac.js';
import { IcmpErrorKind, type Instant } from '../registration.js';
import { echoReplyInput } from '../socket/icmp.js';
import { type Icmpv6Repr, Icmpv6Packet, emitIcmpv6, parseIcmpv6 } from '../wire/icmpv6.js';
import { Ipv6Address } from '../wire/ip-address.js';
import { IPV6_HEADER_LEN, walkIpv6Extensions } from '../wire/ipv6.js';

export function icmpv6Input(
  cx: IpContext,
  iface: Iface | undefined,
  src: Ipv6Address,
  dst: Ipv6Address,
  buf: Uint8Array,
  hopLimit: number,
  mcast: boolean,
  now: Instant,
): Rx {
  const p = Icmpv6Packet.newChecked(buf);
  if (typeof p === 'string') return 'icmpv6.truncated';
  const r = parseIcmpv6(p, src, dst, hopLimit);
  if (typeof r === 'string') {
    if (r === 'badChecksum') return 'icmpv6.badChecksum';
    if (r === 'unsupported') return 'icmpv6.unsupported';
    if (r === 'truncated') return 'icmpv6.truncated';
    return 'icmpv6.malformed';
  }
  switch (r.kind) {
    case 'echoRequest': {
      if (src.isUnspecified()) return 'icmpv6.malformed';
      const from = mcast ? selectSource(cx, src, iface?.index) : dst;
      if (from === undefined) return ACCEPTED;
      const reply: Icmpv6Repr = { kind: 'echoReply', ident: r.ident, seq: r.seq, data: r.data };
      const end = emitIcmpv6(cx.seg, 0, reply, from as Ipv6Address, src);
      cx.count('icmpv6.echoRequests');
      output(cx, from, src, 58, cx.seg.subarray(0, end), now, iface?.index, false, 64);
      return ACCEPTED;
    }
    case 'echoReply':
      return echoReplyInput(cx, src, r.ident, r.seq, r.data, hopLimit);
    case 'dstUnreachable':
    case 'packetTooBig':
    case 'timeExceeded':
    case 'paramProblem':
      return icmpv6ErrorInput(cx, r, now);
    case 'routerSolicit':
      cx.count('ndp.rsIgnored');
      return ACCEPTED;
    case 'mldReport':
      return ACCEPTED;
    case 'mldQuery':
      return mldQueryInput(cx, iface, src, hopLimit, r, now);
    case 'routerAdvert':
      if (iface === undefined) return 'ndp.noInterface';
      if (!src.isLinkLocal()) return 'ndp.badRouterAdvert';
      return routerAdvertInput(cx, iface, src, r, now);
    case 'neighborSolicit':
      if (iface === undefined) return 'ndp.noInterface';
      return neighborSolicitInput(cx, iface, src, dst, r, now);
    case 'neighborAdvert':
      if (iface === undefined) return 'ndp.noInterface';
      return neighborAdvertInput(cx, iface, r, now);
  }
}

function icmpv6ErrorInput(
  cx: IpContext,
  r: Extract<Icmpv6Repr, { kind: 'dstUnreachable' | 'packetTooBig' | 'timeExceeded' | 'paramProblem' }>,
  now: Instant,
): Rx {
  const q = r.data;
  if (q.length < IPV6_HEADER_LEN + 8 || q[0]! >> 4 !== 6) return 'icmpv6.malformed';
  const qsrc = Ipv6Address.fromBytes(q, 8);
  const qdst = Ipv6Address.fromBytes(q, 24);
  if (!cx.isLocalAddress(qsrc)) return 'icmpv6.errorNotOurs';
  let kind: IcmpErrorKind = IcmpErrorKind.Unreachable;
  let mtu = 0;
  if (r.kind === 'packetTooBig') {
    kind = IcmpErrorKind.PacketTooBig;
    // RFC 8201 §4: never below the IPv6 minimum link MTU.
    mtu = Math.max(1280, Math.min(r.mtu, 65535));
  } else if (r.kind === 'timeExceeded') kind = IcmpErrorKind.TimeExceeded;
  cx.count(`icmpv6.rx.${r.kind}`);
  // Walk the quoted extension headers (the quote may end early; only the transport start matters).
  const w = walkIpv6Extensions(q.subarray(IPV6_HEADER_LEN), q[6]!);
  // RFC 5927 §4.3: believe it only when it quotes something we really sent (see icmpv4.ts).
  let ours = false;
  if (typeof w !== 'string' && r.kind !== 'paramProblem') {
    const t = q.subarray(IPV6_HEADER_LEN + w.offset);
    if (w.protocol === 6) ours = cx.tcp.icmpError(kind, qsrc, qdst, t, mtu, now) === true;
    else if (w.protocol === 17 && t.length >= 2) ours = cx.udpPorts.has((t[0]! << 8) | t[1]!);
  }
  if (kind === IcmpErrorKind.PacketTooBig) {
    if (!ours) return 'icmpv6.pmtuUnverified';
    lowerPmtu(cx, qdst, mtu, now);
    cx.count('icmpv6.packetTooBig');
  }
  return ACCEPTED;
}
