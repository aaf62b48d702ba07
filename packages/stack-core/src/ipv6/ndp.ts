/**
 * Neighbor Discovery (RFC 4861) without the router parts: answering and sending
 * Neighbor Solicitations, learning from Neighbor Advertisements, resolving next hops
 * for IPv6 output over Ethernet, and Duplicate Address Detection (RFC 4862 §5.4) with
 * address lifetimes. Router solicitation and SLAAC are in `slaac.ts`.
 */
import { ACCEPTED, type AddrV6, type Iface, type IpContext, type Rx } from '../iface/context.js';
import { flushQueued, resolutionFailed, transmit, transmitIp } from '../iface/medium.js';
import { selectSource } from '../iface/route.js';
import { v6Key } from '../iface/util.js';
import type { Instant } from '../registration.js';
import { ETHERNET_HEADER_LEN, EtherType, emitEthernetHeader } from '../wire/ethernet.js';
import { type Icmpv6Repr, emitIcmpv6 } from '../wire/icmpv6.js';
import { Ipv6Address } from '../wire/ip-address.js';
import { IPV6_HEADER_LEN, emitIpv6Header, multicastMac, solicitedNode } from '../wire/ipv6.js';

const H = ETHERNET_HEADER_LEN;
/** RFC 4861 §10. */
const DUP_ADDR_DETECT_TRANSMITS = 1;

export function neighborSolicitInput(
  cx: IpContext,
  iface: Iface,
  src: Ipv6Address,
  dst: Ipv6Address,
  r: Extract<Icmpv6Repr, { kind: 'neighborSolicit' }>,
  now: Instant,
): Rx {
  const own = iface.v6.find((a) => a.address.equals(r.target));
  if (own === undefined) return 'ndp.notForUs';
  if (src.isUnspecified()) {
    // RFC 4862 §5.4.3: a DAD probe. For our tentative address it means a duplicate.
    if (!dst.isMulticast() || r.sourceLinkAddr !== undefined) return 'icmpv6.malformed';
    if (own.tentative) {
      dadFailed(cx, iface, own);
      return ACCEPTED;
    }
    sendNdp(cx, iface, own.address, Ipv6Address.ALL_NODES, multicastMac(Ipv6Address.ALL_NODES), {
      kind: 'neighborAdvert',
      router: false,
      solicited: false,
      override: true,
      target: own.address,
      targetLinkAddr: iface.mac,
    });
    return ACCEPTED;
  }
  if (own.tentative) return ACCEPTED; // RFC 4862 §5.4.3: not ours yet
  let mac = r.sourceLinkAddr;
  if (mac) {
    const q = iface.ndp.learn(v6Key(src), src, mac, true, now);
    if (q) flushQueued(cx, iface, q, mac, EtherType.Ipv6);
  } else {
    mac = iface.ndp.get(v6Key(src))?.mac ?? cx.rxFrame?.slice(6, 12);
  }
  if (mac === undefined) return ACCEPTED;
  sendNdp(cx, iface, own.address, src, mac, {
    kind: 'neighborAdvert',
    router: false,
    solicited: true,
    override: true,
    target: own.address,
    targetLinkAddr: iface.mac,
  });
  cx.count('ndp.advertsSent');
  return ACCEPTED;
}

export function neighborAdvertInput(
  cx: IpContext,
  iface: Iface,
  r: Extract<Icmpv6Repr, { kind: 'neighborAdvert' }>,
  now: Instant,
): Rx {
  const own = iface.v6.find((a) => a.address.equals(r.target));
  if (own) {
    if (own.tentative) dadFailed(cx, iface, own);
    else cx.count('ndp.addressConflict');
    return ACCEPTED;
  }
  const q = iface.ndp.confirm(v6Key(r.target), r.targetLinkAddr, r.solicited, r.override, now);
  if (q && r.targetLinkAddr) flushQueued(cx, iface, q, r.targetLinkAddr, EtherType.Ipv6);
  return ACCEPTED;
}

/**
 * Sends the IPv6 packet built at tx[H..len) to next hop `nh` over Ethernet: multicast
 * maps to its MAC, the rest waits for NDP when the neighbour is unknown.
 */
