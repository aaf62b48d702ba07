import { describe, expect, it } from 'vitest';
import {
  icmpv6EchoRequest,
  ipv6Fragment1,
  ipv6Fragment2,
  neighborSolicit,
} from '../../test/fixtures/kernel-frames.js';
import { Ipv6Address } from './ip-address.js';
import {
  Ipv6NextHeader,
  Ipv6Packet,
  Ipv6Repr,
  type Ipv6Upper,
  eui64Address,
  multicastMac,
  solicitedNode,
  walkIpv6Extensions,
} from './ipv6.js';

const ip = (f: Uint8Array) => f.slice(14);

/** IPv6 packet with the given extension-header bytes before an 8-byte UDP-ish payload. */
function withExt(first: number, ext: number[]): Uint8Array {
  const payload = new Uint8Array([...ext, 0, 0, 0, 0, 0, 0, 0, 0]);
  const r = new Ipv6Repr(
    Ipv6Address.parse('2001:db8::1'),
    Ipv6Address.parse('2001:db8::2'),
    first,
    payload.length,
  );
  const out = new Uint8Array(40 + payload.length);
  r.emit(out);
  out.set(payload, 40);
  return out;
}

describe('IPv6 (RFC 8200)', () => {
  it('reads the kernel echo request header', () => {
    const p = Ipv6Packet.newChecked(ip(icmpv6EchoRequest)) as Ipv6Packet;
    expect(p.version).toBe(6);
    expect(p.payloadLen).toBe(24);
    expect(p.nextHeader).toBe(58);
    expect(p.hopLimit).toBe(64);
    expect(p.flowLabel).toBe(0x42b01);
    expect(p.src.toString()).toBe('2001:db8::1');
    expect(p.dst.toString()).toBe('2001:db8::2');
  });
  it('parse + emit reproduces the header (flow label aside)', () => {
    const b = ip(neighborSolicit);
    const r = Ipv6Repr.parse(Ipv6Packet.newChecked(b) as Ipv6Packet);
    const out = new Uint8Array(40);
    r.emit(out);
    expect(out).toEqual(b.subarray(0, 40)); // the NS has flow label 0
    expect(r.hopLimit).toBe(255);
  });
  it('refuses truncated and wrong-version packets', () => {
    const b = ip(icmpv6EchoRequest);
    expect(Ipv6Packet.newChecked(b.subarray(0, 39))).toBe('truncated');
    expect(Ipv6Packet.newChecked(b.subarray(0, 63))).toBe('truncated');
    const v4 = b.slice();
    v4[0] = 0x45;
    expect(Ipv6Packet.newChecked(v4)).toBe('malformed');
  });
  it('walks to the fragment header of the kernel fragments', () => {
    const a = Ipv6Packet.newChecked(ip(ipv6Fragment1)) as Ipv6Packet;
    const wa = walkIpv6Extensions(a.payload, a.nextHeader) as Ipv6Upper;
    expect(wa.protocol).toBe(58);
    expect(wa.offset).toBe(8);
    expect(wa.fragment).toMatchObject({ offset: 0, more: true, ident: 0x33657c3b, headerOffset: 0 });
    const b = Ipv6Packet.newChecked(ip(ipv6Fragment2)) as Ipv6Packet;
    const wb = walkIpv6Extensions(b.payload, b.nextHeader) as Ipv6Upper;
    expect(wb.fragment).toMatchObject({ offset: 1448, more: false, ident: 0x33657c3b });
    expect(a.payload.length - 8 + b.payload.length - 8).toBe(2008);
  });
  it('walks hop-by-hop, destination options and routing (segments left 0)', () => {
    const hbh = [Ipv6NextHeader.DestOpts, 0, 5, 2, 0, 0, 1, 0]; // router alert, PadN(0)
    const dst = [Ipv6NextHeader.Routing, 0, 1, 4, 0, 0, 0, 0];
    const rt = [Ipv6NextHeader.Udp, 0, 4, 0, 0, 0, 0, 0];
    const pkt = withExt(Ipv6NextHeader.HopByHop, [...hbh, ...dst, ...rt]);
    const p = Ipv6Packet.newChecked(pkt) as Ipv6Packet;
    const w = walkIpv6Extensions(p.payload, p.nextHeader) as Ipv6Upper;
    expect(w.protocol).toBe(17);
    expect(w.offset).toBe(24);
    expect(w.lastHeaderOffset).toBe(16);
    expect(w.fragment).toBeUndefined();
  });
  it('refuses hop-by-hop after another header, discard-type unknown options, routing with segments left', () => {
    const dst = [Ipv6NextHeader.HopByHop, 0, 1, 4, 0, 0, 0, 0];
    const hbh = [Ipv6NextHeader.Udp, 0, 1, 4, 0, 0, 0, 0];
    let p = Ipv6Packet.newChecked(withExt(Ipv6NextHeader.DestOpts, [...dst, ...hbh])) as Ipv6Packet;
    expect(walkIpv6Extensions(p.payload, p.nextHeader)).toBe('hopByHopNotFirst');
    // Option type 0x80 (action 10: discard + ICMP).
    p = Ipv6Packet.newChecked(withExt(Ipv6NextHeader.DestOpts, [17, 0, 0x80, 4, 0, 0, 0, 0])) as Ipv6Packet;
    expect(walkIpv6Extensions(p.payload, p.nextHeader)).toBe('unknownOption');
    // Option type 0x1e (action 00: skip) is fine.
    p = Ipv6Packet.newChecked(withExt(Ipv6NextHeader.DestOpts, [17, 0, 0x1e, 4, 0, 0, 0, 0])) as Ipv6Packet;
    expect((walkIpv6Extensions(p.payload, p.nextHeader) as Ipv6Upper).protocol).toBe(17);
    p = Ipv6Packet.newChecked(withExt(Ipv6NextHeader.Routing, [17, 0, 4, 1, 0, 0, 0, 0])) as Ipv6Packet;
    expect(walkIpv6Extensions(p.payload, p.nextHeader)).toBe('routingSegmentsLeft');
    // Header length running past the payload.
    p = Ipv6Packet.newChecked(withExt(Ipv6NextHeader.DestOpts, [17, 3, 1, 4, 0, 0, 0, 0])) as Ipv6Packet;
    expect(walkIpv6Extensions(p.payload, p.nextHeader)).toBe('truncated');
    // Option running past its header.
    p = Ipv6Packet.newChecked(withExt(Ipv6NextHeader.DestOpts, [17, 0, 1, 9, 0, 0, 0, 0])) as Ipv6Packet;
    expect(walkIpv6Extensions(p.payload, p.nextHeader)).toBe('malformed');
  });
  it('maps addresses to solicited-node groups, 33:33 MACs and EUI-64', () => {
    const a = Ipv6Address.parse('2001:db8::2');
    expect(solicitedNode(a).toString()).toBe('ff02::1:ff00:2');
    expect(Array.from(multicastMac(solicitedNode(a)))).toEqual([0x33, 0x33, 0xff, 0, 0, 2]);
    // The kernel NS went to 33:33:ff:00:00:02.
    expect(Array.from(neighborSolicit.subarray(0, 6))).toEqual([0x33, 0x33, 0xff, 0, 0, 2]);
    const mac = new Uint8Array([2, 0, 0, 0, 0, 0x0a]);
    expect(eui64Address(Ipv6Address.parse('fe80::').bytes, mac).toString()).toBe('fe80::ff:fe00:a');
  });
});
