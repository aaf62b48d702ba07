import { describe, expect, it } from 'vitest';
import {
  icmpv4EchoReply,
  icmpv4EchoRequest,
  icmpv4PortUnreachable,
} from '../../test/fixtures/kernel-frames.js';
import { type Icmpv4Repr, Icmpv4Packet, emitIcmpv4, icmpv4BufferLen, parseIcmpv4 } from './icmpv4.js';

const icmp = (f: Uint8Array) => f.slice(34);

describe('ICMPv4 (RFC 792)', () => {
  it('parses the kernel echo request and reply', () => {
    const req = parseIcmpv4(Icmpv4Packet.newChecked(icmp(icmpv4EchoRequest)) as Icmpv4Packet) as Icmpv4Repr;
    expect(req).toMatchObject({ kind: 'echoRequest', ident: 0x6455, seq: 1 });
    const rep = parseIcmpv4(Icmpv4Packet.newChecked(icmp(icmpv4EchoReply)) as Icmpv4Packet) as Icmpv4Repr;
    expect(rep).toMatchObject({ kind: 'echoReply', ident: 0x6455, seq: 1 });
    if (req.kind === 'echoRequest' && rep.kind === 'echoReply') expect(rep.data).toEqual(req.data);
  });
  it('emit reproduces the kernel echo reply (checksum included)', () => {
    const rep = parseIcmpv4(Icmpv4Packet.newChecked(icmp(icmpv4EchoReply)) as Icmpv4Packet) as Icmpv4Repr;
    const out = new Uint8Array(icmpv4BufferLen(rep));
    emitIcmpv4(out, 0, rep);
    expect(out).toEqual(icmp(icmpv4EchoReply));
  });
  it('parses a port unreachable and its quote, and re-emits it byte for byte', () => {
    const r = parseIcmpv4(Icmpv4Packet.newChecked(icmp(icmpv4PortUnreachable)) as Icmpv4Packet) as Icmpv4Repr;
    expect(r.kind).toBe('dstUnreachable');
    if (r.kind !== 'dstUnreachable') return;
    expect(r.code).toBe(3);
    expect(r.data[0]).toBe(0x45);
    expect(r.data[9]).toBe(17);
    const out = new Uint8Array(icmpv4BufferLen(r));
    emitIcmpv4(out, 0, r);
    expect(out).toEqual(icmp(icmpv4PortUnreachable));
  });
  it('refuses truncated messages, bad checksums and unknown types', () => {
    expect(Icmpv4Packet.newChecked(new Uint8Array(7))).toBe('truncated');
    const bad = icmp(icmpv4EchoRequest);
    bad[9] = bad[9]! ^ 1;
    expect(parseIcmpv4(Icmpv4Packet.newChecked(bad) as Icmpv4Packet)).toBe('badChecksum');
    const unknown = new Uint8Array(8);
    unknown[0] = 42;
    const p = Icmpv4Packet.newChecked(unknown) as Icmpv4Packet;
    p.fillChecksum();
    expect(parseIcmpv4(p)).toBe('unsupported');
    const badCode = new Uint8Array(8);
    badCode[0] = 8;
    badCode[1] = 1;
    const q = Icmpv4Packet.newChecked(badCode) as Icmpv4Packet;
    q.fillChecksum();
    expect(parseIcmpv4(q)).toBe('malformed');
  });
  it('carries the next-hop MTU of Fragmentation Needed (RFC 1191)', () => {
    const r: Icmpv4Repr = { kind: 'dstUnreachable', code: 4, mtu: 1400, data: new Uint8Array(28) };
    const out = new Uint8Array(icmpv4BufferLen(r));
    emitIcmpv4(out, 0, r);
    expect(parseIcmpv4(Icmpv4Packet.newChecked(out) as Icmpv4Packet)).toMatchObject({
      kind: 'dstUnreachable',
      mtu: 1400,
    });
  });
});
