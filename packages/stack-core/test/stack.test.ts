/**
 * IP-layer behaviour of one Stack with explicit time: routing over several interfaces,
 * loopback, SLAAC (RFC 4862) with DAD, path MTU (RFC 8201 / RFC 1191), ICMP error rules
 * (RFC 1122 §3.2.2, RFC 4443 §2.4), reassembly limits, UDP sockets and the DHCP-client case.
 */
import { describe, expect, it } from 'vitest';
import { SocketError } from '../src/registration.js';
import { Stack } from '../src/stack.js';
import { emitEthernetHeader, macToString, parseMac } from '../src/wire/ethernet.js';
import {
  type Icmpv4Repr,
  Icmpv4Packet,
  emitIcmpv4,
  icmpv4BufferLen,
  parseIcmpv4,
} from '../src/wire/icmpv4.js';
import {
  type Icmpv6Repr,
  Icmpv6Packet,
  emitIcmpv6,
  icmpv6BufferLen,
  parseIcmpv6,
} from '../src/wire/icmpv6.js';
import { Ipv4Address, Ipv6Address, parseIpAddress } from '../src/wire/ip-address.js';
import { Ipv4Packet, emitIpv4Header } from '../src/wire/ipv4.js';
import { Ipv6Packet, emitIpv6Header } from '../src/wire/ipv6.js';
import { UdpPacket, emitUdp } from '../src/wire/udp.js';
import { seededRandom } from './harness.js';
import { Reassembler, defaultReassemblyConfig } from '../src/reassembly.js';
import { sipHash24 } from '@tapstack/testkit/prf';

const US = parseMac('02:00:00:00:00:0b');
const PEER = parseMac('02:00:00:00:00:0a');
const enc = new TextEncoder();

function host(ifaces = 1) {
  const out: { iface: number; frame: Uint8Array }[] = [];
  const s = new Stack({ random: seededRandom(3), keyedPrf: sipHash24 });
  for (let k = 0; k < ifaces; k++) {
    const mac = US.slice();
    mac[5] = 0x0b + k;
    s.addInterface({
      name: `eth${k}`,
      mac,
      mtu: 1500,
      transmit: (f) => out.push({ iface: k, frame: f.slice() }),
    });
  }
  return { s, out };
}

/** An Ethernet + IPv4 frame carrying `l4` (whose checksum the caller filled). */
function v4Frame(
  src: string,
  dst: string,
  proto: number,
  l4: Uint8Array,
  opts: { flags?: number; ident?: number; dstMac?: Uint8Array } = {},
) {
  const f = new Uint8Array(34 + l4.length);
  emitEthernetHeader(f, 0, opts.dstMac ?? US, PEER, 0x0800);
  emitIpv4Header(
    f,
    14,
    Ipv4Address.parse(src).value,
    Ipv4Address.parse(dst).value,
    proto,
    l4.length,
    64,
    opts.ident ?? 1,
    opts.flags ?? 0,
  );
  f.set(l4, 34);
  return f;
}
function udp4(src: string, dst: string, sport: number, dport: number, data: Uint8Array, dstMac?: Uint8Array) {
  const l4 = new Uint8Array(8 + data.length);
  emitUdp(l4, 0, sport, dport, data, Ipv4Address.parse(src), Ipv4Address.parse(dst));
  return v4Frame(src, dst, 17, l4, { dstMac });
}
function v6Frame(src: string, dst: string, proto: number, l4: Uint8Array, hopLimit = 64, dstMac = US) {
  const f = new Uint8Array(54 + l4.length);
  emitEthernetHeader(f, 0, dstMac, PEER, 0x86dd);
  emitIpv6Header(f, 14, Ipv6Address.parse(src), Ipv6Address.parse(dst), proto, l4.length, hopLimit);
  f.set(l4, 54);
  return f;
}
function icmp6(src: string, dst: string, r: Icmpv6Repr, hopLimit = 64, dstMac = US) {
  const l4 = new Uint8Array(icmpv6BufferLen(r));
  emitIcmpv6(l4, 0, r, Ipv6Address.parse(src), Ipv6Address.parse(dst));
  return v6Frame(src, dst, 58, l4, hopLimit, dstMac);
}
/** An ARP reply from `ip` (at PEER) to our address `ours`, as a broadcast so any interface takes it. */
function arpReply(s: Stack, iface: number, ip: string, ours: string) {
  const f = new Uint8Array(42);
  emitEthernetHeader(f, 0, parseMac('ff:ff:ff:ff:ff:ff'), PEER, 0x0806);
  f.set([0, 1, 8, 0, 6, 4, 0, 2], 14);
  f.set(PEER, 22);
  Ipv4Address.parse(ip).writeTo(f, 28);
  Ipv4Address.parse(ours).writeTo(f, 38);
  s.receive(iface, f, 0);
}
const isIpv4 = (f: Uint8Array) => f[12] === 0x08 && f[13] === 0x00;
const ipv4Of = (f: Uint8Array) => Ipv4Packet.newChecked(f.subarray(14)) as Ipv4Packet;
function icmp4Of(f: Uint8Array): Icmpv4Repr | undefined {
  if (!isIpv4(f) || ipv4Of(f).protocol !== 1) return undefined;
  return parseIcmpv4(Icmpv4Packet.newChecked(ipv4Of(f).payload) as Icmpv4Packet) as Icmpv4Repr;
}
function icmp6Of(f: Uint8Array): Icmpv6Repr | undefined {
  if (f[12] !== 0x86 || f[13] !== 0xdd) return undefined;
  const ip = Ipv6Packet.newChecked(f.subarray(14)) as Ipv6Packet;
  if (ip.nextHeader !== 58) return undefined;
  return parseIcmpv6(
    Icmpv6Packet.newChecked(ip.payload) as Icmpv6Packet,
    ip.src,
    ip.dst,
    ip.hopLimit,
  ) as Icmpv6Repr;
}

