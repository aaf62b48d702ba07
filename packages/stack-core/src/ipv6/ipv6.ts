/**
 * IPv6 input (RFC 8200): header checks, our address / multicast group filtering,
 * extension headers (`walkIpv6Extensions`; Parameter Problem for those we refuse),
 * fragment reassembly, and delivery to ICMPv6, UDP or TCP.
 */
import { ACCEPTED, FRAG_DROPS, type Iface, type IpContext, type Rx } from '../iface/context.js';
import { EMPTY, v6Key } from '../iface/util.js';
import { extensionProblem, icmpv6Error } from '../icmp/errors.js';
import { icmpv6Input } from '../icmp/icmpv6.js';
import type { Instant } from '../registration.js';
import { udpInput } from '../socket/udp.js';
import type { Ipv6Address } from '../wire/ip-address.js';
import { IPV6_HEADER_LEN, Ipv6Packet, walkIpv6Extensions } from '../wire/ipv6.js';
import { setU16 } from '../wire/wire-error.js';

export function ipv6Input(cx: IpContext, iface: Iface | undefined, buf: Uint8Array, now: Instant): Rx {
  const p = Ipv6Packet.newChecked(buf);
  if (p === 'truncated') return 'ipv6.truncated';
  if (typeof p === 'string') return 'ipv6.malformed';
  if (buf[8] === 0xff) return 'ipv6.badSource';
  const src = p.src;
  const dst = p.dst;
  let mcast = false;
  if (iface !== undefined) {
    if (dst.isMulticast()) {
      if (!acceptsMulticast6(iface, dst)) return 'ipv6.notForUs';
      mcast = true;
    } else if (!cx.isLocalAddress(dst) || dst.isLoopback()) {
      return 'ipv6.notForUs';
    }
  }
  const problem = { pointer: -1 };
  const w = walkIpv6Extensions(p.payload, p.nextHeader, problem);
  if (typeof w === 'string') {
    if (w === 'truncated') return 'ipv6.truncated';
    if (problem.pointer >= 0) extensionProblem(cx, buf, w, problem.pointer, mcast);
    return 'ipv6.badExtensionHeader';
  }
  if (w.fragment !== undefined && (w.fragment.offset !== 0 || w.fragment.more)) {
    const f = w.fragment;
    const payload = p.payload;
    const hdr = buf.slice(0, IPV6_HEADER_LEN);
    hdr[6] = payload[f.headerOffset]!;
    const source = v6Key(src);
    const key = `${source}${v6Key(dst)}${f.ident}`;
    const r = cx.reasm6.add(key, f.offset, f.more, payload.subarray(w.offset), hdr, now, source);
    switch (r.kind) {
      case 'queued':
        cx.count('ipv6.fragmentsQueued');
        return ACCEPTED;
      case 'complete': {
        cx.count('ipv6.reassembled');
        if (r.payload.length > 65535) return 'ipv6.fragTooBig';
        const pkt = new Uint8Array(IPV6_HEADER_LEN + r.payload.length);
        pkt.set(r.header.subarray(0, IPV6_HEADER_LEN));
        setU16(pkt, 4, r.payload.length);
        pkt.set(r.payload, IPV6_HEADER_LEN);
        cx.rxGso = 0;
        return ipv6Input(cx, iface, pkt, now);
      }
      default:
        return `ipv6.${FRAG_DROPS[r.kind]}`;
    }
  }
  const upper = p.payload.subarray(w.offset);
  switch (w.protocol) {
    case 58:
      return icmpv6Input(cx, iface, src, dst, upper, p.hopLimit, mcast, now);
    case 17:
      return udpInput(cx, iface, src, dst, upper, mcast, false, buf, IPV6_HEADER_LEN + w.offset, now);
    case 6:
      if (mcast) return 'tcp.broadcast';
      if (iface?.gro && w.offset === 0) {
        // A super-frame is coalesced already: what GRO holds of its flow goes up first.
        if (cx.rxGso === 0) {
          cx.gro.input6(buf, src, dst, upper, now, iface.csumOffload);
          return ACCEPTED;
        }
        cx.gro.flush(now);
      }
      cx.tcp.input(src, dst, upper, now, iface?.csumOffload === true, cx.rxGso);
      return ACCEPTED;
    case 59:
      return 'ipv6.noNextHeader';
    default:
      // RFC 8200 §4: Parameter Problem code 1, pointing at the Next Header field that named it.
      if (!mcast) {
        const pointer = w.offset === 0 ? 6 : IPV6_HEADER_LEN + w.lastHeaderOffset;
        icmpv6Error(cx, buf, { kind: 'paramProblem', code: 1, pointer, data: EMPTY }, now);
      }
      return 'ipv6.unknownNextHeader';
  }
}

/** All-nodes, or the solicited-node group of one of our addresses (tentative ones too, for DAD). */
function acceptsMulticast6(iface: Iface, dst: Ipv6Address): boolean {
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
