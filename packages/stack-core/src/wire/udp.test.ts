import { describe, expect, it } from 'vitest';
import { udp4, udp6ClosedPort } from '../../test/fixtures/kernel-frames.js';
import { Ipv4Address } from './ip-address.js';
import { Ipv4Packet } from './ipv4.js';
import { Ipv6Packet } from './ipv6.js';
import { UdpPacket, UdpRepr, emitUdp } from './udp.js';

describe('UDP (RFC 768)', () => {
  const ip4 = Ipv4Packet.newChecked(udp4.slice(14)) as Ipv4Packet;
  const ip6 = Ipv6Packet.newChecked(udp6ClosedPort.slice(14)) as Ipv6Packet;

  it('parses the kernel datagrams and verifies their checksums', () => {
    const u = UdpPacket.newChecked(ip4.payload) as UdpPacket;
    expect([u.srcPort, u.dstPort, u.length]).toEqual([40000, 5000, 13]);
    expect(new TextDecoder().decode(u.payload)).toBe('hello');
    expect(UdpRepr.parse(u, ip4.src, ip4.dst)).toEqual(new UdpRepr(40000, 5000));
    const u6 = UdpPacket.newChecked(ip6.payload) as UdpPacket;
    expect(UdpRepr.parse(u6, ip6.src, ip6.dst)).toEqual(new UdpRepr(40002, 9999));
  });
  it('emit reproduces the kernel bytes (checksum included)', () => {
    for (const ip of [ip4, ip6]) {
      const u = UdpPacket.newChecked(ip.payload) as UdpPacket;
      const out = new Uint8Array(u.length);
      emitUdp(out, 0, u.srcPort, u.dstPort, u.payload, ip.src, ip.dst);
      expect(out).toEqual(ip.payload);
    }
  });
  it('accepts a zero checksum over IPv4 only (RFC 8200 §8.1)', () => {
    const b = ip4.payload.slice();
    b[6] = 0;
    b[7] = 0;
    expect(UdpRepr.parse(UdpPacket.newChecked(b) as UdpPacket, ip4.src, ip4.dst)).toEqual(
      new UdpRepr(40000, 5000),
    );
    const c = ip6.payload.slice();
    c[6] = 0;
    c[7] = 0;
    expect(UdpRepr.parse(UdpPacket.newChecked(c) as UdpPacket, ip6.src, ip6.dst)).toBe('badChecksum');
  });
  it('refuses truncated, bad lengths and bad checksums', () => {
    expect(UdpPacket.newChecked(ip4.payload.subarray(0, 7))).toBe('truncated');
    const long = ip4.payload.slice();
    long[5] = 200;
    expect(UdpPacket.newChecked(long)).toBe('truncated');
    const short = ip4.payload.slice();
    short[5] = 4;
    expect(UdpPacket.newChecked(short)).toBe('malformed');
    const flip = ip4.payload.slice();
    flip[9] = flip[9]! ^ 0xff;
    expect(UdpRepr.parse(UdpPacket.newChecked(flip) as UdpPacket, ip4.src, ip4.dst)).toBe('badChecksum');
    const wrongSrc = Ipv4Address.parse('192.0.2.9');
    expect(UdpRepr.parse(UdpPacket.newChecked(ip4.payload) as UdpPacket, wrongSrc, ip4.dst)).toBe(
      'badChecksum',
    );
  });
  it('sends 0xffff when the computed checksum is zero', () => {
    // Find a payload whose checksum computes to 0 by adjusting two bytes.
    const src = Ipv4Address.parse('192.0.2.1');
    const dst = Ipv4Address.parse('192.0.2.2');
    const out = new Uint8Array(10);
    for (let v = 0; v < 65536; v++) {
      emitUdp(out, 0, 1, 2, new Uint8Array([v >> 8, v & 0xff]), src, dst);
      if (out[6] === 0xff && out[7] === 0xff) {
        expect((UdpPacket.newChecked(out) as UdpPacket).verifyChecksum(src, dst)).toBe(true);
        return;
      }
    }
    throw new Error('no zero-checksum payload found');
  });
});