describe('routing', () => {
  it('longest prefix match across interfaces, gateways resolved by ARP', () => {
    const { s, out } = host(2);
    s.addAddress(0, '192.0.2.2/24');
    s.addAddress(1, '198.51.100.2/24');
    s.addRoute({ destination: '0.0.0.0/0', gateway: '192.0.2.1', iface: 0 });
    s.addRoute({ destination: '203.0.113.0/24', gateway: '198.51.100.1', iface: 1 });
    s.addRoute({ destination: '203.0.113.128/25', gateway: '192.0.2.254', iface: 0 });
    s.poll(0);
    out.length = 0;
    const u = s.udpOpen();
    const go = (dst: string) => {
      out.length = 0;
      s.udpSend(u, enc.encode('x'), parseIpAddress(dst), 9);
      s.poll(0);
      const arp = out[0]!;
      return {
        iface: out[0]!.iface,
        asked: Ipv4Address.fromBytes(arp.frame, 38).toString(),
        src: Ipv4Address.fromBytes(arp.frame, 28).toString(),
      };
    };
    expect(go('203.0.113.5')).toEqual({ iface: 1, asked: '198.51.100.1', src: '198.51.100.2' });
    expect(go('203.0.113.200')).toEqual({ iface: 0, asked: '192.0.2.254', src: '192.0.2.2' });
    expect(go('8.8.8.8')).toEqual({ iface: 0, asked: '192.0.2.1', src: '192.0.2.2' });
    expect(go('198.51.100.77')).toEqual({ iface: 1, asked: '198.51.100.77', src: '198.51.100.2' });
    // Once the gateway answers, datagrams go to its MAC with the final destination in the header.
    arpReply(s, 1, '198.51.100.1', '198.51.100.2');
    const ip = out.filter((o) => isIpv4(o.frame)).map((o) => ipv4Of(o.frame));
    expect(ip.map((p) => p.dst.toString())).toContain('203.0.113.5');
    s.removeRoute('0.0.0.0/0');
    expect(s.udpSend(u, enc.encode('x'), parseIpAddress('8.8.8.8'), 9)).toBe(-SocketError.EHOSTUNREACH);
  });

  it('loopback: 127.0.0.1, ::1 and our own addresses are delivered on the next poll', () => {
    const { s, out } = host();
    s.addAddress(0, '192.0.2.2/24');
    s.addAddress(0, '2001:db8::2/64');
    s.poll(0);
    out.length = 0;
    const r = s.udpOpen();
    s.udpBind(r, undefined, 7000);
    const t = s.udpOpen();
    for (const dst of ['127.0.0.1', '::1', '192.0.2.2', '2001:db8::2']) {
      expect(s.udpSend(t, enc.encode(dst), parseIpAddress(dst), 7000)).toBe(dst.length);
    }
    s.poll(1); // sends into the loopback queue
    expect(s.pollAt()).toBe(1);
    s.poll(1); // delivers
    const got: string[] = [];
    for (let d = s.udpRecv(r); d; d = s.udpRecv(r))
      got.push(`${new TextDecoder().decode(d.data)} from ${d.address}`);
    expect(got).toEqual([
      '127.0.0.1 from 127.0.0.1',
      '::1 from ::1',
      '192.0.2.2 from 192.0.2.2',
      '2001:db8::2 from 2001:db8::2',
    ]);
    const ping = s.icmpOpen();
    s.icmpSendEcho(ping, Ipv6Address.LOOPBACK, 5, enc.encode('me'));
    for (let k = 0; k < 4; k++) s.poll(2);
    expect(s.icmpRecv(ping)?.sequence).toBe(5);
    expect(out.length).toBe(0); // nothing left on the wire
  });
});

describe('SLAAC (RFC 4862)', () => {
  const ra = (lifetime: number, prefix = '2001:db8:1::', valid = 3600, mtu?: number): Icmpv6Repr => ({
    kind: 'routerAdvert',
    hopLimit: 64,
    managed: false,
    other: false,
    routerLifetime: lifetime,
    reachableTime: 0,
    retransTimer: 0,
    options: {
      sourceLinkAddr: PEER,
      mtu,
      prefixes: [
        {
          prefixLength: 64,
          onLink: true,
          autonomous: true,
          validLifetime: valid,
          preferredLifetime: valid,
          prefix: Ipv6Address.parse(prefix),
        },
      ],
    },
  });
  const allNodesMac = parseMac('33:33:00:00:00:01');

  it('solicits routers, forms an address from the prefix, runs DAD, installs the default route', () => {
    const { s, out } = host();
    s.enableSlaac(0);
    s.poll(0);
    const rs = out.map((o) => icmp6Of(o.frame)).filter((r) => r?.kind === 'routerSolicit');
    expect(rs.length).toBe(1);
    expect(s.pollAt()).toBe(1000); // DAD of the link-local address
    s.receive(0, icmp6('fe80::1', 'ff02::1', ra(1800, '2001:db8:1::', 3600, 1400), 255, allNodesMac), 500);
    const addr = s.addresses(0).find((a) => a.address.toString().startsWith('2001:db8:1:'))!;
    expect(addr.address.toString()).toBe('2001:db8:1::ff:fe00:b');
    expect(addr.tentative).toBe(true);
    out.length = 0;
    s.poll(500);
    const dad = out.map((o) => icmp6Of(o.frame)).find((r) => r?.kind === 'neighborSolicit');
    expect(dad).toMatchObject({ kind: 'neighborSolicit', sourceLinkAddr: undefined });
    s.poll(1500);
    expect(s.addresses(0).find((a) => a.address.equals(addr.address))?.tentative).toBe(false);
    // Off-link destinations go to the router (its MAC learned from the RA), from the SLAAC address.
    expect(s.host.selectSource(parseIpAddress('2001:db8:99::1'))?.toString()).toBe('2001:db8:1::ff:fe00:b');
    expect(s.host.maxTransportPayload(parseIpAddress('2001:db8:99::1'))).toBe(1400 - 40); // RA MTU option
    const u = s.udpOpen();
    out.length = 0;
    s.udpSend(u, enc.encode('x'), parseIpAddress('2001:db8:99::1'), 9);
    s.poll(1600);
    expect(macToString(out[0]!.frame.subarray(0, 6))).toBe(macToString(PEER));
    // Router lifetime 0 withdraws the default route.
    s.receive(0, icmp6('fe80::1', 'ff02::1', ra(0), 255, allNodesMac), 2000);
    expect(s.udpSend(u, enc.encode('x'), parseIpAddress('2001:db8:99::1'), 9)).toBe(
      -SocketError.EHOSTUNREACH,
    );
  });

  it('a neighbour advertising our tentative address makes DAD fail; valid lifetime expiry removes it', () => {
    const { s } = host();
    s.enableSlaac(0);
    s.poll(0);
    s.receive(0, icmp6('fe80::1', 'ff02::1', ra(1800, '2001:db8:1::', 60), 255, allNodesMac), 10);
    const na: Icmpv6Repr = {
      kind: 'neighborAdvert',
      router: false,
      solicited: false,
      override: true,
      target: Ipv6Address.parse('2001:db8:1::ff:fe00:b'),
      targetLinkAddr: PEER,
    };
    s.receive(0, icmp6('fe80::2', 'ff02::1', na, 255, allNodesMac), 20);
    expect(s.addresses(0).some((a) => a.address.toString() === '2001:db8:1::ff:fe00:b')).toBe(false);
    expect(s.stats()['ndp.dadFailed']).toBe(1);
    s.receive(0, icmp6('fe80::1', 'ff02::1', ra(1800, '2001:db8:2::', 60), 255, allNodesMac), 100);
    s.poll(1100);
    s.poll(2100);
    expect(s.addresses(0).find((a) => a.address.toString() === '2001:db8:2::ff:fe00:b')?.tentative).toBe(
      false,
    );
    s.poll(60_100);
    expect(s.addresses(0).some((a) => a.address.toString() === '2001:db8:2::ff:fe00:b')).toBe(false);
  });

  it('ignores RAs unless SLAAC is on, and RAs from non-link-local sources or with hop limit < 255', () => {
    const { s } = host();
    s.receive(0, icmp6('fe80::1', 'ff02::1', ra(1800), 255, allNodesMac), 0);
    expect(s.addresses(0).length).toBe(1);
    s.enableSlaac(0);
    s.receive(0, icmp6('fe80::1', 'ff02::1', ra(1800), 64, allNodesMac), 0);
    s.addAddress(0, '2001:db8:5::2/64');
    s.receive(0, icmp6('2001:db8:5::1', 'ff02::1', ra(1800), 255, allNodesMac), 0);
    expect(s.stats()['icmpv6.malformed']).toBe(1);
    expect(s.stats()['ndp.badRouterAdvert']).toBe(1);
    expect(s.addresses(0).length).toBe(2);
  });
});

