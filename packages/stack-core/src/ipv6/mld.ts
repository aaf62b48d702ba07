/**
 * MLDv2 (RFC 3810) as a host needs it for NDP: reports of our solicited-node groups
 * when addresses appear (so snooping switches deliver Neighbor Solicitations), and
 * answers to queries after a random delay.
 */
import { ACCEPTED, type Iface, type IpContext, type Rx } from '../iface/context.js';
import { transmit } from '../iface/medium.js';
import { v6Key } from '../iface/util.js';
import type { Instant } from '../registration.js';
import { ETHERNET_HEADER_LEN, EtherType, emitEthernetHeader } from '../wire/ethernet.js';
import { type Icmpv6Repr, emitIcmpv6, icmpv6BufferLen } from '../wire/icmpv6.js';
import { Ipv6Address } from '../wire/ip-address.js';
import { IPV6_HEADER_LEN, emitIpv6Header, multicastMac, solicitedNode } from '../wire/ipv6.js';

const H = ETHERNET_HEADER_LEN;
/** RFC 3810 §9: robustness 2, unsolicited report interval 1 s; record types §5.2.12. */
const MLD_ROBUSTNESS = 2;
const MLD_UNSOLICITED_INTERVAL = 1000;
const MLD_MODE_IS_EXCLUDE = 2;
export const MLD_CHANGE_TO_EXCLUDE = 4;
const MLDV2_ROUTERS = Ipv6Address.parse('ff02::16');

export function mldQueryInput(
  cx: IpContext,
  iface: Iface | undefined,
  src: Ipv6Address,
  hopLimit: number,
  r: Extract<Icmpv6Repr, { kind: 'mldQuery' }>,
  now: Instant,
): Rx {
  if (iface === undefined) return 'ndp.noInterface';
  if (!src.isLinkLocal() || hopLimit !== 1) return 'icmpv6.malformed';
  // RFC 3810 §6.2: answer a general (or our group's) query after a random delay.
  const g = r.group;
  const ours = g.isUnspecified() || iface.v6.some((a) => solicitedNode(a.address).equals(g));
  if (ours) {
    const at = now + (r.maxResponseDelay > 0 ? cx.random16() % Math.min(r.maxResponseDelay, 10_000) : 0);
    if (iface.mldLeft === 0 || at < iface.mldAt) {
      iface.mldType = iface.mldLeft === 0 ? MLD_MODE_IS_EXCLUDE : iface.mldType;
      iface.mldLeft = Math.max(iface.mldLeft, 1);
      iface.mldAt = Math.min(iface.mldAt, at);
    }
    cx.count('mld.queries');
  }
  return ACCEPTED;
}

/**
 * Announces our solicited-node groups (RFC 4861 §7.2.1 via MLDv2, RFC 3810 §6.1): an
 * unsolicited report now and once more a second later, so snooping switches deliver NS.
 */
export function joinGroups(cx: IpContext, iface: Iface): void {
  iface.mldType = MLD_CHANGE_TO_EXCLUDE;
  iface.mldLeft = MLD_ROBUSTNESS;
  iface.mldAt = cx.lastNow;
}

export function pollMld(cx: IpContext, iface: Iface, now: Instant): void {
  if (iface.mldAt > now) return;
  sendMldReport(cx, iface, iface.mldType);
  iface.mldLeft--;
  iface.mldAt = iface.mldLeft > 0 ? now + MLD_UNSOLICITED_INTERVAL : Number.POSITIVE_INFINITY;
}

/** An MLDv2 report of every solicited-node group of the interface (all-nodes is never reported). */
function sendMldReport(cx: IpContext, iface: Iface, type: number): void {
  const groups = new Map<string, Ipv6Address>();
  for (const a of iface.v6) {
    const g = solicitedNode(a.address);
    groups.set(v6Key(g), g);
  }
  if (groups.size === 0) return;
  const ll = iface.v6.find((a) => a.address.isLinkLocal() && !a.tentative);
  // RFC 3810 §5.2.13: from the link-local address, or :: while it is still tentative.
  const src = ll?.address ?? Ipv6Address.UNSPECIFIED;
  const dst = MLDV2_ROUTERS;
  const r: Icmpv6Repr = {
    kind: 'mldReport',
    records: [...groups.values()].map((group) => ({ type, group })),
  };
  const tx = iface.tx;
  const o = H + IPV6_HEADER_LEN + 8;
  if (o + icmpv6BufferLen(r) > tx.length) return;
  const end = emitIcmpv6(tx, o, r, src, dst);
  // Hop-by-hop header with Router Alert (MLD), hop limit 1 (RFC 3810 §5).
  emitIpv6Header(tx, H, src, dst, 0, end - o + 8, 1);
  tx.set([58, 0, 5, 2, 0, 0, 1, 0], H + IPV6_HEADER_LEN);
  emitEthernetHeader(tx, 0, multicastMac(dst), iface.mac, EtherType.Ipv6);
  transmit(cx, iface, end);
  cx.count('mld.reportsSent');
}
