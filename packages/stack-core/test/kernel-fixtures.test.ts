/**
 * The stack answers the Linux kernel's own frames the way the kernel answered them:
 * stack "B" (02:00:00:00:00:0b, 192.0.2.2, 2001:db8::2) receives what kernel A sent and
 * must produce what kernel B sent, byte for byte except fields that legitimately differ
 * (IPv4 Identification and header checksum, IPv6 flow label, TOS of ICMP errors).
 */
import { describe, expect, it } from 'vitest';
import { Stack } from '../src/stack.js';
import { parseMac } from '../src/wire/ethernet.js';
import * as K from './fixtures/kernel-frames.js';
import { seededRandom } from './harness.js';
import { sipHash24 } from '@tapstack/testkit/prf';

function stackB(mac = '02:00:00:00:00:0b') {
  const out: Uint8Array[] = [];
  const s = new Stack({ random: seededRandom(9), keyedPrf: sipHash24 });
  const i = s.addInterface({
    name: 'vB',
    mac: parseMac(mac),
    mtu: 1500,
    transmit: (f) => out.push(f.slice()),
  });
  s.addAddress(i, '192.0.2.2/24');
  s.addAddress(i, '2001:db8::2/64');
  s.poll(0);
  out.length = 0; // the gratuitous ARP
  return { s, i, out };
}

/** Copies with the given byte ranges zeroed. */
function mask(f: Uint8Array, ranges: [number, number][]): Uint8Array {
  const c = f.slice();
  for (const [a, b] of ranges) c.fill(0, a, b);
  return c;
}
const V4_ID_CK: [number, number][] = [
  [18, 20],
  [24, 26],
];
const V6_FLOW: [number, number][] = [[15, 18]];

describe('answers like the Linux kernel', () => {
  it('ARP request → the same ARP reply', () => {
    const { s, i, out } = stackB();
    s.receive(i, K.arpRequest, 0);
    expect(out).toEqual([K.arpReply]);
    expect(s.neighbors(i)[0]).toMatchObject({ state: 'STALE' });
  });
  it('echo request → the same echo reply', () => {
    const { s, i, out } = stackB();
    s.receive(i, K.arpRequest, 0);
    out.length = 0;
    s.receive(i, K.icmpv4EchoRequest, 1);
    expect(out.length).toBe(1);
    expect(mask(out[0]!, V4_ID_CK)).toEqual(mask(K.icmpv4EchoReply, V4_ID_CK));
  });
  it('neighbour solicitation → the same advertisement; ICMPv6 echo → the same reply', () => {
    const { s, i, out } = stackB();
    s.receive(i, K.neighborSolicit, 0);
    expect(out.map((f) => mask(f, V6_FLOW))).toEqual([mask(K.neighborAdvert, V6_FLOW)]);
    out.length = 0;
    s.receive(i, K.icmpv6EchoRequest, 1);
    expect(out.map((f) => mask(f, V6_FLOW))).toEqual([mask(K.icmpv6EchoReply, V6_FLOW)]);
  });
  it('UDP to a bound port is delivered with its source', () => {
    const { s, i } = stackB();
    const h = s.udpOpen();
    s.udpBind(h, undefined, 5000);
    s.receive(i, K.arpRequest, 0);
    s.receive(i, K.udp4, 0);
    const d = s.udpRecv(h)!;
    expect(new TextDecoder().decode(d.data)).toBe('hello');
    expect(`${d.address}:${d.port}`).toBe('192.0.2.1:40000');
  });
  it('UDP to closed ports → the same port unreachables (v4 and v6)', () => {
    const { s, i, out } = stackB();
    s.receive(i, K.arpRequest, 0);
    s.receive(i, K.neighborSolicit, 0);
    out.length = 0;
    s.receive(i, K.udp4ClosedPort, 1);
    s.receive(i, K.udp6ClosedPort, 1);
    expect(out.length).toBe(2);
    const tos: [number, number][] = [[15, 16], ...V4_ID_CK];
    expect(mask(out[0]!, tos)).toEqual(mask(K.icmpv4PortUnreachable, tos));
    expect(mask(out[1]!, V6_FLOW)).toEqual(mask(K.icmpv6PortUnreachable, V6_FLOW));
  });
  it('fragmented pings are reassembled and answered in fragments of the same sizes', () => {
    const { s, i, out } = stackB();
    s.receive(i, K.arpRequest, 0);
    s.receive(i, K.neighborSolicit, 0);
    out.length = 0;
    s.receive(i, K.ipv4Fragment1, 1);
    s.receive(i, K.ipv4Fragment2, 1);
    s.receive(i, K.ipv6Fragment1, 1);
    s.receive(i, K.ipv6Fragment2, 1);
    expect(out.map((f) => f.length)).toEqual([1514, 562, 1510, 622]);
    expect(mask(out[0]!, V4_ID_CK)).toEqual(mask(K.ipv4ReplyFragment1, V4_ID_CK));
    expect(mask(out[1]!, V4_ID_CK)).toEqual(mask(K.ipv4ReplyFragment2, V4_ID_CK));
    const v6: [number, number][] = [...V6_FLOW, [58, 62]]; // flow label, fragment Identification
    expect(mask(out[2]!, v6)).toEqual(mask(K.ipv6ReplyFragment1, v6));
    expect(mask(out[3]!, v6)).toEqual(mask(K.ipv6ReplyFragment2, v6));
    expect(s.stats()['ipv4.reassembled']).toBe(1);
    expect(s.stats()['ipv6.reassembled']).toBe(1);
  });
  it('a kernel DAD probe for our tentative link-local address makes DAD fail', () => {
    const { s, i } = stackB('02:00:00:00:00:0a'); // same MAC as kernel A → same fe80::ff:fe00:a
    expect(s.addresses(i).some((a) => a.address.toString() === 'fe80::ff:fe00:a' && a.tentative)).toBe(true);
    s.receive(i, K.dadNeighborSolicit, 0);
    expect(s.addresses(i).some((a) => a.address.toString() === 'fe80::ff:fe00:a')).toBe(false);
    expect(s.stats()['ndp.dadFailed']).toBe(1);
  });
  it('router solicitations and MLD reports are not for a host', () => {
    const { s, i, out } = stackB();
    s.receive(i, K.routerSolicit, 0);
    s.receive(i, K.mldReport, 0);
    expect(out).toEqual([]);
    expect((s.stats()['stack.rxAccepted'] ?? 0) + (s.stats()['stack.rxDropped'] ?? 0)).toBe(2);
    // A host is in neither ff02::2 (all routers, where RS go) nor ff02::16 (MLDv2 reports).
    expect(s.stats()['ipv6.notForUs']).toBe(2);
  });
});
