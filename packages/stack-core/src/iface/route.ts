/**
 * Routing: longest-prefix match over connected prefixes and the route table (static
 * and RA-learned routes, capped and aged), source address selection, and the path MTU
 * cache that ICMP Fragmentation Needed / Packet Too Big lower.
 */
import type { Instant } from '../registration.js';
import { IPV4_HEADER_LEN } from '../wire/ipv4.js';
import { IPV6_HEADER_LEN } from '../wire/ipv6.js';
import { type IpAddress, Ipv4Address, Ipv6Address } from '../wire/ip-address.js';
import type { AddrV6, Iface, IpContext, Route, RouteResult } from './context.js';
import { addrKey, commonPrefix, v6Key } from './util.js';

export const LOOPBACK_MTU = 65535;
/** Caps on state that router advertisements create (Linux: max_addresses 16). */
const MAX_RA_ROUTES = 64;
/** RFC 8201 §4 / RFC 1191: PMTU estimates age out after 10 minutes. */
const PMTU_TIMEOUT = 600_000;
/** Path MTU entries kept (the oldest goes first). */
const PMTU_MAX_ENTRIES = 4096;

/** `findRoute`, remembering the last answer (see `IpContext.lastRoute`). */
export function lookupRoute(cx: IpContext, dst: IpAddress, ifaceHint?: number): RouteResult | undefined {
  const c = cx.lastRoute;
  if (c !== undefined && c.hint === ifaceHint && c.dst.equals(dst)) return c.route;
  const route = findRoute(cx, dst, ifaceHint);
  // A link-local IPv6 destination's interface depends on the neighbour caches: not cached.
  if (dst.version === 4 || !dst.isLinkLocal()) cx.lastRoute = { dst, hint: ifaceHint, route };
  return route;
}

/**
 * Longest-prefix match over the connected prefixes (from interface addresses) and
 * the route table; connected prefixes win ties. `iface` undefined means loopback.
 * Broadcast, multicast and IPv6 link-local destinations leave on the hinted
 * interface, or the first one.
 */
function findRoute(cx: IpContext, dst: IpAddress, ifaceHint?: number): RouteResult | undefined {
  if (dst.isLoopback() || cx.isLocalAddress(dst)) return { iface: undefined, nextHop: dst };
  const ifaces = cx.ifaces;
  const hint = ifaceHint === undefined ? undefined : ifaces[ifaceHint];
  let best: Iface | undefined;
  let gateway: IpAddress | undefined;
  let bestLen = -1;
  if (dst.version === 4) {
    const v = dst.value;
    if (v === 0xffffffff || v >>> 28 === 0xe) {
      const i = hint ?? ifaces.find((x) => x.v4.length > 0) ?? ifaces[0];
      return i ? { iface: i, nextHop: dst } : undefined;
    }
    for (const i of ifaces) {
      if (hint && i !== hint) continue;
      for (const a of i.v4) {
        if (a.prefixLength > bestLen && ((a.address.value ^ v) & a.mask) === 0) {
          best = i;
          bestLen = a.prefixLength;
        }
      }
    }
    for (const r of cx.routes) {
      if (r.version !== 4 || r.prefixLength <= bestLen) continue;
      if (hint && r.iface !== hint.index) continue;
      const mask = r.prefixLength === 0 ? 0 : (0xffffffff << (32 - r.prefixLength)) >>> 0;
      if ((((r.destination as Ipv4Address).value ^ v) & mask) !== 0) continue;
      best = ifaces[r.iface];
      gateway = r.gateway;
      bestLen = r.prefixLength;
    }
    return bestLen < 0 ? undefined : { iface: best, nextHop: gateway ?? dst };
  }
  if (dst.isMulticast() || dst.isLinkLocal()) {
    // Without zone indices, a link-local destination leaves where we know it as a
    // neighbour (where it talked to us from), else on the first interface.
    let i = hint;
    if (i === undefined && ifaces.length > 1 && !dst.isMulticast()) {
      const k = v6Key(dst);
      i = ifaces.find((x) => x.ndp.get(k) !== undefined);
    }
    i ??= ifaces[0];
    return i ? { iface: i, nextHop: dst } : undefined;
  }
  for (const i of ifaces) {
    if (hint && i !== hint) continue;
    for (const a of i.v6) {
      if (a.address.isLinkLocal()) continue;
      if (a.prefixLength > bestLen && commonPrefix(a.address.bytes, dst.bytes) >= a.prefixLength) {
        best = i;
        bestLen = a.prefixLength;
      }
    }
  }
  for (const r of cx.routes) {
    if (r.version !== 6 || r.prefixLength <= bestLen) continue;
    if (hint && r.iface !== hint.index) continue;
    if (commonPrefix((r.destination as Ipv6Address).bytes, dst.bytes) < r.prefixLength) continue;
    best = ifaces[r.iface];
    gateway = r.gateway;
    bestLen = r.prefixLength;
  }
  return bestLen < 0 ? undefined : { iface: best, nextHop: gateway ?? dst };
}