describe('path MTU', () => {
  it('Packet Too Big lowers maxTransportPayload and UDP fragments to it (RFC 8201)', () => {
    const { s, out } = host();
    s.addAddress(0, '2001:db8::2/64');
    const dst = parseIpAddress('2001:db8::1');
    expect(s.host.maxTransportPayload(dst)).toBe(1460);
    const quoted = new Uint8Array(48);
    quoted[0] = 0x60;
    quoted[6] = 6;
    Ipv6Address.parse('2001:db8::2').writeTo(quoted, 8);
    Ipv6Address.parse('2001:db8::1').writeTo(quoted, 24);
    // Issue 14 / RFC 5927 §4.3: quoting a TCP segment of no connection, it is ignored.
    s.receive(0, icmp6('2001:db8::1', '2001:db8::2', { kind: 'packetTooBig', mtu: 1300, data: quoted }), 0);
    expect(s.host.maxTransportPayload(dst)).toBe(1460);
    expect(s.stats()['icmpv6.pmtuUnverified']).toBe(1);
    // Quoting a datagram from a bound UDP port, it is believed.
    const u = s.udpOpen();
    s.udpBind(u, undefined, 5000);
    quoted[6] = 17;
    quoted.set([0x13, 0x88], 40);
    s.receive(0, icmp6('2001:db8::1', '2001:db8::2', { kind: 'packetTooBig', mtu: 1300, data: quoted }), 0);
    expect(s.host.maxTransportPayload(dst)).toBe(1260);
    // Never below the IPv6 minimum.
    s.receive(0, icmp6('2001:db8::1', '2001:db8::2', { kind: 'packetTooBig', mtu: 500, data: quoted }), 0);
    expect(s.host.maxTransportPayload(dst)).toBe(1240);
    // Ages out after 10 minutes.
    s.poll(600_001);
    expect(s.host.maxTransportPayload(dst)).toBe(1460);
    void out;
  });

  it('Fragmentation Needed (RFC 1191) lowers it for IPv4; TCP-sized sends with DF are refused', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    const dst = parseIpAddress('192.0.2.1');
    expect(s.host.maxTransportPayload(dst)).toBe(1480);
    const fragNeeded = (proto: number, mtu: number) => {
      const q = new Uint8Array(28);
      emitIpv4Header(
        q,
        0,
        Ipv4Address.parse('192.0.2.2').value,
        Ipv4Address.parse('192.0.2.1').value,
        proto,
        8,
        64,
        9,
        0x4000,
      );
      q.set([0x13, 0x88], 20); // source port 5000
      const l4 = new Uint8Array(icmpv4BufferLen({ kind: 'dstUnreachable', code: 4, mtu, data: q }));
      emitIcmpv4(l4, 0, { kind: 'dstUnreachable', code: 4, mtu, data: q });
      s.receive(0, v4Frame('192.0.2.1', '192.0.2.2', 1, l4), 0);
    };
    // Issue 14: one forged Fragmentation Needed quoting no real connection changes nothing.
    fragNeeded(6, 500);
    expect(s.host.maxTransportPayload(dst)).toBe(1480);
    expect(s.stats()['icmpv4.pmtuUnverified']).toBe(1);
    const u = s.udpOpen();
    s.udpBind(u, undefined, 5000);
    fragNeeded(17, 1400);
    expect(s.host.maxTransportPayload(dst)).toBe(1380);
    // Never below Linux's floor (552).
    fragNeeded(17, 300);
    expect(s.host.maxTransportPayload(dst)).toBe(532);
    expect(s.host.sendIp(parseIpAddress('192.0.2.2'), dst, 6, new Uint8Array(1600), 0)).toBe(false);
    expect(s.stats()['ipv4.txTooBigDf']).toBe(1);
  });
});