export function ndpOutput(cx: IpContext, iface: Iface, nh: Ipv6Address, len: number, now: Instant): boolean {
  let mac: Uint8Array | undefined;
  if (nh.isMulticast()) mac = multicastMac(nh);
  else mac = iface.ndp.lookup(v6Key(nh), now);
  const tx = iface.tx;
  if (mac !== undefined) {
    emitEthernetHeader(tx, 0, mac, iface.mac, EtherType.Ipv6);
    transmit(cx, iface, len);
    return true;
  }
  const r = iface.ndp.enqueue(v6Key(nh), nh, tx.subarray(H, len), now);
  if (r === 'full') {
    cx.count('ndp.queueFull');
    return false;
  }
  if (r === 'queuedNew') sendNeighborSolicit(cx, iface, nh, undefined);
  return true;
}

function sendNeighborSolicit(
  cx: IpContext,
  iface: Iface,
  target: Ipv6Address,
  unicastMac: Uint8Array | undefined,
): void {
  const src = selectSource(cx, target, iface.index);
  if (src === undefined || src.version !== 6) {
    cx.count('ndp.noSourceAddress');
    return;
  }
  const dst = unicastMac ? target : solicitedNode(target);
  sendNdp(cx, iface, src, dst, unicastMac ?? multicastMac(dst), {
    kind: 'neighborSolicit',
    target,
    sourceLinkAddr: iface.mac,
  });
  cx.count('ndp.solicitsSent');
}

/** NDP messages go straight to the link with hop limit 255 (RFC 4861 §6.1.2 / §7.1.2). */
export function sendNdp(
  cx: IpContext,
  iface: Iface,
  src: Ipv6Address,
  dst: Ipv6Address,
  mac: Uint8Array,
  r: Icmpv6Repr,
): void {
  const tx = iface.tx;
  const o = H + IPV6_HEADER_LEN;
  const end = emitIcmpv6(tx, o, r, src, dst);
  emitIpv6Header(tx, H, src, dst, 58, end - o, 255);
  if (iface.ip) {
    transmitIp(cx, iface, end);
    return;
  }
  emitEthernetHeader(tx, 0, mac, iface.mac, EtherType.Ipv6);
  transmit(cx, iface, end);
}

/** The NDP cache's timers (solicitations, failed resolutions). */
export function pollNeighbors(cx: IpContext, iface: Iface, now: Instant): void {
  if (iface.ndp.pollAt() > now) return;
  iface.ndp.poll(now, {
    solicit: (a, mac) => sendNeighborSolicit(cx, iface, a, mac),
    failed: (_a, dropped) => {
      cx.count('ndp.resolveFailed');
      cx.count('ndp.queueDropped', dropped.length);
      resolutionFailed(cx, dropped, now);
    },
  });
}

/** Address lifetimes and DAD steps of the interface's IPv6 addresses. */
export function pollAddresses(cx: IpContext, iface: Iface, now: Instant): void {
  for (const a of [...iface.v6]) {
    if (a.validUntil <= now) {
      iface.v6 = iface.v6.filter((x) => x !== a);
      cx.topologyChanged();
      cx.count('ndp.addressExpired');
      continue;
    }
    if (!a.tentative || a.dadAt > now) continue;
    if (a.dadSent < DUP_ADDR_DETECT_TRANSMITS) {
      // RFC 4862 §5.4.2: NS from :: to the solicited-node group, no source link-layer option.
      const dst = solicitedNode(a.address);
      sendNdp(cx, iface, Ipv6Address.UNSPECIFIED, dst, multicastMac(dst), {
        kind: 'neighborSolicit',
        target: a.address,
        sourceLinkAddr: undefined,
      });
      a.dadSent++;
      a.dadAt = now + cx.ip.retransTime;
      cx.count('ndp.dadProbesSent');
    } else {
      a.tentative = false;
      a.dadAt = Number.POSITIVE_INFINITY;
      cx.topologyChanged();
      cx.count('ndp.dadSucceeded');
      if (a.address.isLinkLocal() && iface.slaac && iface.rsSent === 0)
        iface.rsAt = Math.min(iface.rsAt, now);
    }
  }
}

function dadFailed(cx: IpContext, iface: Iface, a: AddrV6): void {
  iface.v6 = iface.v6.filter((x) => x !== a);
  cx.topologyChanged();
  cx.count('ndp.dadFailed');
}

/** A new address that DAD checks before it is used (from the next poll). */
export function tentativeV6(
  cx: IpContext,
  address: Ipv6Address,
  prefixLength: number,
  origin: string,
): AddrV6 {
  return {
    address,
    prefixLength,
    origin,
    tentative: true,
    dadAt: cx.lastNow,
    dadSent: 0,
    validUntil: Number.POSITIVE_INFINITY,
  };
}
