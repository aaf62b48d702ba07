/**
 * Interface configuration: adding interfaces (Ethernet or IP-only medium, each with a
 * link-local IPv6 address), adding and removing addresses, and listing addresses and
 * neighbours. Every change goes through `IpContext.topologyChanged`.
 */
import { joinGroups, MLD_CHANGE_TO_EXCLUDE } from '../ipv6/mld.js';
import { tentativeV6 } from '../ipv6/ndp.js';
import { NeighborCache } from '../neighbor.js';
import type { Instant, InterfaceAddress, InterfaceConfig } from '../registration.js';
import { ETHERNET_HEADER_LEN } from '../wire/ethernet.js';
import {
  type IpAddress,
  type Ipv4Address,
  Ipv6Address,
  parseCidr,
  parseIpAddress,
} from '../wire/ip-address.js';
import { eui64Address } from '../wire/ipv6.js';
import type { Iface, IpContext } from './context.js';
import { lookupRoute } from './route.js';
import { EMPTY, v4Key, v6Key } from './util.js';

/** A usable InterfaceConfig.gsoMaxSize: above the MTU, at most 65535, with checksum offload. */
function gsoMax(config: InterfaceConfig): number {
  const g = config.gsoMaxSize ?? 0;
  if (!(g > config.mtu) || config.checksumOffload !== true) return 0;
  return Math.min(Math.floor(g), 65535);
}

export function addInterface(cx: IpContext, config: InterfaceConfig): number {
  if (config.mac.length !== 6) throw new TypeError('interface MAC must be 6 bytes');
  if (!Number.isInteger(config.mtu) || config.mtu < 576 || config.mtu > 65535) {
    throw new TypeError(`interface MTU out of range (576..65535): ${config.mtu}`);
  }
  const index = cx.ifaces.length;
  const iface: Iface = {
    index,
    name: config.name,
    mac: config.mac.slice(),
    mtu: config.mtu,
    mtu6: Math.max(1280, config.mtu),
    transmit: config.transmit,
    ip: config.medium === 'ip',
    csumOffload: config.checksumOffload === true,
    gro: config.gro === true,
    gsoMax: gsoMax(config),
    txGso: 0,
    tx: new Uint8Array(Math.max(config.mtu, 1280, gsoMax(config)) + ETHERNET_HEADER_LEN + 64),
    txView: EMPTY,
    segView: EMPTY,
    v4: [],
    v6: [],
    arp: new NeighborCache<Ipv4Address>(cx.neighborConfig),
    ndp: new NeighborCache<Ipv6Address>({ ...cx.neighborConfig }),
    pendingGarp: [],
    slaac: false,
    rsSent: 0,
    rsAt: Number.POSITIVE_INFINITY,
    mldAt: Number.POSITIVE_INFINITY,
    mldLeft: 0,
    mldType: MLD_CHANGE_TO_EXCLUDE,
  };
  cx.ifaces.push(iface);
  if (iface.ip) {
    // No MAC to form an EUI-64 from: a random interface id (RFC 7217 spirit), and no DAD
    // on a point-to-point link where the only other node is the peer.
    const id = new Uint8Array(16);
    cx.config.random(id);
    id.set([0xfe, 0x80, 0, 0, 0, 0, 0, 0], 0);
    const ll = iface.v6.length === 0 ? new Ipv6Address(id) : undefined;
    if (ll)
      iface.v6.push({
        address: ll,
        prefixLength: 64,
        origin: 'link-local',
        tentative: false,
        dadAt: Number.POSITIVE_INFINITY,
        dadSent: 0,
        validUntil: Number.POSITIVE_INFINITY,
      });
    cx.topologyChanged();
    return index;
  }
  // RFC 4862 §5.3: every interface gets a link-local address, checked by DAD.
  const ll = eui64Address(Ipv6Address.parse('fe80::').bytes, iface.mac);
  iface.v6.push(tentativeV6(cx, ll, 64, 'link-local'));
  joinGroups(cx, iface);
  cx.topologyChanged();
  return index;
}

export function addAddress(cx: IpContext, index: number, cidr: string, origin = 'static'): void {
  const iface = cx.iface(index);
  const { address, prefixLength } = parseCidr(cidr);
  if (address.version === 4) {
    const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
    const old = iface.v4.find((a) => a.address.equals(address));
    if (old) {
      old.prefixLength = prefixLength;
      old.mask = mask;
      old.origin = origin;
    } else iface.v4.push({ address, prefixLength, mask, origin });
    // Announce the address (gratuitous ARP, RFC 5227 §3) on the next poll.
    if (!iface.ip) {
      iface.pendingGarp.push(address);
      cx.txPending = true;
    }
  } else {
    const old = iface.v6.find((a) => a.address.equals(address));
    if (old) {
      old.prefixLength = prefixLength;
      old.origin = origin;
    } else if (origin === 'slaac') {
      iface.v6.push(tentativeV6(cx, address, prefixLength, origin));
      if (!iface.ip) joinGroups(cx, iface);
    } else {
      // Static addresses are used at once (like Linux with `nodad`); DAD guards SLAAC and link-local.
      iface.v6.push({
        address,
        prefixLength,
        origin,
        tentative: false,
        dadAt: Number.POSITIVE_INFINITY,
        dadSent: 0,
        validUntil: Number.POSITIVE_INFINITY,
      });
      if (!iface.ip) joinGroups(cx, iface);
    }
  }
  cx.topologyChanged();
}

export function removeAddress(cx: IpContext, index: number, address: string): void {
  const iface = cx.iface(index);
  const a = parseIpAddress(address.includes('/') ? address.slice(0, address.indexOf('/')) : address);
  if (a.version === 4) iface.v4 = iface.v4.filter((x) => !x.address.equals(a));
  else iface.v6 = iface.v6.filter((x) => !x.address.equals(a));
  cx.topologyChanged();
}

export function addresses(cx: IpContext, index: number): InterfaceAddress[] {
  const iface = cx.iface(index);
  return [
    ...iface.v4.map((a) => ({
      address: a.address,
      prefixLength: a.prefixLength,
      origin: a.origin,
      tentative: false,
    })),
    ...iface.v6.map((a) => ({
      address: a.address,
      prefixLength: a.prefixLength,
      origin: a.tentative ? 'tentative' : a.origin,
      tentative: a.tentative,
    })),
  ];
}

/** The neighbour cache entries of an interface (for diagnostics and tests). */
export function neighbors(
  cx: IpContext,
  index: number,
): { address: IpAddress; state: string; mac: Uint8Array | undefined }[] {
  const iface = cx.iface(index);
  const names = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE'];
  const out: { address: IpAddress; state: string; mac: Uint8Array | undefined }[] = [];
  for (const c of [iface.arp, iface.ndp] as NeighborCache<IpAddress>[]) {
    for (const e of c.entries.values()) out.push({ address: e.address, state: names[e.state]!, mac: e.mac });
  }
  return out;
}

/** `IpHost.confirmReachable`: the next hop towards `dst` is confirmed in its interface's cache. */
export function confirmReachable(cx: IpContext, dst: IpAddress, now: Instant): void {
  const r = lookupRoute(cx, dst);
  const iface = r?.iface;
  if (iface === undefined) return;
  const nh = r!.nextHop;
  if (nh.version === 4) iface.arp.confirmReachable(v4Key(nh.value), now);
  else iface.ndp.confirmReachable(v6Key(nh), now);
}