describe('ICMP errors we send', () => {
  it('are rate limited (burst 50, then 1 per ms)', () => {
    const { s, out } = host();
    s.addAddress(0, '192.0.2.2/24');
    arpReply(s, 0, '192.0.2.1', '192.0.2.2');
    s.poll(0);
    out.length = 0;
    for (let k = 0; k < 100; k++) s.receive(0, udp4('192.0.2.1', '192.0.2.2', 1, 9, new Uint8Array(1)), 0);
    expect(out.filter((o) => icmp4Of(o.frame)?.kind === 'dstUnreachable').length).toBe(50);
    expect(s.stats()['icmp.rateLimited']).toBe(50);
    for (let k = 0; k < 10; k++) s.receive(0, udp4('192.0.2.1', '192.0.2.2', 1, 9, new Uint8Array(1)), 5);
    expect(out.filter((o) => icmp4Of(o.frame)?.kind === 'dstUnreachable').length).toBe(55);
  });

  it('are never sent about broadcasts, link-layer broadcasts or ICMP errors', () => {
    const { s, out } = host();
    s.addAddress(0, '192.0.2.2/24');
    arpReply(s, 0, '192.0.2.1', '192.0.2.2');
    s.poll(0);
    out.length = 0;
    s.receive(
      0,
      udp4('192.0.2.1', '255.255.255.255', 1, 9, new Uint8Array(1), parseMac('ff:ff:ff:ff:ff:ff')),
      0,
    );
    s.receive(0, udp4('192.0.2.1', '192.0.2.255', 1, 9, new Uint8Array(1), parseMac('ff:ff:ff:ff:ff:ff')), 0);
    s.receive(0, udp4('192.0.2.1', '192.0.2.2', 1, 9, new Uint8Array(1), parseMac('ff:ff:ff:ff:ff:ff')), 0);
    // An ICMP error with an unknown protocol inside would earn a protocol unreachable — but not about an error.
    const err = new Uint8Array(icmpv4BufferLen({ kind: 'timeExceeded', code: 0, data: new Uint8Array(28) }));
    emitIcmpv4(err, 0, { kind: 'timeExceeded', code: 0, data: new Uint8Array(28) });
    s.receive(0, v4Frame('192.0.2.1', '192.0.2.2', 1, err), 0);
    expect(out.length).toBe(0);
    expect(s.stats()['udp.noSocket']).toBe(3);
    // Unknown protocol → protocol unreachable (code 2).
    s.receive(0, v4Frame('192.0.2.1', '192.0.2.2', 253, new Uint8Array(8)), 0);
    expect(icmp4Of(out[0]!.frame)).toMatchObject({ kind: 'dstUnreachable', code: 2 });
  });
});

describe('reassembly', () => {
  const frag = (ident: number, off: number, more: boolean, data: Uint8Array) =>
    v4Frame('192.0.2.1', '192.0.2.2', 17, data, { ident, flags: (more ? 0x2000 : 0) | (off >>> 3) });

  it('drops a datagram with overlapping fragments (RFC 5722 rule)', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    const u = s.udpOpen();
    s.udpBind(u, undefined, 9);
    const whole = new Uint8Array(8 + 24);
    emitUdp(
      whole,
      0,
      1,
      9,
      new Uint8Array(24).fill(5),
      Ipv4Address.parse('192.0.2.1'),
      Ipv4Address.parse('192.0.2.2'),
    );
    s.receive(0, frag(1, 0, true, whole.subarray(0, 16)), 0);
    s.receive(0, frag(1, 8, true, whole.subarray(8, 24)), 0); // overlaps [8,16)
    s.receive(0, frag(1, 16, false, whole.subarray(16)), 0);
    expect(s.udpRecv(u)).toBeUndefined();
    expect(s.stats()['ipv4.fragOverlap']).toBe(1);
    // The same fragments without the overlap reassemble, in any order.
    s.receive(0, frag(2, 16, false, whole.subarray(16)), 0);
    s.receive(0, frag(2, 0, true, whole.subarray(0, 16)), 0);
    expect(s.udpRecv(u)?.data).toEqual(new Uint8Array(24).fill(5));
  });

  it('times out after 30 s with Time Exceeded (code 1) when the first fragment came', () => {
    const { s, out } = host();
    s.addAddress(0, '192.0.2.2/24');
    arpReply(s, 0, '192.0.2.1', '192.0.2.2');
    s.poll(0);
    out.length = 0;
    s.receive(0, frag(3, 0, true, new Uint8Array(16)), 1000);
    s.receive(0, frag(4, 8, true, new Uint8Array(16)), 1000); // no first fragment
    expect(s.stats()['ipv4.reassemblyPending']).toBe(2);
    s.poll(1000); // link-local DAD finishes
    expect(s.pollAt()).toBe(31_000);
    s.poll(31_000);
    expect(s.stats()['ipv4.reassemblyTimeout']).toBe(2);
    expect(out.map((o) => icmp4Of(o.frame)).filter((r) => r !== undefined)).toMatchObject([
      { kind: 'timeExceeded', code: 1 },
    ]);
  });

  /** A UDP datagram to 192.0.2.2:9 (or 2001:db8::2) of `n` bytes, as its IP payload. */
  const udpPayload = (src: string, dst: string, n: number) => {
    const whole = new Uint8Array(8 + n);
    emitUdp(whole, 0, 1, 9, new Uint8Array(n).fill(7), parseIpAddress(src), parseIpAddress(dst));
    return whole;
  };
  /** An IPv6 packet with a Fragment header (RFC 8200 §4.5) around `data`. */
  const frag6 = (src: string, ident: number, off: number, more: boolean, data: Uint8Array) => {
    const l4 = new Uint8Array(8 + data.length);
    l4[0] = 17;
    l4[2] = (off >>> 8) & 0xff;
    l4[3] = (off & 0xf8) | (more ? 1 : 0);
    new DataView(l4.buffer).setUint32(4, ident);
    l4.set(data, 8);
    return v6Frame(src, '2001:db8::2', 44, l4);
  };

  it('512 dangling first fragments do not block a fragmented datagram (v4 and v6; issue 14)', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    s.addAddress(0, '2001:db8::2/64');
    const u4 = s.udpOpen();
    s.udpBind(u4, undefined, 9);
    // 512 first fragments that never complete, from spoofed sources and from one source.
    for (let k = 0; k < 512; k++) {
      const src = k % 2 ? `198.51.100.${k >> 2}` : '203.0.113.7';
      s.receive(0, v4Frame(src, '192.0.2.2', 17, new Uint8Array(64), { ident: k, flags: 0x2000 }), 0);
      const src6 = k % 2 ? `2001:db8:1::${k.toString(16)}` : '2001:db8:2::7';
      s.receive(0, frag6(src6, k, 0, true, new Uint8Array(64)), 0);
    }
    // A legit fragmented datagram, v4 then v6, a second later.
    const d4 = udpPayload('192.0.2.1', '192.0.2.2', 1600);
    s.receive(0, frag(77, 0, true, d4.subarray(0, 1480)), 1000);
    s.receive(0, frag(77, 1480, false, d4.subarray(1480)), 1000);
    expect(s.udpRecv(u4)?.data.length).toBe(1600);
    const d6 = udpPayload('2001:db8::1', '2001:db8::2', 1600);
    s.receive(0, frag6('2001:db8::1', 77, 0, true, d6.subarray(0, 1448)), 1000);
    s.receive(0, frag6('2001:db8::1', 77, 1448, false, d6.subarray(1448)), 1000);
    expect(s.udpRecv(u4)?.data.length).toBe(1600);
    const st = s.stats();
    expect(st['ipv4.fragEvicted']).toBeGreaterThan(0);
    expect(st['ipv6.fragEvicted']).toBeGreaterThan(0);
    expect(st['ipv4.reassemblyPending']).toBeLessThanOrEqual(256);
  });

  it('counts what tiny fragments really cost, bounds fragments per datagram (issue 14)', () => {
    const r = new Reassembler({ ...defaultReassemblyConfig, maxBytes: 1 << 20 });
    const hdr = new Uint8Array(20);
    const eight = new Uint8Array(8);
    // 65,536 8-byte fragments, 16 per datagram from 4096 sources: only the counted memory cap holds.
    for (let k = 0; k < 65_536; k++) {
      const dg = k >> 4;
      r.add(`s${dg}/${dg}`, 8 + (k & 15) * 8, true, eight, hdr, 0, `s${dg}`);
      expect(r.bufferedBytes).toBeLessThanOrEqual(1 << 20);
    }
    // Payload alone would be 512 KiB; counted with the per-fragment cost it hit the cap.
    expect(r.evicted).toBeGreaterThan(0);
    expect(r.bufferedBytes).toBeGreaterThan((1 << 20) * 0.99);
    // One datagram in 8-byte pieces: refused at maxFragments, not scanned forever.
    const kinds: string[] = [];
    for (let k = 1; k <= 257; k++) kinds.push(r.add('big', k * 8, true, eight, hdr, 0, 'x').kind);
    expect(kinds.slice(0, 256).every((k) => k === 'queued')).toBe(true);
    expect(kinds[256]).toBe('noMemory');
    expect(r.pending).toBeLessThanOrEqual(256);
    // Out-of-order insertion lands in order: reverse arrival completes.
    const r2 = new Reassembler();
    const data = new Uint8Array(800).map((_, i) => i & 255);
    let res: ReturnType<Reassembler['add']> | undefined;
    for (let k = 99; k >= 0; k--)
      res = r2.add('d', k * 8, k !== 99, data.subarray(k * 8, k * 8 + 8), hdr, 0, 'y');
    expect(res?.kind).toBe('complete');
    expect(res && 'payload' in res ? res.payload : undefined).toEqual(data);
  });

  it('caps memory in total', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    // 4 MiB cap: 3000 datagrams × 1480 bytes would be 4.4 MB.
    // The oldest incomplete ones are evicted to make room (a new datagram is never refused).
    for (let k = 0; k < 3000; k++) s.receive(0, frag(k, 0, true, new Uint8Array(1480)), 0);
    expect(s.stats()['ipv4.fragEvicted']).toBeGreaterThan(2000);
    expect(s.stats()['ipv4.reassemblyPending']).toBeLessThanOrEqual(256);
  });
});

