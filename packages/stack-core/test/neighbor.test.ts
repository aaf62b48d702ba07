/**
 * ARP (RFC 826) and NDP (RFC 4861 §7.3) neighbour state with explicit time: resolution
 * and its retries, the bounded wait queue, REACHABLE → STALE → DELAY → PROBE, gratuitous
 * ARP, and the NS/NA rules of §7.2.5.
 */
import { describe, expect, it } from 'vitest';
import { Stack } from '../src/stack.js';
import { ArpOperation, ArpPacket, ArpRepr } from '../src/wire/arp.js';
import { macToString, parseMac } from '../src/wire/ethernet.js';
import {
  type Icmpv6Repr,
  Icmpv6Packet,
  emitIcmpv6,
  icmpv6BufferLen,
  parseIcmpv6,
} from '../src/wire/icmpv6.js';
import { Ipv4Address, Ipv6Address } from '../src/wire/ip-address.js';
import { Ipv6Packet, emitIpv6Header } from '../src/wire/ipv6.js';
import { seededRandom } from './harness.js';
import { sipHash24 } from '@tapstack/testkit/prf';

const US = '02:00:00:00:00:0b';
const PEER = '02:00:00:00:00:0a';

function host() {
  const out: Uint8Array[] = [];
  const s = new Stack({ random: seededRandom(5), keyedPrf: sipHash24 });
  const i = s.addInterface({
    name: 'eth0',
    mac: parseMac(US),
    mtu: 1500,
    transmit: (f) => out.push(f.slice()),
  });
  s.addAddress(i, '192.0.2.2/24');
  s.addAddress(i, '2001:db8::2/64');
  const u = s.udpOpen();
  s.udpBind(u, undefined, 1000);
  return { s, i, out, u };
}

function arpFrame(op: number, sha: string, spa: string, tha: string, tpa: string, dst = 'ff:ff:ff:ff:ff:ff') {
  const f = new Uint8Array(42);
  f.set(parseMac(dst), 0);
  f.set(parseMac(sha), 6);
  f[12] = 0x08;
  f[13] = 0x06;
  new ArpRepr(op, parseMac(sha), Ipv4Address.parse(spa), parseMac(tha), Ipv4Address.parse(tpa)).emit(f, 14);
  return f;
}

function arpOf(f: Uint8Array): ArpRepr | undefined {
  if (f[12] !== 0x08 || f[13] !== 0x06) return undefined;
  return ArpRepr.parse(ArpPacket.newChecked(f.subarray(14)) as ArpPacket) as ArpRepr;
}