export function upsertRoute(cx: IpContext, route: Route): void {
  const routes = cx.routes;
  const i = routes.findIndex(
    (r) =>
      r.prefixLength === route.prefixLength &&
      r.destination.equals(route.destination) &&
      r.iface === route.iface &&
      (r.gateway === undefined ? route.gateway === undefined : r.gateway.equals(route.gateway)),
  );
  if (i >= 0) routes[i] = route;
  else if (route.origin === 'ra' && routes.filter((r) => r.origin === 'ra').length >= MAX_RA_ROUTES) {
    cx.count('ndp.raRouteLimit'); // a flood of advertisements must not grow the table without bound
  } else routes.push(route);
  cx.topologyChanged();
}

export function removeRoute(cx: IpContext, address: IpAddress, prefixLength: number): void {
  const routes = cx.routes;
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (r.prefixLength === prefixLength && r.destination.equals(address)) routes.splice(i, 1);
  }
  cx.topologyChanged();
}

export function removeRaRoute(
  cx: IpContext,
  dest: IpAddress,
  len: number,
  iface: number,
  gw: IpAddress | undefined,
): void {
  const routes = cx.routes;
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (r.origin !== 'ra' || r.iface !== iface || r.prefixLength !== len || !r.destination.equals(dest))
      continue;
    if (gw !== undefined && !gw.equals(r.gateway)) continue;
    routes.splice(i, 1);
  }
  cx.topologyChanged();
}

export function expireRoutes(cx: IpContext, now: Instant): void {
  const routes = cx.routes;
  for (let i = routes.length - 1; i >= 0; i--) {
    if (routes[i]!.expires <= now) {
      routes.splice(i, 1);
      cx.topologyChanged();
      cx.count('route.expired');
    }
  }
}

/** The source address for reaching `dst` (RFC 6724 in brief: same scope, longest matching prefix). */
export function selectSource(cx: IpContext, dst: IpAddress, ifaceHint?: number): IpAddress | undefined {
  if (dst.version === 4) {
    if (dst.isLoopback()) return dst;
    if (cx.isLocalAddress(dst)) return dst;
    const r = lookupRoute(cx, dst, ifaceHint);
    if (r === undefined) return undefined;
    if (r.iface === undefined) return new Ipv4Address(0x7f000001);
    const addrs = r.iface.v4;
    const nh = (r.nextHop as Ipv4Address).value;
    for (const a of addrs) if (((a.address.value ^ nh) & a.mask) === 0) return a.address;
    return addrs[0]?.address;
  }
  if (dst.isLoopback()) return dst;
  if (cx.isLocalAddress(dst)) return dst;
  const r = lookupRoute(cx, dst, ifaceHint);
  if (r === undefined) return undefined;
  if (r.iface === undefined) return Ipv6Address.LOOPBACK;
  const linkScope = dst.isLinkLocal() || (dst.isMulticast() && (dst.bytes[1]! & 0xf) <= 2);
  let best: AddrV6 | undefined;
  let bestLen = -1;
  for (const a of r.iface.v6) {
    if (a.tentative) continue;
    const ll = a.address.isLinkLocal();
    if (linkScope !== ll) continue;
    const l = commonPrefix(a.address.bytes, dst.bytes);
    if (l > bestLen) {
      best = a;
      bestLen = l;
    }
  }
  if (best) return best.address;
  for (const a of r.iface.v6) if (!a.tentative) return a.address;
  return undefined;
}

export function maxTransportPayload(cx: IpContext, dst: IpAddress): number {
  const hdr = dst.version === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
  if (dst.isLoopback() || cx.isLocalAddress(dst)) return LOOPBACK_MTU - hdr;
  const r = lookupRoute(cx, dst);
  let mtu = r?.iface ? (dst.version === 4 ? r.iface.mtu : r.iface.mtu6) : dst.version === 4 ? 576 : 1280;
  const p = cx.pmtu.get(addrKey(dst));
  if (p !== undefined) {
    if (p.expires <= cx.lastNow) cx.pmtu.delete(addrKey(dst));
    else if (p.mtu < mtu) mtu = p.mtu;
  }
  return mtu - hdr;
}

export function lowerPmtu(cx: IpContext, dst: IpAddress, mtu: number, now: Instant): void {
  const k = addrKey(dst);
  const pmtu = cx.pmtu;
  const old = pmtu.get(k);
  if (old && old.expires > now && old.mtu <= mtu) return;
  pmtu.set(k, { mtu, expires: now + PMTU_TIMEOUT });
  if (pmtu.size > PMTU_MAX_ENTRIES) {
    const first = pmtu.keys().next();
    if (!first.done) pmtu.delete(first.value);
  }
}
