/**
 * The Stack remembers its last route lookup and indexes its own addresses. Each test
 * looks a destination up (filling the cache), changes addresses, routes or DAD state,
 * and checks that the very next lookup or packet already follows the change.
 */
import { describe, expect, it } from 'vitest';
import { SocketError } from '../src/registration.js';
import { Stack } from '../src/stack.js';
import { parseMac } from '../src/wire/ethernet.js';
import { type Icmpv6Repr, emitIcmpv6 } from '../src/wire/icmpv6.js';
import { Ipv4Address, Ipv6Address, parseIpAddress } from '../src/wire/ip-address.js';
import { emitIpv6Header } from '../src/wire/ipv6.js';
import { seededRandom } from './harness.js';
import { sipHash24 } from '@tapstack/testkit/prf';

const ip = parseIpAddress;
const enc = new TextEncoder();
const PEER = parseMac('02:00:00:00:00:99');

/** Two interfaces; only eth1 has checksum offload, so `host.checksumOffload(dst)` names the route's interface. */
function twoIfaces(): { s: Stack; sent: number[] } {
  const s = new Stack({ random: seededRandom(3), keyedPrf: sipHash24 });
  const sent: number[] = [];
  for (const [n, off] of [
    [0, false],
    [1, true],
  ] as const) {
    s.addInterface({
      name: `eth${n}`,
      mac: parseMac(`02:00:00:00:00:0${n + 1}`),
      mtu: 1500,
      checksumOffload: off,
      transmit: () => void sent.push(n),
    });
  }
  s.addAddress(0, '192.0.2.2/24');
  s.addAddress(1, '198.51.100.2/24');
  s.poll(0);
  sent.length = 0;
  return { s, sent };
}

