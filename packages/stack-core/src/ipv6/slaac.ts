/**
 * Stateless address autoconfiguration (RFC 4862) and the host side of router
 * discovery (RFC 4861 §6.3): router solicitations, and router advertisements that
 * install a default route, on-link prefixes, the link MTU, neighbour timers and
 * SLAAC addresses (capped, with the "two hours" lifetime rule).
 */
import { ACCEPTED, type Iface, type IpContext, type Rx } from '../iface/context.js';
import { removeRaRoute, upsertRoute } from '../iface/route.js';
import { maskV6, v6Key } from '../iface/util.js';
import { flushQueued } from '../iface/medium.js';
import type { Instant } from '../registration.js';
import { EtherType } from '../wire/ethernet.js';
import type { Icmpv6Repr } from '../wire/icmpv6.js';
import { Ipv6Address } from '../wire/ip-address.js';
import { eui64Address, multicastMac } from '../wire/ipv6.js';
import { joinGroups } from './mld.js';
import { sendNdp, tentativeV6 } from './ndp.js';

/** RFC 4861 §10 constants. */
const RTR_SOLICITATION_INTERVAL = 4000;
const MAX_RTR_SOLICITATIONS = 3;
/** Caps on state that router advertisements create (Linux: max_addresses 16). */
const MAX_SLAAC_ADDRESSES = 16;

export function routerAdvertInput(
  cx: IpContext,
  iface: Iface,
  src: Ipv6Address,
  r: Extract<Icmpv6Repr, { kind: 'routerAdvert' }>,
  now: Instant,
): Rx {
  cx.count('ndp.routerAdverts');
  if (!iface.slaac) return ACCEPTED;
  iface.rsAt = Number.POSITIVE_INFINITY; // RFC 4861 §6.3.7: stop soliciting
  const o = r.options;
  if (o.sourceLinkAddr) {
    const q = iface.ndp.learn(v6Key(src), src, o.sourceLinkAddr, true, now);
    if (q) flushQueued(cx, iface, q, o.sourceLinkAddr, EtherType.Ipv6);
  }
  const any = Ipv6Address.UNSPECIFIED;
  if (r.routerLifetime > 0) {
    upsertRoute(cx, {
      version: 6,
      destination: any,
      prefixLength: 0,
      gateway: src,
      iface: iface.index,
      origin: 'ra',
      expires: now + r.routerLifetime * 1000,
    });
  } else {
    removeRaRoute(cx, any, 0, iface.index, src);
  }
  if (o.mtu !== undefined && o.mtu >= 1280 && o.mtu <= iface.mtu) iface.mtu6 = o.mtu;
  // RFC 4861 §6.3.4: non-zero Reachable Time and Retrans Timer replace ours (sane bounds).
  const nc = iface.ndp.config;
  if (r.reachableTime > 0 && r.reachableTime <= 3_600_000) nc.reachableTime = r.reachableTime;
  if (r.retransTimer > 0) nc.retransTime = Math.min(Math.max(r.retransTimer, 100), 60_000);
  for (const pi of o.prefixes) {
    if (pi.prefix.isLinkLocal() || pi.prefix.isMulticast()) continue;
    const life = (s: number) => (s === 0xffffffff ? Number.POSITIVE_INFINITY : now + s * 1000);
    const prefix = maskV6(pi.prefix, pi.prefixLength);
    if (pi.onLink) {
      if (pi.validLifetime === 0) removeRaRoute(cx, prefix, pi.prefixLength, iface.index, undefined);
      else {
        upsertRoute(cx, {
          version: 6,
          destination: prefix,
          prefixLength: pi.prefixLength,
          gateway: undefined,
          iface: iface.index,
          origin: 'ra',
          expires: life(pi.validLifetime),
        });
      }
    }
    // RFC 4862 §5.5.3: autonomous /64 prefixes form an address (EUI-64 interface identifier).
    if (!pi.autonomous || pi.prefixLength !== 64 || pi.preferredLifetime > pi.validLifetime) continue;
    const addr = eui64Address(prefix.bytes, iface.mac);
    const existing = iface.v6.find((a) => a.address.equals(addr));
    if (existing) {
      // §5.5.3 e: the "two hours" rule against shortening lifetimes by unauthenticated RAs.
      const remaining = existing.validUntil - now;
      const proposed = pi.validLifetime * 1000;
      if (proposed > 7_200_000 || proposed > remaining) existing.validUntil = life(pi.validLifetime);
      else if (remaining > 7_200_000) existing.validUntil = now + 7_200_000;
    } else if (pi.validLifetime > 0) {
      if (iface.v6.filter((x) => x.origin === 'slaac').length >= MAX_SLAAC_ADDRESSES) {
        cx.count('ndp.slaacLimit');
        continue;
      }
      const a = tentativeV6(cx, addr, 64, 'slaac');
      a.validUntil = life(pi.validLifetime);
      iface.v6.push(a);
      joinGroups(cx, iface);
      cx.topologyChanged();
      cx.count('ndp.slaacAddresses');
    }
  }
  return ACCEPTED;
}

/** Router solicitations (RFC 4861 §6.3.7) while SLAAC waits for a first advertisement. */
export function pollRouterSolicit(cx: IpContext, iface: Iface, now: Instant): void {
  if (!iface.slaac || iface.rsAt > now) return;
  if (iface.rsSent >= MAX_RTR_SOLICITATIONS) {
    iface.rsAt = Number.POSITIVE_INFINITY;
    return;
  }
  const ll = iface.v6.find((a) => a.address.isLinkLocal() && !a.tentative);
  const src = ll?.address ?? Ipv6Address.UNSPECIFIED;
  const dst = Ipv6Address.ALL_ROUTERS;
  // RFC 4861 §4.1: no source link-layer option when the source is unspecified.
  sendNdp(cx, iface, src, dst, multicastMac(dst), {
    kind: 'routerSolicit',
    sourceLinkAddr: ll ? iface.mac : undefined,
  });
  iface.rsSent++;
  iface.rsAt = now + RTR_SOLICITATION_INTERVAL;
  cx.count('ndp.routerSolicitsSent');
}