describe('UDP sockets', () => {
  it('binds: EADDRINUSE, EADDRNOTAVAIL, EINVAL when bound twice, ephemeral ports in 49152-65535', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    const a = s.udpOpen();
    const b = s.udpOpen();
    expect(s.udpBind(a, undefined, 53)).toBe(0);
    expect(s.udpBind(b, parseIpAddress('192.0.2.2'), 53)).toBe(SocketError.EADDRINUSE);
    expect(s.udpBind(b, parseIpAddress('192.0.2.9'), 54)).toBe(SocketError.EADDRNOTAVAIL);
    expect(s.udpBind(a, undefined, 55)).toBe(SocketError.EINVAL);
    expect(s.udpBind(999, undefined, 55)).toBe(SocketError.EBADF);
    const ports = new Set<number>();
    for (let k = 0; k < 50; k++) {
      const h = s.udpOpen();
      expect(s.udpBind(h, undefined, 0)).toBe(0);
      ports.add(s.udpLocal(h)!.port);
    }
    expect(ports.size).toBe(50);
    expect([...ports].every((p) => p >= 49152 && p <= 65535)).toBe(true);
    s.udpClose(a);
    expect(s.udpBind(b, undefined, 53)).toBe(0);
  });

  it('a bind to 0.0.0.0 is IPv4-only; a bind without an address takes both families', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    s.addAddress(0, '2001:db8::2/64');
    const v4 = s.udpOpen();
    expect(s.udpBind(v4, Ipv4Address.UNSPECIFIED, 500)).toBe(0);
    expect(s.udpSend(v4, new Uint8Array(1), parseIpAddress('2001:db8::1'), 9)).toBe(-SocketError.EINVAL);
    const both = s.udpOpen();
    expect(s.udpBind(both, undefined, 501)).toBe(0);
    const from6 = (port: number) => {
      const l4 = new Uint8Array(9);
      emitUdp(
        l4,
        0,
        7,
        port,
        new Uint8Array(1),
        Ipv6Address.parse('2001:db8::1'),
        Ipv6Address.parse('2001:db8::2'),
      );
      return v6Frame('2001:db8::1', '2001:db8::2', 17, l4);
    };
    s.receive(0, from6(500), 0);
    s.receive(0, from6(501), 0);
    s.receive(0, udp4('192.0.2.1', '192.0.2.2', 7, 500, new Uint8Array(1)), 0);
    expect(s.udpRecv(v4)?.address.toString()).toBe('192.0.2.1');
    expect(s.udpRecv(v4)).toBeUndefined();
    expect(s.udpRecv(both)?.address.toString()).toBe('2001:db8::1');
    expect(s.stats()['udp.noSocket']).toBe(1);
  });

  it('bounds the receive queue and counts drops per socket', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    const h = s.udpOpen({ recvQueueBytes: 250 });
    s.udpBind(h, undefined, 9);
    for (let k = 0; k < 5; k++) s.receive(0, udp4('192.0.2.1', '192.0.2.2', 1, 9, new Uint8Array(100)), 0);
    expect(s.udpDrops(h)).toBe(3);
    expect(s.stats()['udp.recvQueueFull']).toBe(3);
    s.udpRecv(h);
    s.receive(0, udp4('192.0.2.1', '192.0.2.2', 1, 9, new Uint8Array(100)), 0);
    expect(s.udpDrops(h)).toBe(3);
  });

  it('sends EMSGSIZE/EINVAL/EBADF for bad sends, broadcast only when asked', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    const h = s.udpOpen();
    expect(s.udpSend(h, new Uint8Array(65508), parseIpAddress('192.0.2.1'), 9)).toBe(-SocketError.EMSGSIZE);
    expect(s.udpSend(h, new Uint8Array(1), parseIpAddress('192.0.2.1'), 0)).toBe(-SocketError.EINVAL);
    // Linux: EACCES without SO_BROADCAST.
    expect(s.udpSend(h, new Uint8Array(1), parseIpAddress('255.255.255.255'), 9)).toBe(-SocketError.EACCES);
    expect(s.udpSend(h, new Uint8Array(1), parseIpAddress('192.0.2.255'), 9)).toBe(-SocketError.EACCES);
    expect(s.udpSend(77, new Uint8Array(1), parseIpAddress('192.0.2.1'), 9)).toBe(-SocketError.EBADF);
    const b = s.udpOpen({ broadcast: true });
    expect(s.udpSend(b, new Uint8Array(1), parseIpAddress('192.0.2.255'), 9)).toBe(1);
  });

  it('UDP to a multicast group only from a socket opened with multicast: true (issue 14)', () => {
    const { s, out } = host();
    s.addAddress(0, '192.0.2.2/24');
    s.addAddress(0, '2001:db8::2/64');
    s.poll(0);
    out.length = 0;
    const h = s.udpOpen();
    const h6 = s.udpOpen();
    expect(s.udpSend(h, new Uint8Array(1), parseIpAddress('224.0.0.251'), 5353)).toBe(-SocketError.EACCES);
    expect(s.udpSend(h6, new Uint8Array(1), parseIpAddress('ff02::fb'), 5353)).toBe(-SocketError.EACCES);
    s.poll(0);
    expect(out.length).toBe(0);
    const m = s.udpOpen({ multicast: true });
    const m6 = s.udpOpen({ multicast: true });
    expect(s.udpSend(m, new Uint8Array(1), parseIpAddress('224.0.0.251'), 5353)).toBe(1);
    expect(s.udpSend(m6, new Uint8Array(1), parseIpAddress('ff02::fb'), 5353)).toBe(1);
    s.poll(0);
    const dsts = out.map((o) => macToString(o.frame.subarray(0, 6))).sort();
    expect(dsts).toEqual(['01:00:5e:00:00:fb', '33:33:00:00:00:fb']);
  });

  it('a DHCP client: broadcast from 0.0.0.0 before the interface has an address, replies on port 68', () => {
    const { s, out } = host();
    const c = s.udpOpen({ iface: 0, broadcast: true });
    expect(s.udpBind(c, undefined, 68)).toBe(0);
    const other = s.udpOpen(); // no broadcast option: must not see the broadcast
    expect(s.udpBind(other, undefined, 69)).toBe(0);
    expect(s.udpSend(c, enc.encode('DISCOVER'), Ipv4Address.BROADCAST, 67)).toBe(8);
    s.poll(0);
    const f = out.find((o) => isIpv4(o.frame))!.frame;
    expect(macToString(f.subarray(0, 6))).toBe('ff:ff:ff:ff:ff:ff');
    const ip = ipv4Of(f);
    expect([ip.src.toString(), ip.dst.toString()]).toEqual(['0.0.0.0', '255.255.255.255']);
    const udp = UdpPacket.newChecked(ip.payload) as UdpPacket;
    expect([udp.srcPort, udp.dstPort]).toEqual([68, 67]);
    expect(udp.verifyChecksum(ip.src, ip.dst)).toBe(true);
    // The server's broadcast OFFER and a unicast OFFER to the offered address both arrive.
    s.receive(
      0,
      udp4('192.0.2.1', '255.255.255.255', 67, 68, enc.encode('OFFER-b'), parseMac('ff:ff:ff:ff:ff:ff')),
      1,
    );
    s.receive(0, udp4('192.0.2.1', '192.0.2.50', 67, 68, enc.encode('OFFER-u')), 1);
    s.receive(
      0,
      udp4('192.0.2.1', '255.255.255.255', 67, 69, enc.encode('x'), parseMac('ff:ff:ff:ff:ff:ff')),
      1,
    );
    expect(new TextDecoder().decode(s.udpRecv(c)!.data)).toBe('OFFER-b');
    expect(new TextDecoder().decode(s.udpRecv(c)!.data)).toBe('OFFER-u');
    expect(s.udpRecv(other)).toBeUndefined();
    // Unicast to an address that is not ours is not delivered once the interface has one.
    s.addAddress(0, '192.0.2.50/24');
    s.receive(0, udp4('192.0.2.1', '192.0.2.51', 67, 68, enc.encode('late')), 2);
    expect(s.udpRecv(c)).toBeUndefined();
    expect(s.stats()['ipv4.notForUs']).toBe(1);
  });
});

