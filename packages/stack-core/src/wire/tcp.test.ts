import { describe, expect, it } from 'vitest';
import { parseIpAddress } from './ip-address.js';
import { fillTcpChecksum, TcpFlags, TcpPacket, TcpRepr, tcpChecksum, verifyTcpChecksum } from './tcp.js';

// A Linux SYN (50000 → 80): MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
const linuxSyn = Uint8Array.from([
  0xc3, 0x50, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x00, 0x00,
  0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
  0x01, 0x03, 0x03, 0x07,
]);

const src = parseIpAddress('192.0.2.1');
const dst = parseIpAddress('192.0.2.2');

/** Byte-at-a-time reference checksum over the IPv4 pseudo-header and the segment. */
function referenceChecksum(seg: Uint8Array): number {
  const pseudo = [192, 0, 2, 1, 192, 0, 2, 2, 0, 6, seg.length >> 8, seg.length & 255];
  const all = [...pseudo, ...seg];
  if (all.length % 2) all.push(0);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) | all[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

describe('TCP header (RFC 9293 §3.1)', () => {
  it('parses a Linux SYN and its options', () => {
    const r = new TcpRepr();
    expect(r.parse(linuxSyn)).toBe(true);
    expect(r.srcPort).toBe(50000);
    expect(r.dstPort).toBe(80);
    expect(r.seq).toBe(0x12345678);
    expect(r.flags).toBe(TcpFlags.SYN);
    expect(r.window).toBe(64240);
    expect(r.headerLength).toBe(40);
    expect(r.mss).toBe(1460);
    expect(r.sackPermitted).toBe(true);
    expect(r.hasTimestamp).toBe(true);
    expect([r.tsVal, r.tsEcr]).toEqual([1, 0]);
    expect(r.wscale).toBe(7);
  });

  it('emits the same bytes Linux sends for the same SYN', () => {
    const r = new TcpRepr();
    r.parse(linuxSyn);
    const out = new Uint8Array(r.emittedHeaderLength());
    r.emit(out, 0);
    expect(out).toEqual(linuxSyn);
  });

  it('round-trips SACK blocks with timestamps (RFC 2018 §3)', () => {
    const r = new TcpRepr();
    r.srcPort = 1;
    r.dstPort = 2;
    r.seq = 0xfffffff0;
    r.ack = 7;
    r.flags = TcpFlags.ACK;
    r.window = 100;
    r.hasTimestamp = true;
    r.tsVal = 0xdeadbeef;
    r.tsEcr = 42;
    r.sackCount = 3;
    r.sack.set([10, 20, 30, 40, 0xfffffff0, 5]);
    const buf = new Uint8Array(r.emittedHeaderLength());
    expect(buf.length).toBe(20 + 12 + 4 + 24);
    r.emit(buf, 0);
    const p = new TcpRepr();
    expect(p.parse(buf)).toBe(true);
    expect(p.sackCount).toBe(3);
    expect([...p.sack.subarray(0, 6)]).toEqual([10, 20, 30, 40, 0xfffffff0, 5]);
    expect(p.tsVal).toBe(0xdeadbeef);
    expect(p.seq).toBe(0xfffffff0);
  });

  it('rejects short segments, bad data offsets and malformed options', () => {
    const r = new TcpRepr();
    expect(r.parse(linuxSyn.subarray(0, 19))).toBe(false);
    const badOff = linuxSyn.slice();
    badOff[12] = 0x40; // 16 bytes
    expect(r.parse(badOff)).toBe(false);
    const pastEnd = linuxSyn.slice(0, 36);
    expect(r.parse(pastEnd)).toBe(false); // data offset says 40
    const badMss = linuxSyn.slice();
    badMss[21] = 3;
    expect(r.parse(badMss)).toBe(false);
    const zeroLen = linuxSyn.slice();
    zeroLen[25] = 0; // SACK-permitted with length 0
    expect(r.parse(zeroLen)).toBe(false);
  });

  it('TcpPacket.newChecked: header present, data offset 5..15 words inside the segment; the view reads the fields', () => {
    expect(TcpPacket.newChecked(linuxSyn.subarray(0, 19))).toBe('truncated');
    const badOff = linuxSyn.slice();
    badOff[12] = 0x40;
    expect(TcpPacket.newChecked(badOff)).toBe('malformed');
    expect(TcpPacket.newChecked(linuxSyn.slice(0, 36))).toBe('truncated');
    const withData = new Uint8Array(linuxSyn.length + 3);
    withData.set(linuxSyn);
    withData.set([7, 8, 9], linuxSyn.length);
    const p = TcpPacket.newChecked(withData);
    if (typeof p === 'string') throw new Error(p);
    expect([p.srcPort, p.dstPort, p.seq, p.ack, p.flags, p.window, p.urgent]).toEqual([
      50000,
      80,
      0x12345678,
      0,
      TcpFlags.SYN,
      64240,
      0,
    ]);
    expect(p.headerLength).toBe(40);
    expect(p.options.length).toBe(20);
    expect([...p.payload]).toEqual([7, 8, 9]);
    // A reused view: check() re-points it and says what is wrong, allocating nothing.
    const v = TcpPacket.newUnchecked(new Uint8Array(0));
    expect(v.check(badOff)).toBe('malformed');
    expect(v.check(withData)).toBeUndefined();
    const r = new TcpRepr();
    expect(r.parsePacket(v)).toBe(true);
    expect(r.mss).toBe(1460);
  });

  it('parsePacket refuses a port of 0 (RFC 6335 §6: reserved)', () => {
    const r = new TcpRepr();
    for (const at of [0, 2]) {
      const b = linuxSyn.slice();
      b[at] = 0;
      b[at + 1] = 0;
      expect(r.parse(b)).toBe(false);
    }
  });

  it('skips unknown options and stops at End of Option List', () => {
    const seg = linuxSyn.slice();
    seg[24] = 30; // unknown kind, length 2
    seg[36] = 0; // EOL before the window scale
    const r = new TcpRepr();
    expect(r.parse(seg)).toBe(true);
    expect(r.sackPermitted).toBe(false);
    expect(r.wscale).toBe(-1);
    expect(r.mss).toBe(1460);
  });

  it('computes the checksum over the pseudo-header like the RFC 1071 reference', () => {
    for (const len of [0, 1, 3, 64, 1449]) {
      const seg = new Uint8Array(20 + len);
      seg.set(linuxSyn.subarray(0, 20));
      seg[12] = 0x50;
      for (let i = 20; i < seg.length; i++) seg[i] = (i * 7) & 0xff;
      expect(tcpChecksum(src, dst, seg)).toBe(referenceChecksum(seg));
      fillTcpChecksum(src, dst, seg);
      expect(verifyTcpChecksum(src, dst, seg)).toBe(true);
      seg[seg.length - 1]! ^= 1;
      expect(verifyTcpChecksum(src, dst, seg)).toBe(false);
    }
  });
});
