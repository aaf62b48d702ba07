import { describe, expect, it } from 'vitest';
import {
  dadNeighborSolicit,
  mldReport,
  icmpv6EchoReply,
  icmpv6PortUnreachable,
  neighborAdvert,
  neighborSolicit,
  routerSolicit,
} from '../../test/fixtures/kernel-frames.js';
import { type Icmpv6Repr, Icmpv6Packet, emitIcmpv6, icmpv6BufferLen, parseIcmpv6 } from './icmpv6.js';
import { Ipv6Address } from './ip-address.js';
import { Ipv6Packet } from './ipv6.js';

function parse(frame: Uint8Array) {
  const ip = Ipv6Packet.newChecked(frame.slice(14)) as Ipv6Packet;
  const body = ip.payload;
  return {
    ip,
    body,
    repr: parseIcmpv6(Icmpv6Packet.newChecked(body) as Icmpv6Packet, ip.src, ip.dst, ip.hopLimit),
  };
}

describe('ICMPv6 (RFC 4443) and NDP (RFC 4861)', () => {
  it('parses kernel NS/NA/RS/DAD and re-emits them byte for byte', () => {
    for (const f of [
      neighborSolicit,
      neighborAdvert,
      routerSolicit,
      icmpv6EchoReply,
      icmpv6PortUnreachable,
    ]) {
      const { ip, body, repr } = parse(f);
      expect(typeof repr).toBe('object');
      const out = new Uint8Array(icmpv6BufferLen(repr as Icmpv6Repr));
      emitIcmpv6(out, 0, repr as Icmpv6Repr, ip.src, ip.dst);
      expect(out).toEqual(body);
    }
  });
  it('reads the NS target and source link-layer option', () => {
    const r = parse(neighborSolicit).repr as Extract<Icmpv6Repr, { kind: 'neighborSolicit' }>;
    expect(r.kind).toBe('neighborSolicit');
    expect(r.target.toString()).toBe('2001:db8::2');
    expect(Array.from(r.sourceLinkAddr!)).toEqual([2, 0, 0, 0, 0, 0x0a]);
  });
  it('reads the NA flags and target link-layer option', () => {
    const r = parse(neighborAdvert).repr as Extract<Icmpv6Repr, { kind: 'neighborAdvert' }>;
    expect(r).toMatchObject({ kind: 'neighborAdvert', router: false, solicited: true, override: true });
    expect(Array.from(r.targetLinkAddr!)).toEqual([2, 0, 0, 0, 0, 0x0b]);
  });
  it('reads a DAD probe: unspecified source, nonce option skipped, no link-layer option', () => {
    const { ip, repr } = parse(dadNeighborSolicit);
    expect(ip.src.isUnspecified()).toBe(true);
    expect(repr).toMatchObject({ kind: 'neighborSolicit', sourceLinkAddr: undefined });
  });
  it('round-trips a router advertisement with prefix information and MTU', () => {
    const src = Ipv6Address.parse('fe80::1');
    const dst = Ipv6Address.ALL_NODES;
    const ra: Icmpv6Repr = {
      kind: 'routerAdvert',
      hopLimit: 64,
      managed: false,
      other: true,
      routerLifetime: 1800,
      reachableTime: 0,
      retransTimer: 0,
      options: {
        sourceLinkAddr: new Uint8Array([2, 0, 0, 0, 0, 1]),
        mtu: 1480,
        prefixes: [
          {
            prefixLength: 64,
            onLink: true,
            autonomous: true,
            validLifetime: 86400,
            preferredLifetime: 14400,
            prefix: Ipv6Address.parse('2001:db8:1::'),
          },
        ],
      },
    };
    const out = new Uint8Array(icmpv6BufferLen(ra));
    emitIcmpv6(out, 0, ra, src, dst);
    expect(parseIcmpv6(Icmpv6Packet.newChecked(out) as Icmpv6Packet, src, dst, 255)).toEqual(ra);
  });
  it('refuses NDP with hop limit below 255, bad checksums, zero-length options', () => {
    const { ip, body } = parse(neighborSolicit);
    expect(parseIcmpv6(Icmpv6Packet.newChecked(body) as Icmpv6Packet, ip.src, ip.dst, 64)).toBe('malformed');
    const bad = body.slice();
    bad[10] = bad[10]! ^ 0x40;
    expect(parseIcmpv6(Icmpv6Packet.newChecked(bad) as Icmpv6Packet, ip.src, ip.dst, 255)).toBe(
      'badChecksum',
    );
    const zero = body.slice();
    zero[25] = 0; // option length 0
    const p = Icmpv6Packet.newChecked(zero) as Icmpv6Packet;
    p.fillChecksum(ip.src, ip.dst);
    expect(parseIcmpv6(p, ip.src, ip.dst, 255)).toBe('malformed');
    expect(Icmpv6Packet.newChecked(new Uint8Array(4))).toBe('truncated');
    const short = body.slice(0, 20);
    const s = Icmpv6Packet.newChecked(short) as Icmpv6Packet;
    s.fillChecksum(ip.src, ip.dst);
    expect(parseIcmpv6(s, ip.src, ip.dst, 255)).toBe('truncated');
  });
  it('parses the kernel MLDv2 report (behind its hop-by-hop header) and re-emits it', () => {
    const ip = Ipv6Packet.newChecked(mldReport.slice(14)) as Ipv6Packet;
    expect(ip.nextHeader).toBe(0);
    const body = ip.payload.subarray(8);
    const r = parseIcmpv6(
      Icmpv6Packet.newChecked(body) as Icmpv6Packet,
      ip.src,
      ip.dst,
      ip.hopLimit,
    ) as Icmpv6Repr;
    expect(r.kind).toBe('mldReport');
    if (r.kind !== 'mldReport') return;
    expect(r.records.length).toBeGreaterThan(0);
    expect(r.records.every((x) => x.group.isMulticast())).toBe(true);
    const out = new Uint8Array(icmpv6BufferLen(r));
    emitIcmpv6(out, 0, r, ip.src, ip.dst);
    expect(out).toEqual(body);
  });

  it('parses a port unreachable quoting the datagram', () => {
    const r = parse(icmpv6PortUnreachable).repr as Extract<Icmpv6Repr, { kind: 'dstUnreachable' }>;
    expect(r.kind).toBe('dstUnreachable');
    expect(r.code).toBe(4);
    expect(r.data[0]! >> 4).toBe(6);
    expect(r.data[6]).toBe(17);
  });
});