describe('route cache and local address index', () => {
  it('sees routes added and removed at once', () => {
    const { s } = twoIfaces();
    const dst = ip('203.0.113.5');
    expect(s.host.selectSource(dst)).toBeUndefined();
    s.addRoute({ destination: '0.0.0.0/0', gateway: '192.0.2.1', iface: 0 });
    expect(s.host.selectSource(dst)?.toString()).toBe('192.0.2.2');
    expect(s.host.checksumOffload?.(dst)).toBe(false);
    s.addRoute({ destination: '203.0.113.0/24', gateway: '198.51.100.1', iface: 1 });
    expect(s.host.checksumOffload?.(dst)).toBe(true);
    expect(s.host.selectSource(dst)?.toString()).toBe('198.51.100.2');
    s.removeRoute('203.0.113.0/24');
    expect(s.host.checksumOffload?.(dst)).toBe(false);
    s.removeRoute('0.0.0.0/0');
    expect(s.host.selectSource(dst)).toBeUndefined();
    expect(s.host.sendIp(ip('192.0.2.2'), dst, 17, new Uint8Array(8), 0)).toBe(false);
    expect(s.stats()['ip.noRoute']).toBe(1);
  });

  it('sends the next packet by the new route', () => {
    const { s, sent } = twoIfaces();
    const dst = ip('203.0.113.5');
    s.addRoute({ destination: '0.0.0.0/0', gateway: '192.0.2.1', iface: 0 });
    const src = ip('192.0.2.2');
    expect(s.host.sendIp(src, dst, 17, new Uint8Array(8), 0)).toBe(true);
    s.addRoute({ destination: '203.0.113.0/25', gateway: '198.51.100.1', iface: 1 });
    expect(s.host.sendIp(src, dst, 17, new Uint8Array(8), 0)).toBe(true);
    expect(sent).toEqual([0, 1]); // an ARP request for each gateway
  });

  it('sees addresses added and removed at once, for delivery and for sending', () => {
    const { s, sent } = twoIfaces();
    const a = ip('192.0.2.9');
    expect(s.host.isLocalAddress(a)).toBe(false);
    expect(s.host.maxTransportPayload(a)).toBe(1480);
    s.addAddress(1, '192.0.2.9/32');
    expect(s.host.isLocalAddress(a)).toBe(true);
    expect(s.host.maxTransportPayload(a)).toBe(65535 - 20); // loopback now
    expect(s.host.sendIp(a, a, 17, new Uint8Array(8), 0)).toBe(true);
    expect(s.stats()['loopback.txPackets']).toBe(1);
    expect(sent).toEqual([]);
    s.removeAddress(1, '192.0.2.9');
    expect(s.host.isLocalAddress(a)).toBe(false);
    expect(s.host.sendIp(ip('192.0.2.2'), a, 17, new Uint8Array(8), 0)).toBe(true);
    expect(s.stats()['loopback.txPackets']).toBe(1);
    expect(sent).toEqual([0]); // ARP for it on eth0
    // A packet to the removed address is no longer ours.
    s.removeAddress(0, '192.0.2.2');
    const u = s.udpOpen();
    expect(s.udpBind(u, ip('192.0.2.2'), 7)).toBe(SocketError.EADDRNOTAVAIL);
    expect(s.udpSend(u, enc.encode('x'), ip('192.0.2.77'), 7)).toBe(-SocketError.EHOSTUNREACH);
  });

  it('an interface hint is part of the cached lookup; a new interface is seen at once', () => {
    const { s } = twoIfaces();
    const bcast = Ipv4Address.BROADCAST;
    expect(s.selectSource(bcast, 0)?.toString()).toBe('192.0.2.2');
    expect(s.selectSource(bcast, 1)?.toString()).toBe('198.51.100.2');
    expect(s.selectSource(bcast)?.toString()).toBe('192.0.2.2');
    // A hint naming no interface is ignored until that interface exists.
    expect(s.selectSource(bcast, 2)?.toString()).toBe('192.0.2.2');
    s.addInterface({ name: 'eth2', mac: parseMac('02:00:00:00:00:03'), mtu: 1500, transmit: () => {} });
    expect(s.selectSource(bcast, 2)).toBeUndefined(); // eth2 has no IPv4 address
  });

  it('an IPv6 address becomes ours when DAD finishes and stops being ours when it fails', () => {
    const s = new Stack({ random: seededRandom(4), keyedPrf: sipHash24 });
    s.addInterface({ name: 'eth0', mac: parseMac('02:00:00:00:00:0b'), mtu: 1500, transmit: () => {} });
    s.addAddress(0, '2001:db8::2/64');
    const ll = s.addresses(0).find((a) => a.tentative)!.address;
    s.poll(0);
    expect(s.host.isLocalAddress(ll)).toBe(false); // tentative
    expect(s.host.maxTransportPayload(ll)).toBe(1500 - 40);
    s.poll(1000); // DAD done
    expect(s.host.isLocalAddress(ll)).toBe(true);
    expect(s.host.maxTransportPayload(ll)).toBe(65535 - 40);
    // A SLAAC-style tentative address whose DAD fails never becomes ours.
    s.addAddress(0, '2001:db8:5::b/64', 'slaac');
    const t = ip('2001:db8:5::b');
    expect(s.host.isLocalAddress(t)).toBe(false);
    expect(s.host.selectSource(t)?.toString()).toBe('2001:db8::2');
    const na: Icmpv6Repr = {
      kind: 'neighborAdvert',
      router: false,
      solicited: false,
      override: true,
      target: t as Ipv6Address,
      targetLinkAddr: PEER,
    };
    s.receive(0, icmp6Frame(na), 1001); // someone else has it
    expect(s.stats()['ndp.dadFailed']).toBe(1);
    // Its prefix went with it: no route there any more.
    expect(s.host.selectSource(t)).toBeUndefined();
    s.poll(3000);
    expect(s.host.isLocalAddress(t)).toBe(false);
    const peer = ip('2001:db8::7');
    expect(s.host.selectSource(peer)?.toString()).toBe('2001:db8::2');
    s.removeAddress(0, '2001:db8::2');
    expect(s.host.isLocalAddress(ip('2001:db8::2'))).toBe(false);
    expect(s.host.selectSource(peer)).toBeUndefined();
  });

  it('routes and addresses from a router advertisement: learned, DAD-checked and expired at once', () => {
    const s = new Stack({ random: seededRandom(5), keyedPrf: sipHash24 });
    s.addInterface({ name: 'eth0', mac: parseMac('02:00:00:00:00:0b'), mtu: 1500, transmit: () => {} });
    s.enableSlaac(0);
    s.poll(0);
    s.poll(1000); // link-local DAD done
    const far = ip('2001:db8:99::1');
    const mine = ip('2001:db8:1::ff:fe00:b');
    expect(s.host.maxTransportPayload(far)).toBe(1280 - 40); // no route: the IPv6 minimum
    const ra: Icmpv6Repr = {
      kind: 'routerAdvert',
      hopLimit: 64,
      managed: false,
      other: false,
      routerLifetime: 10,
      reachableTime: 0,
      retransTimer: 0,
      options: {
        sourceLinkAddr: PEER,
        mtu: undefined,
        prefixes: [
          {
            prefixLength: 64,
            onLink: false, // the address alone, so its expiry is seen on its own
            autonomous: true,
            validLifetime: 60,
            preferredLifetime: 60,
            prefix: Ipv6Address.parse('2001:db8:1::'),
          },
        ],
      },
    };
    s.receive(0, icmp6Frame(ra), 1000);
    expect(s.host.maxTransportPayload(far)).toBe(1500 - 40); // default route via the router
    expect(s.host.isLocalAddress(mine)).toBe(false); // tentative
    s.poll(1000);
    s.poll(2000); // DAD done
    expect(s.host.isLocalAddress(mine)).toBe(true);
    expect(s.host.selectSource(far)?.toString()).toBe(mine.toString());
    s.receive(0, icmp6Frame({ ...ra, routerLifetime: 0 }), 3000); // withdrawn
    expect(s.host.maxTransportPayload(far)).toBe(1280 - 40);
    s.receive(0, icmp6Frame(ra), 4000); // back, for 10 s
    expect(s.host.maxTransportPayload(far)).toBe(1500 - 40);
    s.poll(14_000); // router lifetime over
    expect(s.stats()['route.expired']).toBe(1);
    expect(s.host.maxTransportPayload(far)).toBe(1280 - 40);
    expect(s.host.selectSource(far)).toBeUndefined();
    const near = ip('2001:db8:1::5'); // on the SLAAC address's prefix
    expect(s.host.maxTransportPayload(near)).toBe(1500 - 40);
    s.poll(64_000); // address lifetime over
    expect(s.stats()['ndp.addressExpired']).toBe(1);
    expect(s.host.isLocalAddress(mine)).toBe(false);
    expect(s.host.maxTransportPayload(near)).toBe(1280 - 40);
  });
});

/** An ICMPv6 message from a link-local neighbour to all-nodes, hop limit 255, in a frame. */
function icmp6Frame(r: Icmpv6Repr): Uint8Array {
  const src = Ipv6Address.parse('fe80::99');
  const dst = Ipv6Address.ALL_NODES;
  const f = new Uint8Array(300);
  f.set([0x33, 0x33, 0, 0, 0, 1, ...PEER, 0x86, 0xdd]);
  const end = emitIcmpv6(f, 54, r, src, dst);
  emitIpv6Header(f, 14, src, dst, 58, end - 54, 255);
  return f.subarray(0, end);
}
