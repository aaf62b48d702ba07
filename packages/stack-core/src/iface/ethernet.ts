/**
 * An interface's medium, both ways. Ethernet: frames are checked, filtered by
 * destination MAC and handed up by EtherType; output resolves the next hop with ARP
 * (IPv4) or NDP (IPv6). IP-only (TUN, WireGuard, an IP pipe): the packet's version
 * nibble picks the layer, and output sends the bare packet with no resolution.
 */
import { ndpOutput } from '../ipv6/ndp.js';
import type { Instant } from '../registration.js';
import { ETHERNET_HEADER_LEN, EtherType, EthernetFrame, macEquals } from '../wire/ethernet.js';
import type { Ipv4Address, Ipv6Address } from '../wire/ip-address.js';
import { arpInput, arpOutput } from './arp.js';
import type { Iface, IpContext, Rx } from './context.js';
import { transmitIp } from './medium.js';

/** An IP-only medium: the packet's version nibble says which layer takes it. */
export function ipMediumInput(cx: IpContext, iface: Iface, packet: Uint8Array, now: Instant): Rx {
  const v = packet.length > 0 ? packet[0]! >> 4 : 0;
  if (v === 4) return cx.ipv4Input(cx, iface, packet, now);
  if (v === 6) return cx.ipv6Input(cx, iface, packet, now);
  return 'ip.badVersion';
}

export function ethernetInput(cx: IpContext, iface: Iface, frame: Uint8Array, now: Instant): Rx {
  const eth = EthernetFrame.newChecked(frame);
  if (typeof eth === 'string') return 'eth.truncated';
  const b = frame;
  const multicast = (b[0]! & 1) === 1;
  if (!multicast && !macEquals(b, 0, iface.mac)) return 'eth.otherHost';
  const type = eth.ethertype;
  cx.rxFrame = frame;
  cx.rxLinkMulticast = multicast;
  const payload = frame.subarray(ETHERNET_HEADER_LEN);
  switch (type) {
    case EtherType.Ipv4:
      return cx.ipv4Input(cx, iface, payload, now);
    case EtherType.Ipv6:
      return cx.ipv6Input(cx, iface, payload, now);
    case EtherType.Arp:
      return arpInput(cx, iface, payload, now);
    case EtherType.Vlan:
    case EtherType.QinQ:
      return 'eth.vlanTagged';
    default:
      return 'eth.unknownEthertype';
  }
}

/** The IPv4 packet built at tx[ETHERNET_HEADER_LEN..len) leaves towards next hop `nh`. */
export function linkOutput4(
  cx: IpContext,
  iface: Iface,
  nh: Ipv4Address,
  len: number,
  now: Instant,
): boolean {
  if (iface.ip) return transmitIp(cx, iface, len);
  return arpOutput(cx, iface, nh, len, now);
}

/** The IPv6 packet built at tx[ETHERNET_HEADER_LEN..len) leaves towards next hop `nh`. */
export function linkOutput6(
  cx: IpContext,
  iface: Iface,
  nh: Ipv6Address,
  len: number,
  now: Instant,
): boolean {
  if (iface.ip) return transmitIp(cx, iface, len);
  return ndpOutput(cx, iface, nh, len, now);
}