function ndpFrame(src: string, dst: string, dstMac: string, r: Icmpv6Repr, srcMac = PEER): Uint8Array {
  const s6 = Ipv6Address.parse(src);
  const d6 = Ipv6Address.parse(dst);
  const n = icmpv6BufferLen(r);
  const f = new Uint8Array(54 + n);
  f.set(parseMac(dstMac), 0);
  f.set(parseMac(srcMac), 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  emitIpv6Header(f, 14, s6, d6, 58, n, 255);
  emitIcmpv6(f, 54, r, s6, d6);
  return f;
}

function icmpv6Of(f: Uint8Array) {
  if (f[12] !== 0x86 || f[13] !== 0xdd) return undefined;
  const ip = Ipv6Packet.newChecked(f.subarray(14)) as Ipv6Packet;
  if (ip.nextHeader !== 58) return undefined;
  const r = parseIcmpv6(Icmpv6Packet.newChecked(ip.payload) as Icmpv6Packet, ip.src, ip.dst, ip.hopLimit);
  return { ip, r: r as Icmpv6Repr, dstMac: macToString(f.subarray(0, 6)) };
}

const state = (s: Stack, addr: string) => s.neighbors(0).find((n) => n.address.toString() === addr)?.state;
const send = (s: Stack, u: number, dst: string, n = 1) => {
  for (let k = 0; k < n; k++)
    s.udpSend(u, new Uint8Array([k]), dst.includes(':') ? Ipv6Address.parse(dst) : Ipv4Address.parse(dst), 7);
};

describe('ARP', () => {
  it('announces a new address with a gratuitous ARP on the next poll', () => {
    const { s, out } = host();
    expect(s.pollAt()).toBe(0);
    s.poll(0);
    const g = out.map(arpOf).filter((x) => x !== undefined);
    expect(g.length).toBe(1);
    expect(g[0]!.operation).toBe(ArpOperation.Request);
    expect(g[0]!.senderProtocolAddr.toString()).toBe('192.0.2.2');
    expect(g[0]!.targetProtocolAddr.toString()).toBe('192.0.2.2');
    expect(macToString(out[0]!.subarray(0, 6))).toBe('ff:ff:ff:ff:ff:ff');
  });

  it('retries an unanswered request 3 times at 1 s intervals, then drops the queue', () => {
    const { s, out, u } = host();
    s.poll(0);
    out.length = 0;
    send(s, u, '192.0.2.1', 3);
    s.poll(0);
    expect(out.map(arpOf).filter(Boolean).length).toBe(1);
    expect(state(s, '192.0.2.1')).toBe('INCOMPLETE');
    expect(s.pollAt()).toBe(1000);
    const arps = () => out.filter((f) => arpOf(f) !== undefined);
    s.poll(999);
    expect(arps().length).toBe(1);
    s.poll(1000);
    s.poll(2000);
    expect(arps().length).toBe(3);
    expect(arps().every((f) => arpOf(f)?.targetProtocolAddr.toString() === '192.0.2.1')).toBe(true);
    s.poll(3000);
    expect(arps().length).toBe(3);
    expect(state(s, '192.0.2.1')).toBeUndefined();
    expect(s.stats()['arp.resolveFailed']).toBe(1);
    expect(s.stats()['arp.queueDropped']).toBe(3);
  });

  it('bounds the wait queue (32 packets) and counts the overflow', () => {
    const { s, out, u } = host();
    s.poll(0);
    out.length = 0;
    send(s, u, '192.0.2.1', 40);
    s.poll(0);
    expect(s.stats()['arp.queueFull']).toBe(8);
    expect(s.stats()['udp.txDropped']).toBe(8);
    // The reply releases the 32 queued packets, in order.
    s.receive(0, arpFrame(ArpOperation.Reply, PEER, '192.0.2.1', US, '192.0.2.2', US), 10);
    const sent = out.filter((f) => f[12] === 0x08 && f[13] === 0x00);
    expect(sent.length).toBe(32);
    expect(sent.map((f) => f[42])).toEqual([...Array(32).keys()]);
    expect(sent.every((f) => macToString(f.subarray(0, 6)) === PEER)).toBe(true);
    expect(state(s, '192.0.2.1')).toBe('REACHABLE');
  });

  it('REACHABLE → STALE after 30 s; use → DELAY; 5 s later unicast probes; no answer → gone', () => {
    const { s, out, u } = host();
    s.poll(0);
    send(s, u, '192.0.2.1');
    s.poll(0);
    s.receive(0, arpFrame(ArpOperation.Reply, PEER, '192.0.2.1', US, '192.0.2.2', US), 0);
    expect(state(s, '192.0.2.1')).toBe('REACHABLE');
    s.poll(29_999);
    expect(state(s, '192.0.2.1')).toBe('REACHABLE');
    s.poll(30_000);
    expect(state(s, '192.0.2.1')).toBe('STALE');
    out.length = 0;
    send(s, u, '192.0.2.1');
    s.poll(31_000);
    expect(out.length).toBe(1); // a STALE entry is still used
    expect(state(s, '192.0.2.1')).toBe('DELAY');
    expect(s.pollAt()).toBe(36_000);
    out.length = 0;
    s.poll(36_000);
    expect(state(s, '192.0.2.1')).toBe('PROBE');
    const probe = arpOf(out[0]!)!;
    expect(probe.targetProtocolAddr.toString()).toBe('192.0.2.1');
    expect(macToString(out[0]!.subarray(0, 6))).toBe(PEER); // unicast refresh
    s.poll(37_000);
    s.poll(38_000);
    expect(out.length).toBe(3);
    s.poll(39_000);
    expect(state(s, '192.0.2.1')).toBeUndefined();
  });

  it('a reply during PROBE makes the entry REACHABLE again', () => {
    const { s, u } = host();
    s.poll(0);
    send(s, u, '192.0.2.1');
    s.poll(0);
    s.receive(0, arpFrame(ArpOperation.Reply, PEER, '192.0.2.1', US, '192.0.2.2', US), 0);
    s.poll(30_000);
    send(s, u, '192.0.2.1');
    s.poll(30_000);
    s.poll(35_000);
    expect(state(s, '192.0.2.1')).toBe('PROBE');
    s.receive(0, arpFrame(ArpOperation.Reply, PEER, '192.0.2.1', US, '192.0.2.2', US), 35_100);
    expect(state(s, '192.0.2.1')).toBe('REACHABLE');
  });

  it('answers requests for our address only, and learns only from those (RFC 826 merge)', () => {
    const { s, out } = host();
    s.poll(0);
    out.length = 0;
    s.receive(0, arpFrame(ArpOperation.Request, PEER, '192.0.2.1', '00:00:00:00:00:00', '192.0.2.99'), 0);
    expect(out.length).toBe(0);
    expect(state(s, '192.0.2.1')).toBeUndefined();
    s.receive(0, arpFrame(ArpOperation.Request, PEER, '192.0.2.1', '00:00:00:00:00:00', '192.0.2.2'), 0);
    expect(out.length).toBe(1);
    const r = arpOf(out[0]!)!;
    expect(r.operation).toBe(ArpOperation.Reply);
    expect(macToString(r.senderHardwareAddr)).toBe(US);
    expect(state(s, '192.0.2.1')).toBe('STALE');
    // A gratuitous ARP from the neighbour with a new MAC updates the entry.
    s.receive(
      0,
      arpFrame(ArpOperation.Request, '02:00:00:00:00:99', '192.0.2.1', '00:00:00:00:00:00', '192.0.2.1'),
      1,
    );
    expect(macToString(s.neighbors(0).find((n) => n.address.toString() === '192.0.2.1')!.mac!)).toBe(
      '02:00:00:00:00:99',
    );
  });

  it('counts a conflicting claim on our address and drops broadcast senders', () => {
    const { s } = host();
    s.receive(0, arpFrame(ArpOperation.Request, PEER, '192.0.2.2', '00:00:00:00:00:00', '192.0.2.2'), 0);
    expect(s.stats()['arp.addressConflict']).toBe(1);
    s.receive(
      0,
      arpFrame(ArpOperation.Request, 'ff:ff:ff:ff:ff:ff', '192.0.2.1', '00:00:00:00:00:00', '192.0.2.2'),
      0,
    );
    expect(s.stats()['arp.badSender']).toBe(1);
  });
});

describe('NDP neighbour cache', () => {
  const na = (
    target: string,
    mac: string | undefined,
    solicited: boolean,
    override: boolean,
  ): Icmpv6Repr => ({
    kind: 'neighborAdvert',
    router: false,
    solicited,
    override,
    target: Ipv6Address.parse(target),
    targetLinkAddr: mac ? parseMac(mac) : undefined,
  });

  it('solicits via the solicited-node group, becomes REACHABLE on a solicited NA and flushes', () => {
    const { s, out, u } = host();
    s.poll(0);
    out.length = 0;
    send(s, u, '2001:db8::1', 2);
    s.poll(0);
    const ns = icmpv6Of(out[0]!)!;
    expect(ns.r).toMatchObject({ kind: 'neighborSolicit' });
    expect(ns.ip.dst.toString()).toBe('ff02::1:ff00:1');
    expect(ns.dstMac).toBe('33:33:ff:00:00:01');
    expect(ns.ip.hopLimit).toBe(255);
    expect(state(s, '2001:db8::1')).toBe('INCOMPLETE');
    out.length = 0;
    s.receive(0, ndpFrame('2001:db8::1', '2001:db8::2', US, na('2001:db8::1', PEER, true, true)), 5);
    expect(state(s, '2001:db8::1')).toBe('REACHABLE');
    expect(out.length).toBe(2);
    expect(out.every((f) => macToString(f.subarray(0, 6)) === PEER)).toBe(true);
  });

  it('applies the RFC 4861 §7.2.5 override rules', () => {
    const { s, u } = host();
    send(s, u, '2001:db8::1');
    s.poll(0);
    // An NA without a link-layer address cannot complete an INCOMPLETE entry.
    s.receive(0, ndpFrame('2001:db8::1', '2001:db8::2', US, na('2001:db8::1', undefined, true, true)), 1);
    expect(state(s, '2001:db8::1')).toBe('INCOMPLETE');
    s.receive(0, ndpFrame('2001:db8::1', '2001:db8::2', US, na('2001:db8::1', PEER, true, false)), 1);
    expect(state(s, '2001:db8::1')).toBe('REACHABLE');
    // Different MAC without override: REACHABLE → STALE, MAC kept.
    s.receive(
      0,
      ndpFrame('2001:db8::1', '2001:db8::2', US, na('2001:db8::1', '02:00:00:00:00:77', false, false)),
      2,
    );
    let e = s.neighbors(0).find((n) => n.address.toString() === '2001:db8::1')!;
    expect([e.state, macToString(e.mac!)]).toEqual(['STALE', PEER]);
    // Different MAC with override, unsolicited: MAC replaced, STALE.
    s.receive(
      0,
      ndpFrame('2001:db8::1', '2001:db8::2', US, na('2001:db8::1', '02:00:00:00:00:77', false, true)),
      3,
    );
    e = s.neighbors(0).find((n) => n.address.toString() === '2001:db8::1')!;
    expect([e.state, macToString(e.mac!)]).toEqual(['STALE', '02:00:00:00:00:77']);
  });

  it('STALE → DELAY → PROBE with unicast NS to the cached MAC', () => {
    const { s, out, u } = host();
    send(s, u, '2001:db8::1');
    s.poll(0);
    s.receive(0, ndpFrame('2001:db8::1', '2001:db8::2', US, na('2001:db8::1', PEER, true, true)), 0);
    s.poll(30_000);
    expect(state(s, '2001:db8::1')).toBe('STALE');
    send(s, u, '2001:db8::1');
    s.poll(30_000);
    expect(state(s, '2001:db8::1')).toBe('DELAY');
    out.length = 0;
    s.poll(35_000);
    expect(state(s, '2001:db8::1')).toBe('PROBE');
    const ns = icmpv6Of(out[0]!)!;
    expect(ns.r).toMatchObject({ kind: 'neighborSolicit' });
    expect(ns.ip.dst.toString()).toBe('2001:db8::1');
    expect(ns.dstMac).toBe(PEER);
  });

  it('answers an NS for our address with a solicited NA and learns the sender', () => {
    const { s, out } = host();
    const ns: Icmpv6Repr = {
      kind: 'neighborSolicit',
      target: Ipv6Address.parse('2001:db8::2'),
      sourceLinkAddr: parseMac(PEER),
    };
    s.receive(0, ndpFrame('2001:db8::1', 'ff02::1:ff00:2', '33:33:ff:00:00:02', ns), 0);
    const a = icmpv6Of(out[0]!)!;
    expect(a.r).toMatchObject({ kind: 'neighborAdvert', solicited: true, override: true });
    expect(a.ip.dst.toString()).toBe('2001:db8::1');
    expect(state(s, '2001:db8::1')).toBe('STALE');
    // An NS for someone else's address is not answered.
    out.length = 0;
    s.receive(
      0,
      ndpFrame('2001:db8::1', 'ff02::1:ff00:3', '33:33:ff:00:00:03', {
        ...ns,
        target: Ipv6Address.parse('2001:db8::3'),
      }),
      0,
    );
    expect(out.length).toBe(0);
  });
});

describe('MLDv2 (RFC 3810) for the solicited-node groups', () => {
  const reports = (out: Uint8Array[]) =>
    out.filter((f) => f[12] === 0x86 && f[13] === 0xdd && f[20] === 0 && f[54] === 58 && f[62] === 143);

  it('reports the solicited-node groups twice, 1 s apart, with hop limit 1 and Router Alert', () => {
    const { s, out } = host();
    s.poll(0);
    let r = reports(out);
    expect(r.length).toBe(1);
    const f = r[0]!;
    expect(macToString(f.subarray(0, 6))).toBe('33:33:00:00:00:16');
    const ip = Ipv6Packet.newChecked(f.subarray(14)) as Ipv6Packet;
    expect(ip.hopLimit).toBe(1);
    expect(ip.dst.toString()).toBe('ff02::16');
    expect(ip.src.toString()).toBe('::'); // the link-local address is still tentative
    expect(Array.from(ip.payload.subarray(0, 8))).toEqual([58, 0, 5, 2, 0, 0, 1, 0]);
    const body = ip.payload.subarray(8);
    const rep = parseIcmpv6(Icmpv6Packet.newChecked(body) as Icmpv6Packet, ip.src, ip.dst, 1) as Icmpv6Repr;
    expect(rep.kind).toBe('mldReport');
    if (rep.kind !== 'mldReport') return;
    expect(rep.records.map((x) => `${x.type} ${x.group}`).sort()).toEqual([
      '4 ff02::1:ff00:2',
      '4 ff02::1:ff00:b',
    ]);
    s.poll(999);
    expect(reports(out).length).toBe(1);
    s.poll(1000);
    r = reports(out);
    expect(r.length).toBe(2);
    expect((Ipv6Packet.newChecked(r[1]!.subarray(14)) as Ipv6Packet).src.toString()).toBe('fe80::ff:fe00:b');
    s.poll(5000);
    expect(reports(out).length).toBe(2);
  });

  it('answers a general query within its maximum response delay', () => {
    const { s, out } = host();
    for (let t = 0; t <= 2000; t += 500) s.poll(t);
    out.length = 0;
    const q: Icmpv6Repr = { kind: 'mldQuery', maxResponseDelay: 1000, group: Ipv6Address.UNSPECIFIED };
    const n = icmpv6BufferLen(q);
    const f = new Uint8Array(54 + 8 + n);
    f.set(parseMac('33:33:00:00:00:01'), 0);
    f.set(parseMac(PEER), 6);
    f[12] = 0x86;
    f[13] = 0xdd;
    const src = Ipv6Address.parse('fe80::1');
    emitIpv6Header(f, 14, src, Ipv6Address.ALL_NODES, 0, 8 + n, 1);
    f.set([58, 0, 5, 2, 0, 0, 1, 0], 54);
    emitIcmpv6(f, 62, q, src, Ipv6Address.ALL_NODES);
    s.receive(0, f, 3000);
    expect(s.stats()['mld.queries']).toBe(1);
    expect(s.pollAt()).toBeLessThan(4000);
    s.poll(4000);
    const r = reports(out);
    expect(r.length).toBe(1);
    const ip = Ipv6Packet.newChecked(r[0]!.subarray(14)) as Ipv6Packet;
    const rep = parseIcmpv6(
      Icmpv6Packet.newChecked(ip.payload.subarray(8)) as Icmpv6Packet,
      ip.src,
      ip.dst,
      1,
    );
    expect(rep).toMatchObject({ kind: 'mldReport' });
    if (typeof rep === 'object' && rep.kind === 'mldReport')
      expect(rep.records.every((x) => x.type === 2)).toBe(true);
  });
});
