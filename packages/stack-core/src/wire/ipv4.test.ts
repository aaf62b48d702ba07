import { describe, expect, it } from 'vitest';
import { icmpv4EchoRequest, ipv4Fragment1, ipv4Fragment2, udp4 } from '../../test/fixtures/kernel-frames.js';
import { internetChecksum } from './checksum.js';
import { Ipv4Address } from './ip-address.js';
import { Ipv4Packet, Ipv4Repr } from './ipv4.js';

const ip = (f: Uint8Array) => f.slice(14);

describe('IPv4 (RFC 791)', () => {
  it('reads the kernel echo request header', () => {
    const p = Ipv4Packet.newChecked(ip(icmpv4EchoRequest)) as Ipv4Packet;
    expect(p.version).toBe(4);
    expect(p.headerLen).toBe(20);
    expect(p.totalLen).toBe(44);
    expect(p.ident).toBe(0xbad3);
    expect(p.dontFragment).toBe(true);
    expect(p.moreFragments).toBe(false);
    expect(p.ttl).toBe(64);
    expect(p.protocol).toBe(1);
    expect(p.src.toString()).toBe('192.0.2.1');
    expect(p.dst.toString()).toBe('192.0.2.2');
    expect(p.verifyChecksum()).toBe(true);
    expect(p.payload.length).toBe(24);
  });
  it('parse + emit reproduces the kernel header', () => {
    for (const f of [icmpv4EchoRequest, udp4, ipv4Fragment1, ipv4Fragment2]) {
      const p = Ipv4Packet.newChecked(ip(f)) as Ipv4Packet;
      const r = Ipv4Repr.parse(p) as Ipv4Repr;
      const out = new Uint8Array(20);
      r.emit(out);
      expect(out).toEqual(ip(f).subarray(0, 20));
    }
  });
  it('reads the fragment fields of a kernel-fragmented ping', () => {
    const a = Ipv4Packet.newChecked(ip(ipv4Fragment1)) as Ipv4Packet;
    const b = Ipv4Packet.newChecked(ip(ipv4Fragment2)) as Ipv4Packet;
    expect([a.moreFragments, a.fragOffset, a.payload.length]).toEqual([true, 0, 1480]);
    expect([b.moreFragments, b.fragOffset, b.payload.length]).toEqual([false, 1480, 528]);
    expect(a.ident).toBe(b.ident);
  });
  it('ignores Ethernet padding after Total Length', () => {
    const padded = new Uint8Array(60);
    padded.set(ip(udp4));
    const p = Ipv4Packet.newChecked(padded) as Ipv4Packet;
    expect(p.payload.length).toBe(13);
  });
  it('skips options by IHL', () => {
    const base = ip(udp4);
    const withOpts = new Uint8Array(base.length + 4);
    withOpts.set(base.subarray(0, 20));
    withOpts.set([1, 1, 1, 0], 20); // NOP NOP NOP EOL
    withOpts.set(base.subarray(20), 24);
    withOpts[0] = 0x46;
    withOpts[3] = withOpts.length;
    withOpts[10] = 0;
    withOpts[11] = 0;
    const ck = internetChecksum(withOpts, 0, 24);
    withOpts[10] = ck >> 8;
    withOpts[11] = ck & 0xff;
    const p = Ipv4Packet.newChecked(withOpts) as Ipv4Packet;
    expect(p.headerLen).toBe(24);
    expect(p.verifyChecksum()).toBe(true);
    expect(p.payload).toEqual(base.subarray(20));
  });
  it('refuses truncated and malformed headers', () => {
    const good = ip(icmpv4EchoRequest);
    expect(Ipv4Packet.newChecked(good.subarray(0, 19))).toBe('truncated');
    expect(Ipv4Packet.newChecked(good.subarray(0, 43))).toBe('truncated'); // Total Length beyond buffer
    const v6 = good.slice();
    v6[0] = 0x65;
    expect(Ipv4Packet.newChecked(v6)).toBe('malformed');
    const shortIhl = good.slice();
    shortIhl[0] = 0x44;
    expect(Ipv4Packet.newChecked(shortIhl)).toBe('malformed');
    const longIhl = good.slice();
    longIhl[0] = 0x4f; // 60-byte header in a 44-byte packet
    expect(Ipv4Packet.newChecked(longIhl)).toBe('truncated');
    const tiny = good.slice();
    tiny[3] = 10; // Total Length < header
    expect(Ipv4Packet.newChecked(tiny)).toBe('malformed');
  });
  it('detects a bad header checksum', () => {
    const bad = ip(icmpv4EchoRequest);
    bad[8] = 63; // TTL changed, checksum not
    expect(Ipv4Repr.parse(Ipv4Packet.newChecked(bad) as Ipv4Packet)).toBe('badChecksum');
  });
  it('emits flags and offset for fragments', () => {
    const r = new Ipv4Repr(
      Ipv4Address.parse('192.0.2.1'),
      Ipv4Address.parse('192.0.2.2'),
      17,
      8,
      64,
      7,
      false,
      true,
      1480,
    );
    const out = new Uint8Array(28);
    r.emit(out);
    const p = Ipv4Packet.newChecked(out) as Ipv4Packet;
    expect([p.moreFragments, p.fragOffset, p.dontFragment, p.ident]).toEqual([true, 1480, false, 7]);
    expect(p.verifyChecksum()).toBe(true);
  });
});
