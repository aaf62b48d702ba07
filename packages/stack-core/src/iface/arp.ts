/**
 * ARP (RFC 826) on an Ethernet medium: answering requests for our addresses, learning
 * senders, resolving next hops for IPv4 output (packets wait in the neighbour cache's
 * bounded queue meanwhile), gratuitous ARP for new addresses (RFC 5227 §3) and the
 * cache's timers. The packet format is in `wire/arp.ts`; the state machine shared
 * with NDP is `neighbor.ts`.
 */
import type { Instant } from '../registration.js';
import { ARP_PACKET_LEN, ArpOperation, ArpPacket, ArpRepr } from '../wire/arp.js';
import {
  BROADCAST_MAC,
  ETHERNET_HEADER_LEN,
  EtherType,
  emitEthernetHeader,
  macEquals,
} from '../wire/ethernet.js';
import { Ipv4Address } from '../wire/ip-address.js';
import { ACCEPTED, type Iface, type IpContext, type Rx } from './context.js';
import { flushQueued, resolutionFailed, transmit } from './medium.js';
import { ZERO_MAC, v4Key } from './util.js';

const H = ETHERNET_HEADER_LEN;

export function arpInput(cx: IpContext, iface: Iface, buf: Uint8Array, now: Instant): Rx {
  const p = ArpPacket.newChecked(buf);
  if (p === 'truncated') return 'arp.truncated';
  if (typeof p === 'string') return 'arp.unsupported';
  const r = ArpRepr.parse(p);
  if (typeof r === 'string') return 'arp.unsupported';
  const sha = r.senderHardwareAddr;
  if ((sha[0]! & 1) === 1 || sha.every((x) => x === 0)) return 'arp.badSender';
  const spa = r.senderProtocolAddr.value;
  const tpa = r.targetProtocolAddr.value;
  cx.count('arp.rx');
  if (iface.v4.some((a) => a.address.value === spa)) {
    // Someone else claims our address (RFC 5227 §2.4); we keep it and count.
    if (!macEquals(sha, 0, iface.mac)) cx.count('arp.addressConflict');
    return ACCEPTED;
  }
  const targetIsUs = iface.v4.some((a) => a.address.value === tpa);
  if (spa !== 0) {
    const q =
      r.operation === ArpOperation.Reply
        ? (iface.arp.confirm(v4Key(spa), sha, targetIsUs, true, now) ??
          (targetIsUs ? iface.arp.learn(v4Key(spa), r.senderProtocolAddr, sha, true, now) : undefined))
        : iface.arp.learn(v4Key(spa), r.senderProtocolAddr, sha, targetIsUs, now);
    if (q) flushQueued(cx, iface, q, sha, EtherType.Ipv4);
  }
  if (r.operation === ArpOperation.Request && targetIsUs) {
    const tx = iface.tx;
    new ArpRepr(ArpOperation.Reply, iface.mac, r.targetProtocolAddr, sha, r.senderProtocolAddr).emit(tx, H);
    emitEthernetHeader(tx, 0, sha, iface.mac, EtherType.Arp);
    transmit(cx, iface, H + ARP_PACKET_LEN);
    cx.count('arp.repliesSent');
  }
  return ACCEPTED;
}

/**
 * Sends the IPv4 packet built at tx[H..len) to next hop `nh` over Ethernet: broadcast
 * and multicast map to their MACs, the rest waits for ARP when the neighbour is unknown.
 */
export function arpOutput(cx: IpContext, iface: Iface, nh: Ipv4Address, len: number, now: Instant): boolean {
  const v = nh.value;
  let mac: Uint8Array | undefined;
  if (v === 0xffffffff || cx.isBroadcastV4(v, iface.index)) mac = BROADCAST_MAC;
  else if (v >>> 28 === 0xe)
    mac = new Uint8Array([1, 0, 0x5e, (v >>> 16) & 0x7f, (v >>> 8) & 0xff, v & 0xff]);
  else mac = iface.arp.lookup(v4Key(v), now);
  const tx = iface.tx;
  if (mac !== undefined) {
    emitEthernetHeader(tx, 0, mac, iface.mac, EtherType.Ipv4);
    transmit(cx, iface, len);
    return true;
  }
  const r = iface.arp.enqueue(v4Key(v), nh, tx.subarray(H, len), now);
  if (r === 'full') {
    cx.count('arp.queueFull');
    return false;
  }
  if (r === 'queuedNew') sendArpRequest(cx, iface, nh, undefined);
  return true;
}

function sendArpRequest(
  cx: IpContext,
  iface: Iface,
  target: Ipv4Address,
  unicastMac: Uint8Array | undefined,
): void {
  const t = target.value;
  const sender = iface.v4.find((a) => ((a.address.value ^ t) & a.mask) === 0) ?? iface.v4[0];
  const spa = sender?.address ?? Ipv4Address.UNSPECIFIED;
  const tx = iface.tx;
  new ArpRepr(ArpOperation.Request, iface.mac, spa, ZERO_MAC, target).emit(tx, H);
  emitEthernetHeader(tx, 0, unicastMac ?? BROADCAST_MAC, iface.mac, EtherType.Arp);
  transmit(cx, iface, H + ARP_PACKET_LEN);
  cx.count('arp.requestsSent');
}

/** Gratuitous ARP for addresses added since the last poll: a request for our own address (RFC 5227 §3). */
export function sendPendingGarp(cx: IpContext, iface: Iface): void {
  if (iface.pendingGarp.length === 0) return;
  const g = iface.pendingGarp;
  iface.pendingGarp = [];
  for (const a of g) {
    if (!iface.v4.some((x) => x.address.equals(a))) continue;
    const tx = iface.tx;
    new ArpRepr(ArpOperation.Request, iface.mac, a, ZERO_MAC, a).emit(tx, H);
    emitEthernetHeader(tx, 0, BROADCAST_MAC, iface.mac, EtherType.Arp);
    transmit(cx, iface, H + ARP_PACKET_LEN);
    cx.count('arp.gratuitousSent');
  }
}

/** The ARP cache's timers: retransmitted requests, probes of stale entries, failed resolutions. */
export function pollArp(cx: IpContext, iface: Iface, now: Instant): void {
  // The callbacks are built only when a neighbour timer is due (poll runs every few frames).
  if (iface.arp.pollAt() > now) return;
  iface.arp.poll(now, {
    solicit: (a, mac) => sendArpRequest(cx, iface, a, mac),
    failed: (_a, dropped) => {
      cx.count('arp.resolveFailed');
      cx.count('arp.queueDropped', dropped.length);
      resolutionFailed(cx, dropped, now);
    },
  });
}
