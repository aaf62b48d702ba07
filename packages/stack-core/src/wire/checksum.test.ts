import { describe, expect, it } from 'vitest';
import { internetChecksum, onesSum, updateChecksum } from './checksum.js';

describe('RFC 1071 checksum', () => {
  it('matches the RFC 1071 §3 worked example', () => {
    const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(onesSum(b, 0, b.length)).toBe(0xddf2);
    expect(internetChecksum(b)).toBe(~0xddf2 & 0xffff);
  });
  it('verifies a real IPv4 header to zero', () => {
    // The classic example header (4500 0073 ... 4011 b861 c0a8 0001 c0a8 00c7)
    const h = Uint8Array.from(
      '450000730000400040110000c0a80001c0a800c7'.match(/../g)!.map((x) => Number.parseInt(x, 16)),
    );
    const ck = internetChecksum(h);
    h[10] = ck >> 8;
    h[11] = ck & 0xff;
    expect(ck).toBe(0xb861);
    expect(internetChecksum(h)).toBe(0);
  });
  it('pads an odd byte and agrees with a byte loop on random data', () => {
    let seed = 1;
    for (let n = 0; n < 70; n++) {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      let s = 0;
      for (let i = 0; i < n; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      expect(onesSum(b, 0, n)).toBe(s);
    }
  });
  it('RFC 1624 incremental update equals a full recompute', () => {
    const h = Uint8Array.from([0x45, 0, 0, 0x54, 0, 0, 0x40, 0, 0x40, 1, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    const ck = internetChecksum(h);
    const old = (h[8]! << 8) | h[9]!;
    h[8] = 0x3f; // TTL decrement
    const upd = updateChecksum(ck, old, (h[8]! << 8) | h[9]!);
    expect(upd).toBe(internetChecksum(h));
  });
});
