/**
 * ICMPv4 input (RFC 792): echo requests are answered at once, echo replies go to ping
 * sockets, and Destination Unreachable / Time Exceeded about our own segments reach
 * TCP (Fragmentation Needed also lowers the path MTU, RFC 1191).
 */
import { ACCEPTED, type IpContext, type Rx } from '../iface/context.js';
import { output } from '../iface/output.js';
import { lowerPmtu } from '../iface/route.js';
import { ipv4Dst, ipv4Src } from '../iface/util.js';
import { IcmpErrorKind, type Instant } from '../registration.js';
import { echoReplyInput } from '../socket/icmp.js';
import { type Icmpv4Repr, Icmpv4Packet, emitIcmpv4, icmpv4BufferLen, parseIcmpv4 } from '../wire/icmpv4.js';
import { Ipv4Address } from '../wire/ip-address.js';

export function icmpv4Input(
  cx: IpContext,
  src: Ipv4Address,
  dst: Ipv4Address,
  buf: Uint8Array,
  ttl: number,
  bcast: boolean,
  now: Instant,
): Rx {
  const p = Icmpv4Packet.newChecked(buf);
  if (typeof p === 'string') return 'icmpv4.truncated';
  const r = parseIcmpv4(p);
  if (typeof r === 'string') {
    if (r === 'badChecksum') return 'icmpv4.badChecksum';
    if (r === 'unsupported') return 'icmpv4.unsupported';
    return 'icmpv4.malformed';
  }
  switch (r.kind) {
    case 'echoRequest': {
      // Linux ignores broadcast pings by default (icmp_echo_ignore_broadcasts); so do we.
      if (bcast) return 'icmpv4.broadcastEcho';
      if (src.isUnspecified()) return 'icmpv4.malformed';
      const reply: Icmpv4Repr = { kind: 'echoReply', ident: r.ident, seq: r.seq, data: r.data };
      const len = icmpv4BufferLen(reply);
      emitIcmpv4(cx.seg, 0, reply);
      cx.count('icmpv4.echoRequests');
      output(cx, dst, src, 1, cx.seg.subarray(0, len), now, undefined, false, 64);
      return ACCEPTED;
    }
    case 'echoReply':
      return echoReplyInput(cx, src, r.ident, r.seq, r.data, ttl);
    case 'dstUnreachable':
    case 'timeExceeded': {
      const q = r.data;
      if (q.length < 28 || q[0]! >> 4 !== 4) return 'icmpv4.malformed';
      const hl = (q[0]! & 0xf) * 4;
      if (hl < 20 || q.length < hl + 8) return 'icmpv4.malformed';
      const qsrc = new Ipv4Address(ipv4Src(q));
      const qdst = new Ipv4Address(ipv4Dst(q));
      if (!cx.isLocalAddress(qsrc)) return 'icmpv4.errorNotOurs';
      let kind: IcmpErrorKind = IcmpErrorKind.Unreachable;
      let mtu = 0;
      if (r.kind === 'timeExceeded') kind = IcmpErrorKind.TimeExceeded;
      else if (r.code === 4) {
        kind = IcmpErrorKind.PacketTooBig;
        // RFC 1191 §5: no MTU (old routers) → the next lower plateau; we use 576. Never below 552 (Linux min_pmtu).
        mtu = Math.max(552, r.mtu === 0 ? 576 : r.mtu);
      }
      cx.count(r.kind === 'timeExceeded' ? 'icmpv4.rxTimeExceeded' : 'icmpv4.rxUnreachable');
      // RFC 5927 §4.3: believe it only when it quotes something we really sent: a TCP
      // segment of a live connection with its sequence number in flight, or a datagram
      // from a bound UDP port.
      let ours = false;
      if (q[9] === 6) ours = cx.tcp.icmpError(kind, qsrc, qdst, q.subarray(hl), mtu, now) === true;
      else if (q[9] === 17) ours = cx.udpPorts.has((q[hl]! << 8) | q[hl + 1]!);
      if (kind === IcmpErrorKind.PacketTooBig) {
        if (!ours) return 'icmpv4.pmtuUnverified';
        lowerPmtu(cx, qdst, mtu, now);
        cx.count('icmpv4.fragNeeded');
      }
      return ACCEPTED;
    }
  }
}
