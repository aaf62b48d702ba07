/**
 * IP output: route a transport payload, build the IPv4/IPv6 header in the interface's
 * transmit scratch, fragment to the link MTU (IPv4 unless DF; IPv6 at the source with a
 * Fragment header, RFC 8200 §4.5) and hand it to the medium. Local destinations go
 * through the loopback queue.
 */
import type { Instant, IpTxSlot } from '../registration.js';
import { ETHERNET_HEADER_LEN } from '../wire/ethernet.js';
import type { IpAddress, Ipv4Address, Ipv6Address } from '../wire/ip-address.js';
import { IPV4_HEADER_LEN, emitIpv4Header } from '../wire/ipv4.js';
import {
  IPV6_FRAGMENT_HEADER_LEN,
  IPV6_HEADER_LEN,
  emitIpv6FragmentHeader,
  emitIpv6Header,
} from '../wire/ipv6.js';
import type { Iface, IpContext } from './context.js';
import { linkOutput4, linkOutput6 } from './ethernet.js';
import { loopbackOutput } from './loopback.js';
import { lookupRoute } from './route.js';
import { addrKey } from './util.js';

const H = ETHERNET_HEADER_LEN;

/**
 * Sends one IP packet from `src` to `dst`. Local destinations go through the loopback
 * queue (delivered on the next poll); the rest are routed, fragmented to the link MTU
 * (unless `df`), and handed to the link once the next hop's MAC is known.
 */
export function output(
  cx: IpContext,
  src: IpAddress,
  dst: IpAddress,
  protocol: number,
  payload: Uint8Array,
  now: Instant,
  ifaceHint: number | undefined,
  df: boolean,
  ttl: number,
  gsoSize = 0,
): boolean {
  if (src.version !== dst.version) {
    cx.count('ip.familyMismatch');
    return false;
  }
  const route = lookupRoute(cx, dst, ifaceHint);
  if (route === undefined) {
    cx.count('ip.noRoute');
    return false;
  }
  const iface = route.iface;
  // No interface: the destination is a loopback address or one of ours.
  if (iface === undefined) return loopbackOutput(cx, src, dst, protocol, payload);
  // A TCP super-segment (IpHost.gsoMaxSize): one packet over the MTU that the link cuts
  // into gsoSize-payload segments, each within the MTU.
  if (gsoSize > 0 && iface.gsoMax > 0 && protocol === 6) {
    const hdr = dst.version === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    if (hdr + payload.length <= iface.gsoMax) {
      iface.txGso = gsoSize;
      try {
        if (dst.version === 4) {
          emitIpv4Header(
            iface.tx,
            H,
            (src as Ipv4Address).value,
            dst.value,
            protocol,
            payload.length,
            ttl,
            cx.ipIdent,
            0x4000,
          );
          cx.ipIdent = (cx.ipIdent + 1) & 0xffff;
          iface.tx.set(payload, H + hdr);
          return linkOutput4(cx, iface, route.nextHop as Ipv4Address, H + hdr + payload.length, now);
        }
        emitIpv6Header(iface.tx, H, src as Ipv6Address, dst as Ipv6Address, protocol, payload.length, ttl);
        iface.tx.set(payload, H + hdr);
        return linkOutput6(cx, iface, route.nextHop as Ipv6Address, H + hdr + payload.length, now);
      } finally {
        iface.txGso = 0;
      }
    }
  }
  if (dst.version === 4) {
    const nh = route.nextHop as Ipv4Address;
    const mtu = iface.mtu;
    const tx = iface.tx;
    const len = payload.length;
    const ident = cx.ipIdent;
    cx.ipIdent = (cx.ipIdent + 1) & 0xffff;
    if (IPV4_HEADER_LEN + len <= mtu) {
      emitIpv4Header(
        tx,
        H,
        (src as Ipv4Address).value,
        dst.value,
        protocol,
        len,
        ttl,
        ident,
        df ? 0x4000 : 0,
      );
      tx.set(payload, H + IPV4_HEADER_LEN);
      return linkOutput4(cx, iface, nh, H + IPV4_HEADER_LEN + len, now);
    }
    if (df) {
      cx.count('ipv4.txTooBigDf');
      return false;
    }
    const chunk = (mtu - IPV4_HEADER_LEN) & ~7;
    let ok = true;
    for (let off = 0; off < len; off += chunk) {
      const n = Math.min(chunk, len - off);
      const more = off + n < len;
      emitIpv4Header(
        tx,
        H,
        (src as Ipv4Address).value,
        dst.value,
        protocol,
        n,
        ttl,
        ident,
        (more ? 0x2000 : 0) | (off >>> 3),
      );
      tx.set(payload.subarray(off, off + n), H + IPV4_HEADER_LEN);
      cx.count('ipv4.txFragments');
      ok = linkOutput4(cx, iface, nh, H + IPV4_HEADER_LEN + n, now) && ok;
    }
    return ok;
  }
  const s6 = src as Ipv6Address;
  const d6 = dst as Ipv6Address;
  const nh = route.nextHop as Ipv6Address;
  let mtu = iface.mtu6;
  const p = cx.pmtu.get(addrKey(d6));
  if (p !== undefined && p.expires > now && p.mtu < mtu) mtu = p.mtu;
  const tx = iface.tx;
  const len = payload.length;
  if (IPV6_HEADER_LEN + len <= mtu) {
    emitIpv6Header(tx, H, s6, d6, protocol, len, ttl);
    tx.set(payload, H + IPV6_HEADER_LEN);
    return linkOutput6(cx, iface, nh, H + IPV6_HEADER_LEN + len, now);
  }
  if (df) {
    cx.count('ipv6.txTooBig');
    return false;
  }
  // RFC 8200 §4.5: source fragmentation with a Fragment header.
  const ident = cx.random32();
  const chunk = (mtu - IPV6_HEADER_LEN - IPV6_FRAGMENT_HEADER_LEN) & ~7;
  let ok = true;
  for (let off = 0; off < len; off += chunk) {
    const n = Math.min(chunk, len - off);
    emitIpv6Header(tx, H, s6, d6, 44, n + IPV6_FRAGMENT_HEADER_LEN, ttl);
    emitIpv6FragmentHeader(tx, H + IPV6_HEADER_LEN, protocol, off, off + n < len, ident);
    tx.set(payload.subarray(off, off + n), H + IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN);
    cx.count('ipv6.txFragments');
    ok = linkOutput6(cx, iface, nh, H + IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN + n, now) && ok;
  }
  return ok;
}

