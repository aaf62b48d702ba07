/**
 * ICMP errors we send (RFC 1122 §3.2.2, RFC 4443 §2.4): Destination Unreachable,
 * Time Exceeded (reassembly timeout) and Parameter Problem, never about errors,
 * broadcasts or odd sources, and limited by a token bucket (Linux's icmp_msgs_burst /
 * icmp_msgs_per_sec).
 */
import type { IpContext } from '../iface/context.js';
import { output } from '../iface/output.js';
import { selectSource } from '../iface/route.js';
import { EMPTY, concat, ipv4Dst, ipv4Src } from '../iface/util.js';
import type { Instant } from '../registration.js';
import { type Icmpv4Repr, emitIcmpv4, icmpv4BufferLen } from '../wire/icmpv4.js';
import { type Icmpv6Repr, emitIcmpv6 } from '../wire/icmpv6.js';
import { Ipv4Address, Ipv6Address } from '../wire/ip-address.js';
import { IPV6_HEADER_LEN } from '../wire/ipv6.js';
import { getU16, setU16 } from '../wire/wire-error.js';

function icmpAllowed(cx: IpContext, now: Instant): boolean {
  const elapsed = now - cx.icmpRefilled;
  if (elapsed > 0) {
    cx.icmpTokens = Math.min(
      cx.ip.icmpErrorBurst,
      cx.icmpTokens + (elapsed * cx.ip.icmpErrorsPerSecond) / 1000,
    );
    cx.icmpRefilled = now;
  }
  if (cx.icmpTokens < 1) {
    cx.count('icmp.rateLimited');
    return false;
  }
  cx.icmpTokens -= 1;
  return true;
}

/** RFC 1122 §3.2.2: never about ICMP errors, broadcasts, non-first fragments or odd sources. */
export function icmpv4Error(
  cx: IpContext,
  header: Uint8Array,
  payload: Uint8Array,
  type: number,
  code: number,
  mtu: number,
  now: Instant,
): void {
  const src = ipv4Src(header);
  const dst = ipv4Dst(header);
  if (cx.rxLinkMulticast) return;
  if (src === 0 || src === 0xffffffff || src >>> 28 >= 0xe || (src >>> 24 === 127 && !cx.isLocalV4(dst)))
    return;
  if (dst === 0xffffffff || dst >>> 28 === 0xe || cx.isBroadcastV4(dst, undefined)) return;
  if ((getU16(header, 6) & 0x1fff) !== 0) return;
  if (header[9] === 1 && payload.length > 0 && !isIcmpv4Query(payload[0]!)) return;
  if (!icmpAllowed(cx, now)) return;
  // RFC 1812 §4.3.2.3: quote as much as fits in 576 bytes.
  const quoteLen = Math.min(payload.length, 576 - 20 - 8 - header.length);
  const data = concat(header, payload.subarray(0, quoteLen));
  const r: Icmpv4Repr =
    type === 11 ? { kind: 'timeExceeded', code, data } : { kind: 'dstUnreachable', code, mtu, data };
  const from = cx.isLocalV4(dst) ? new Ipv4Address(dst) : selectSource(cx, new Ipv4Address(src));
  if (from === undefined) return;
  const len = icmpv4BufferLen(r);
  emitIcmpv4(cx.seg, 0, r);
  cx.count('icmpv4.errorsSent');
  output(cx, from, new Ipv4Address(src), 1, cx.seg.subarray(0, len), now, undefined, false, 64);
}

/** RFC 4443 §2.4: not about errors, multicast destinations or unspecified/multicast sources. */
export function icmpv6Error(
  cx: IpContext,
  packet: Uint8Array,
  r: Icmpv6Repr & { data: Uint8Array },
  now: Instant,
): void {
  if (packet.length < IPV6_HEADER_LEN || cx.rxLinkMulticast) return;
  const src = Ipv6Address.fromBytes(packet, 8);
  const dst = Ipv6Address.fromBytes(packet, 24);
  if (src.isUnspecified() || src.isMulticast() || dst.isMulticast()) return;
  if (packet[6] === 58 && packet.length > IPV6_HEADER_LEN && packet[IPV6_HEADER_LEN]! < 128) return;
  if (!icmpAllowed(cx, now)) return;
  const from = cx.isLocalAddress(dst) ? dst : selectSource(cx, src);
  if (from === undefined || from.version !== 6) return;
  const data = packet.subarray(0, Math.min(packet.length, 1280 - IPV6_HEADER_LEN - 8));
  const msg = { ...r, data } as Icmpv6Repr;
  const end = emitIcmpv6(cx.seg, 0, msg, from, src);
  cx.count('icmpv6.errorsSent');
  output(cx, from, src, 58, cx.seg.subarray(0, end), now, undefined, false, 64);
}

/**
 * RFC 8200 §4.2–4.5: Parameter Problem for an extension header we refuse — code 2 for
 * an unrecognised option, 1 for a misplaced hop-by-hop header, 0 for a routing header
 * we would have to forward. Sent for unicast destinations only (§4.2 would also allow
 * answering multicast for option types 10xxxxxx; we do not).
 */
export function extensionProblem(
  cx: IpContext,
  packet: Uint8Array,
  why: string,
  pointer: number,
  mcast: boolean,
): void {
  if (mcast) return;
  const code = why === 'unknownOption' ? 2 : why === 'hopByHopNotFirst' ? 1 : 0;
  icmpv6Error(
    cx,
    packet.subarray(0, IPV6_HEADER_LEN + ((packet[4]! << 8) | packet[5]!)),
    { kind: 'paramProblem', code, pointer: IPV6_HEADER_LEN + pointer, data: EMPTY },
    cx.lastNow,
  );
}

/** A datagram's reassembly timed out. */
export function reassemblyExpired(
  cx: IpContext,
  v: 4 | 6,
  header: Uint8Array | undefined,
  first: Uint8Array | undefined,
  now: Instant,
): void {
  cx.count(v === 4 ? 'ipv4.reassemblyTimeout' : 'ipv6.reassemblyTimeout');
  // RFC 792 / RFC 4443 §3.3: Time Exceeded code 1, only when the first fragment arrived.
  if (header === undefined || first === undefined) return;
  if (v === 4) {
    const h = header.slice();
    setU16(h, 6, getU16(h, 6) & 0x4000); // quote it as the first fragment (offset 0)
    icmpv4Error(cx, h, first, 11, 1, 0, now);
  } else {
    icmpv6Error(
      cx,
      concat(header.subarray(0, IPV6_HEADER_LEN), first),
      { kind: 'timeExceeded', code: 1, data: EMPTY },
      now,
    );
  }
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
