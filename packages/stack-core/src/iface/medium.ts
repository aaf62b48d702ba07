/**
 * Handing built frames to an interface's link. Frames are built in the interface's
 * transmit scratch (`iface.tx`, IP packet at offset ETHERNET_HEADER_LEN) and leave as
 * a view: with the Ethernet header on an Ethernet medium, without it on an IP-only one.
 */
import { IcmpErrorKind, type Instant } from '../registration.js';
import { ETHERNET_HEADER_LEN, emitEthernetHeader } from '../wire/ethernet.js';
import { Ipv4Address, Ipv6Address } from '../wire/ip-address.js';
import { IPV6_HEADER_LEN } from '../wire/ipv6.js';
import { getU16 } from '../wire/wire-error.js';
import type { Iface, IpContext } from './context.js';
import { ipv4Dst, ipv4Src } from './util.js';

/** Ethernet medium: the frame at tx[0..len) goes out. */
export function transmit(cx: IpContext, iface: Iface, len: number): void {
  cx.txFrames++;
  if (iface.txView.length !== len || iface.txView.byteOffset !== iface.tx.byteOffset)
    iface.txView = iface.tx.subarray(0, len);
  iface.transmit(iface.txView, iface.txGso);
}

/** IP-only medium: the packet built at tx[ETHERNET_HEADER_LEN..len) goes out without an Ethernet header. */
export function transmitIp(cx: IpContext, iface: Iface, len: number): boolean {
  cx.txFrames++;
  const H = ETHERNET_HEADER_LEN;
  if (iface.txView.length !== len - H || iface.txView.byteOffset !== iface.tx.byteOffset + H)
    iface.txView = iface.tx.subarray(H, len);
  iface.transmit(iface.txView, iface.txGso);
  return true;
}

/** Packets that waited for address resolution leave now that the neighbour's MAC is known. */
export function flushQueued(
  cx: IpContext,
  iface: Iface,
  packets: Uint8Array[],
  mac: Uint8Array,
  ethertype: number,
): void {
  const tx = iface.tx;
  const max = Math.max(iface.mtu, iface.mtu6);
  for (const pkt of packets) {
    if (pkt.length > max) {
      // A TCP super-segment that waited: its gsoSize is gone. TCP sends it again.
      cx.count('ip.gsoQueuedDropped');
      continue;
    }
    emitEthernetHeader(tx, 0, mac, iface.mac, ethertype);
    tx.set(pkt, ETHERNET_HEADER_LEN);
    transmit(cx, iface, ETHERNET_HEADER_LEN + pkt.length);
  }
}

/**
 * Address resolution failed for these queued packets: tell TCP as if an ICMP host
 * unreachable had come back (RFC 1122 §2.3.3 / RFC 4861 §7.2.2), so a connect to an
 * absent neighbour fails with EHOSTUNREACH after the solicitations instead of timing out.
 */
export function resolutionFailed(cx: IpContext, packets: Uint8Array[], now: Instant): void {
  const tcp = cx.tcp;
  for (const p of packets) {
    if (p[0]! >> 4 === 4) {
      const hl = (p[0]! & 0xf) * 4;
      if (p[9] !== 6 || (getU16(p, 6) & 0x1fff) !== 0) continue;
      const src = new Ipv4Address(ipv4Src(p));
      const dst = new Ipv4Address(ipv4Dst(p));
      tcp.icmpError(IcmpErrorKind.Unreachable, src, dst, p.subarray(hl), 0, now);
    } else if (p[6] === 6) {
      const seg = p.subarray(IPV6_HEADER_LEN);
      tcp.icmpError(
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