/**
 * `IpHost.reserve`: one route lookup, and a view of `length` bytes behind the IP header
 * in the interface's transmit scratch when the packet fits the path MTU (the transport
 * writes its segment there, no copy); else a scratch view that `sendReserved` hands to
 * `output` (loopback, no route, too big or fragmented: the same path and counters as
 * `sendIp`).
 */
export function reserve(
  cx: IpContext,
  src: IpAddress,
  dst: IpAddress,
  protocol: number,
  length: number,
  now: Instant,
  gsoSize = 0,
): IpTxSlot {
  const r = cx.txr;
  r.gso = 0;
  const slot = r.slot;
  r.src = src;
  r.dst = dst;
  r.protocol = protocol;
  r.length = length;
  r.iface = undefined;
  const route = lookupRoute(cx, dst);
  const iface = route?.iface;
  slot.checksumOffload = iface?.csumOffload === true;
  if (iface !== undefined && src.version === dst.version) {
    let off = -1;
    if (gsoSize > 0 && iface.gsoMax > 0 && protocol === 6) {
      // A TCP super-segment: one packet over the MTU, cut by the link (see output()).
      const hdr = dst.version === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
      if (hdr + length <= iface.gsoMax) {
        off = H + hdr;
        r.gso = gsoSize;
      }
    } else if (dst.version === 4) {
      if (IPV4_HEADER_LEN + length <= iface.mtu) off = H + IPV4_HEADER_LEN;
    } else {
      let mtu = iface.mtu6;
      const p = cx.pmtu.get(addrKey(dst));
      if (p !== undefined && p.expires > now && p.mtu < mtu) mtu = p.mtu;
      if (IPV6_HEADER_LEN + length <= mtu) off = H + IPV6_HEADER_LEN;
    }
    if (off >= 0) {
      r.iface = iface;
      r.nextHop = route!.nextHop;
      slot.segment = segmentView(iface, off, length);
      return slot;
    }
  }
  slot.segment = cx.seg.subarray(0, length);
  return slot;
}

/** `IpHost.sendReserved`: the IP header goes in front of the segment the transport wrote. */
export function sendReserved(cx: IpContext, now: Instant): boolean {
  const r = cx.txr;
  const iface = r.iface;
  const df = r.protocol === 6;
  if (iface === undefined)
    return output(cx, r.src, r.dst, r.protocol, r.slot.segment, now, undefined, df, 64);
  r.iface = undefined;
  if (r.gso > 0) {
    iface.txGso = r.gso;
    r.gso = 0;
    try {
      return sendReservedOn(cx, iface, r, df, now);
    } finally {
      iface.txGso = 0;
    }
  }
  return sendReservedOn(cx, iface, r, df, now);
}

function sendReservedOn(
  cx: IpContext,
  iface: Iface,
  r: IpContext['txr'],
  df: boolean,
  now: Instant,
): boolean {
  const len = r.length;
  const dst = r.dst;
  if (dst.version === 4) {
    const ident = cx.ipIdent;
    cx.ipIdent = (ident + 1) & 0xffff;
    emitIpv4Header(
      iface.tx,
      H,
      (r.src as Ipv4Address).value,
      dst.value,
      r.protocol,
      len,
      64,
      ident,
      df ? 0x4000 : 0,
    );
    return linkOutput4(cx, iface, r.nextHop as Ipv4Address, H + IPV4_HEADER_LEN + len, now);
  }
  emitIpv6Header(iface.tx, H, r.src as Ipv6Address, dst, r.protocol, len, 64);
  return linkOutput6(cx, iface, r.nextHop as Ipv6Address, H + IPV6_HEADER_LEN + len, now);
}

/** tx[off, off + length), reusing the last view while it repeats (a bulk sender's segments are all full-size). */
function segmentView(iface: Iface, off: number, length: number): Uint8Array {
  const v = iface.segView;
  if (v.length !== length || v.byteOffset !== iface.tx.byteOffset + off)
    iface.segView = iface.tx.subarray(off, off + length);
  return iface.segView;
}