describe('Ethernet filtering', () => {
  it('drops frames for other hosts and VLAN-tagged frames, by name', () => {
    const { s } = host();
    s.addAddress(0, '192.0.2.2/24');
    s.receive(0, udp4('192.0.2.1', '192.0.2.2', 1, 9, new Uint8Array(1), parseMac('02:00:00:00:00:99')), 0);
    const tagged = udp4('192.0.2.1', '192.0.2.2', 1, 9, new Uint8Array(1));
    tagged[12] = 0x81;
    tagged[13] = 0;
    s.receive(0, tagged, 0);
    s.receive(5, tagged, 0);
    expect(s.stats()['eth.otherHost']).toBe(1);
    expect(s.stats()['eth.vlanTagged']).toBe(1);
    expect(s.stats()['stack.badInterface']).toBe(1);
  });
});

describe('TCP over loopback', () => {
  for (const addr of ['127.0.0.1', '::1', '192.0.2.2']) {
    it(`connects to itself via ${addr}`, () => {
      const { s, out } = host();
      s.addAddress(0, '192.0.2.2/24');
      const l = s.tcpOpen();
      expect(s.tcpBind(l, undefined, 8080)).toBe(0);
      expect(s.tcpListen(l, 4)).toBe(0);
      const c = s.tcpOpen();
      expect(s.tcpConnect(c, parseIpAddress(addr), 8080, 0)).toBe(0);
      for (let t = 0; t < 50; t++) if (s.pollAt() <= t) s.poll(t);
      const a = s.tcpAccept(l)!;
      expect(s.tcpInfo(c)?.state).toBe('ESTABLISHED');
      expect(s.tcpSend(c, enc.encode('over loopback'))).toBe(13);
      for (let t = 50; t < 100; t++) if (s.pollAt() <= t) s.poll(t);
      const buf = new Uint8Array(64);
      const n = s.tcpRecv(a, buf);
      expect(new TextDecoder().decode(buf.subarray(0, n))).toBe('over loopback');
      expect(
        out.filter((o) => o.frame[12] !== 0x08 || o.frame[13] !== 0x06).filter((o) => isIpv4(o.frame)).length,
      ).toBe(0);
    });
  }
});

