/**
 * IPv4 input (RFC 791, RFC 1122 §3.2.1): header checks, our address / broadcast
 * filtering, fragment reassembly (bounded, `reassembly.ts`), and delivery to UDP, TCP
 * or ICMP by protocol number; an unknown protocol is answered with Protocol Unreachable.
 */
import { ACCEPTED, FRAG_DROPS, type Iface, type IpContext, type Rx } from '../iface/context.js';
import { v4Key } from '../iface/util.js';
import { icmpv4Error } from '../icmp/errors.js';
import { icmpv4Input } from '../icmp/icmpv4.js';
import type { Instant } from '../registration.js';
import { udpInput } from '../socket/udp.js';
import { Ipv4Address } from '../wire/ip-address.js';
import { Ipv4Packet } from '../wire/ipv4.js';

export function ipv4Input(cx: IpContext, iface: Iface | undefined, buf: Uint8Array, now: Instant): Rx {
  const p = Ipv4Packet.newChecked(buf);
  if (p === 'truncated') return 'ipv4.truncated';
  if (typeof p === 'string') return 'ipv4.malformed';
  if (!p.verifyChecksum()) return 'ipv4.badChecksum';
  const srcV = p.srcValue;
  const dstV = p.dstValue;
  if (srcV === 0xffffffff || srcV >>> 28 === 0xe) return 'ipv4.badSource';
  const ours = cx.localV4.get(v4Key(dstV));
  const proto = p.protocol;
  let bcast = false;
  let noAddress = false;
  if (iface === undefined) {
    // Looped back: only our own packets travel here.
  } else if (dstV === 0xffffffff || dstV === 0xe0000001) {
    bcast = true;
  } else if (dstV >>> 28 === 0xe) {
    return 'ipv4.notForUs';
  } else if (ours === undefined) {
    if (cx.isBroadcastV4(dstV, iface.index)) bcast = true;
    else if (iface.v4.length === 0 && proto === 17)
      noAddress = true; // e.g. a DHCP offer to the offered address
    else return 'ipv4.notForUs';
  }
  // Address objects are immutable: share ours and the last peer's rather than allocate two per packet.
  const dst = ours ?? new Ipv4Address(dstV);
  if (cx.lastSrcV4.value !== srcV) cx.lastSrcV4 = new Ipv4Address(srcV);
  const src = cx.lastSrcV4;
  const hl = p.headerLen;
  const payload = buf.subarray(hl, p.totalLen);
  const fragOffset = p.fragOffset;
  if (fragOffset !== 0 || p.moreFragments) {
    const key = `${srcV}/${dstV}/${proto}/${p.ident}`;
    const r = cx.reasm4.add(key, fragOffset, p.moreFragments, payload, buf.subarray(0, hl), now, `${srcV}`);
    switch (r.kind) {
      case 'queued':
        cx.count('ipv4.fragmentsQueued');
        return ACCEPTED;
      case 'complete': {
        cx.count('ipv4.reassembled');
        const h = r.header;
        return ipv4Deliver(cx, iface, h, h.length, r.payload, src, dst, proto, h[8]!, bcast, noAddress, now);
      }
      default:
        return `ipv4.${FRAG_DROPS[r.kind]}`;
    }
  }
  const gso = cx.rxGso;
  if (proto === 6 && iface !== undefined && iface.gro && hl === 20 && !bcast && !noAddress) {
    // A super-frame is coalesced already: what GRO holds of its flow goes up first.
    if (gso === 0) {
      cx.gro.input4(buf, src, dst, payload, now, iface.csumOffload);
      return ACCEPTED;
    }
    cx.gro.flush(now);
  }
  return ipv4Deliver(cx, iface, buf, hl, payload, src, dst, proto, p.ttl, bcast, noAddress, now, gso);
}

function ipv4Deliver(
  cx: IpContext,
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
  /** A GSO super-frame's part size (Stack.receive), or 0. */
  segSize = 0,
): Rx {
  switch (proto) {
    case 17:
      return udpInput(cx, iface, src, dst, payload, bcast, noAddress, ip, hl, now);
    case 6:
      if (bcast || noAddress) return 'tcp.broadcast';
      cx.tcp.input(src, dst, payload, now, iface?.csumOffload === true, segSize);
      return ACCEPTED;
    case 1:
      if (noAddress) return 'ipv4.notForUs';
      return icmpv4Input(cx, src, dst, payload, ttl, bcast, now);
    default:
      if (!bcast && !noAddress) icmpv4Error(cx, ip.subarray(0, hl), payload, 3, 2, 0, now);
      return 'ipv4.unknownProtocol';
  }
}