describe('address resolution failure', () => {
  for (const dst of ['192.0.2.9', '2001:db8::9']) {
    it(`fails a TCP connect to an absent neighbour (${dst}) with EHOSTUNREACH after 3 solicitations`, () => {
      const { s } = host();
      s.addAddress(0, '192.0.2.2/24');
      s.addAddress(0, '2001:db8::2/64');
      const events: number[] = [];
      s.setEventHandler((_h, e) => events.push(e));
      const c = s.tcpOpen();
      expect(s.tcpConnect(c, parseIpAddress(dst), 80, 0)).toBe(0);
      for (let t = 0; t <= 2999; t += 100) if (s.pollAt() <= t) s.poll(t);
      expect(s.tcpInfo(c)?.state).toBe('SYN-SENT');
      s.poll(3000);
      expect(s.socketError(c)).toBe(SocketError.EHOSTUNREACH);
      expect(events.some((e) => e & 64)).toBe(true); // SocketEvent.Error
    });
  }
});

describe('link-local destinations with several interfaces', () => {
  it('replies leave on the interface where the neighbour is known', () => {
    const { s, out } = host(2);
    for (let t = 0; t <= 2000; t += 500) s.poll(t);
    out.length = 0;
    const u = s.udpOpen();
    s.udpBind(u, undefined, 7);
    // fe80::a talks to our link-local address on eth1 (it resolves us first, so we learn it).
    const ll1 = s
      .addresses(1)
      .find((a) => a.address.toString().startsWith('fe80'))!
      .address.toString();
    const ns: Icmpv6Repr = { kind: 'neighborSolicit', target: Ipv6Address.parse(ll1), sourceLinkAddr: PEER };
    const mac1 = parseMac('02:00:00:00:00:0c');
    s.receive(1, icmp6('fe80::a', ll1, ns, 255, mac1), 2000);
    const l4 = new Uint8Array(9);
    emitUdp(l4, 0, 5000, 7, new Uint8Array(1), Ipv6Address.parse('fe80::a'), Ipv6Address.parse(ll1));
    s.receive(1, v6Frame('fe80::a', ll1, 17, l4, 64, mac1), 2000);
    const d = s.udpRecv(u)!;
    out.length = 0;
    s.udpSend(u, new Uint8Array(1), d.address, d.port);
    s.poll(2001);
    expect(out.map((o) => o.iface)).toEqual([1]);
    expect(macToString(out[0]!.frame.subarray(0, 6))).toBe(macToString(PEER));
  });
});

describe('IPv6 extension headers we refuse', () => {
  it('answer with Parameter Problem pointing at the offending byte (RFC 8200 §4)', () => {
    const { s, out } = host();
    s.addAddress(0, '2001:db8::2/64');
    const nsFor = (): Icmpv6Repr => ({
      kind: 'neighborAdvert',
      router: false,
      solicited: true,
      override: true,
      target: Ipv6Address.parse('2001:db8::1'),
      targetLinkAddr: PEER,
    });
    const cases: [number, number[], number, number][] = [
      // first next header, extension bytes, expected code, expected pointer
      [60, [17, 0, 0x80, 4, 0, 0, 0, 0], 2, 42], // dest opts with an unknown 10xxxxxx option
      [43, [17, 0, 4, 1, 0, 0, 0, 0], 0, 42], // routing type 4 with segments left 1
      [60, [0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0], 1, 40], // hop-by-hop after dest opts
    ];
    for (const [first, ext, ,] of cases) {
      s.receive(
        0,
        v6Frame('2001:db8::1', '2001:db8::2', first, new Uint8Array([...ext, 0, 1, 0, 7, 0, 8, 0, 0])),
        1,
      );
    }
    s.receive(0, icmp6('2001:db8::1', '2001:db8::2', nsFor(), 255), 2); // resolves the sender: the queue goes out
    const pp = out.map((o) => icmp6Of(o.frame)).filter((r) => r?.kind === 'paramProblem');
    expect(pp.map((r) => r && r.kind === 'paramProblem' && [r.code, r.pointer])).toEqual(
      cases.map((c) => [c[2], c[3]]),
    );
    expect(s.stats()['ipv6.badExtensionHeader']).toBe(3);
  });
});

describe('StackConfig.ip', () => {
  it('tunes neighbour timers, the wait queue and the ICMP error rate', () => {
    const out: Uint8Array[] = [];
    const s = new Stack({
      random: seededRandom(1),
      keyedPrf: sipHash24,
      ip: {
        retransTime: 200,
        maxSolicitations: 2,
        maxPendingPerNeighbor: 2,
        icmpErrorBurst: 3,
        icmpErrorsPerSecond: 1,
      },
    });
    s.addInterface({ name: 'eth0', mac: US, mtu: 1500, transmit: (f) => out.push(f.slice()) });
    s.addAddress(0, '192.0.2.2/24');
    const u = s.udpOpen();
    for (let k = 0; k < 4; k++) s.udpSend(u, new Uint8Array(1), parseIpAddress('192.0.2.1'), 9);
    s.poll(0);
    expect(s.stats()['arp.queueFull']).toBe(2);
    s.poll(200);
    s.poll(400);
    expect(s.stats()['arp.resolveFailed']).toBe(1);
    expect(s.stats()['arp.requestsSent']).toBe(2);
    arpReply(s, 0, '192.0.2.1', '192.0.2.2');
    for (let k = 0; k < 10; k++) s.receive(0, udp4('192.0.2.1', '192.0.2.2', 1, 9, new Uint8Array(1)), 1000);
    expect(s.stats()['icmpv4.errorsSent']).toBe(3);
  });
});

describe('router advertisement floods', () => {
  it('cap SLAAC addresses (16) and RA routes (64)', () => {
    const { s } = host();
    s.enableSlaac(0);
    s.poll(0);
    for (let k = 0; k < 100; k++) {
      const ra: Icmpv6Repr = {
        kind: 'routerAdvert',
        hopLimit: 64,
        managed: false,
        other: false,
        routerLifetime: 1800,
        reachableTime: 0,
        retransTimer: 0,
        options: {
          prefixes: [
            {
              prefixLength: 64,
              onLink: true,
              autonomous: true,
              validLifetime: 3600,
              preferredLifetime: 3600,
              prefix: Ipv6Address.parse(`2001:db8:${k.toString(16)}::`),
            },
          ],
        },
      };
      s.receive(
        0,
        icmp6(`fe80::${(k + 1).toString(16)}`, 'ff02::1', ra, 255, parseMac('33:33:00:00:00:01')),
        1,
      );
    }
    expect(s.addresses(0).filter((a) => a.origin === 'slaac' || a.tentative).length).toBeLessThanOrEqual(17);
    expect(s.stats()['ndp.slaacLimit']).toBe(84);
    expect(s.stats()['ndp.raRouteLimit']).toBeGreaterThan(0);
  });
});

describe('router advertisement parameters', () => {
  it('take the RA Reachable Time and Retrans Timer for NDP (RFC 4861 §6.3.4)', () => {
    const { s, out } = host();
    s.addAddress(0, '2001:db8::2/64');
    s.enableSlaac(0);
    s.poll(0);
    const ra: Icmpv6Repr = {
      kind: 'routerAdvert',
      hopLimit: 64,
      managed: false,
      other: false,
      routerLifetime: 0,
      reachableTime: 5000,
      retransTimer: 300,
      options: { prefixes: [] },
    };
    s.receive(0, icmp6('fe80::1', 'ff02::1', ra, 255, parseMac('33:33:00:00:00:01')), 10);
    const u = s.udpOpen();
    s.udpSend(u, new Uint8Array(1), parseIpAddress('2001:db8::1'), 9);
    out.length = 0;
    s.poll(100);
    const nsAt = (t: number) => {
      s.poll(t);
      return out.filter((o) => icmp6Of(o.frame)?.kind === 'neighborSolicit').length;
    };
    expect(nsAt(100)).toBe(1);
    expect(nsAt(399)).toBe(1);
    expect(nsAt(400)).toBe(2); // 300 ms later, not 1000
    const na: Icmpv6Repr = {
      kind: 'neighborAdvert',
      router: false,
      solicited: true,
      override: true,
      target: Ipv6Address.parse('2001:db8::1'),
      targetLinkAddr: PEER,
    };
    s.receive(0, icmp6('2001:db8::1', '2001:db8::2', na, 255), 500);
    s.poll(5499);
    expect(s.neighbors(0).find((n) => n.address.toString() === '2001:db8::1')?.state).toBe('REACHABLE');
    s.poll(5500);
    expect(s.neighbors(0).find((n) => n.address.toString() === '2001:db8::1')?.state).toBe('STALE');
  });
});

describe('zero-copy output (IpHost.reserve / sendReserved)', () => {
  function ipOnly() {
    const s = new Stack({ random: seededRandom(9), keyedPrf: sipHash24 });
    const sent: Uint8Array[] = [];
    s.addInterface({
      name: 'tun0',
      mac: new Uint8Array(6),
      mtu: 1500,
      medium: 'ip',
      transmit: (p) => void sent.push(p.slice()),
    });
    s.addAddress(0, '192.0.2.2/24');
    s.addAddress(0, '2001:db8::2/64');
    return { s, sent };
  }

  for (const [src, dst] of [
    ['192.0.2.2', '192.0.2.9'],
    ['2001:db8::2', '2001:db8::9'],
  ] as const) {
    it(`sends what the transport wrote into the slot, behind one IP header (${dst})`, () => {
      const { s, sent } = ipOnly();
      const slot = s.host.reserve!(parseIpAddress(src), parseIpAddress(dst), 253, 100, 0);
      expect(slot.segment.length).toBe(100);
      for (let i = 0; i < 100; i++) slot.segment[i] = i;
      expect(s.host.sendReserved!(0)).toBe(true);
      expect(sent).toHaveLength(1);
      const p = sent[0]!;
      const hl = src.includes(':') ? 40 : 20;
      expect(p.length).toBe(hl + 100);
      if (hl === 20) {
        const ip4 = Ipv4Packet.newChecked(p) as Ipv4Packet;
        expect(ip4.verifyChecksum()).toBe(true);
        expect(ip4.protocol).toBe(253);
      } else expect((Ipv6Packet.newChecked(p) as Ipv6Packet).nextHeader).toBe(253);
      expect([...p.subarray(hl, hl + 5)]).toEqual([0, 1, 2, 3, 4]);
    });
  }

  it('falls back to the copying path for loopback, no route and oversized TCP (same counters as sendIp)', () => {
    const { s, sent } = ipOnly();
    const me = parseIpAddress('192.0.2.2');
    s.host.reserve!(me, parseIpAddress('127.0.0.1'), 253, 10, 0).segment.fill(1);
    expect(s.host.sendReserved!(0)).toBe(true);
    expect(s.stats()['loopback.txPackets']).toBe(1);
    s.host.reserve!(me, parseIpAddress('198.51.100.1'), 253, 10, 0);
    expect(s.host.sendReserved!(0)).toBe(false);
    expect(s.stats()['ip.noRoute']).toBe(1);
    s.host.reserve!(me, parseIpAddress('192.0.2.9'), 6, 1481, 0);
    expect(s.host.sendReserved!(0)).toBe(false);
    expect(s.stats()['ipv4.txTooBigDf']).toBe(1);
    expect(sent).toHaveLength(0);
  });
});
