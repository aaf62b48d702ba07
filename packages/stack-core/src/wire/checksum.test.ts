import { describe, expect, it } from 'vitest';
import { fold, internetChecksum, onesSum, updateChecksum } from './checksum.js';
import { seededFloats } from '@tapstack/testkit/random';

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

describe('onesSum over 32-bit words', () => {
  /** The plain definition: big-endian 16-bit words, end-around carry. */
  function reference(b: Uint8Array, start: number, end: number, initial = 0): number {
    let s = initial;
    for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
    while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
    return s;
  }
  it('agrees with the byte definition at every alignment, length and offset', () => {
    const backing = new Uint8Array(4096 + 16);
    let seed = 7;
    for (let i = 0; i < backing.length; i++) backing[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let shift = 0; shift < 8; shift++) {
      const view = backing.subarray(shift);
      for (const len of [0, 1, 2, 3, 31, 32, 33, 34, 35, 63, 64, 65, 100, 1499, 1500, 4000]) {
        for (const start of [0, 1, 2, 3]) {
          expect(onesSum(view, start, start + len, 0x1234), `shift ${shift} start ${start} len ${len}`).toBe(
            reference(view, start, start + len, 0x1234),
          );
        }
      }
    }
  });
  it('handles all-ones data (maximal carries) and buffers whose length is not a multiple of 4', () => {
    const ff = new Uint8Array(65537).fill(0xff);
    expect(onesSum(ff, 0, ff.length)).toBe(reference(ff, 0, ff.length));
    const odd = new Uint8Array(new ArrayBuffer(1027), 1, 1025).fill(0xa5);
    expect(onesSum(odd, 1, 1025)).toBe(reference(odd, 1, 1025));
  });
  it('agrees with the byte definition on random lengths, offsets, data and initial sums', () => {
    // Seeded (the shared test kit's): the same cases every run.
    const rand = seededFloats(0x9e3779b9);
    const backing = new Uint8Array(2048 + 64);
    for (let round = 0; round < 3000; round++) {
      const mode = round % 4; // random bytes, all 0xff (maximal carries), all zero, sparse
      for (let i = 0; i < backing.length; i++)
        backing[i] = mode === 1 ? 0xff : mode === 2 ? 0 : mode === 3 && rand() < 0.9 ? 0 : (rand() * 256) | 0;
      const len = (rand() * 2001) | 0;
      const viewOffset = (rand() * 32) | 0;
      const view = backing.subarray(viewOffset, viewOffset + len + 32);
      const start = (rand() * 32) | 0;
      const initial =
        round % 5 === 0 ? 0 : round % 5 === 1 ? Math.floor(rand() * 2 ** 40) : (rand() * 0x10000) | 0;
      expect(
        onesSum(view, start, start + len, initial),
        `offset ${viewOffset} start ${start} len ${len} initial ${initial} mode ${mode}`,
      ).toBe(reference(view, start, start + len, initial));
    }
  });
  it('keeps up with more buffers than it caches views for, and with a shrunk resizable buffer', () => {
    const bufs = Array.from({ length: 7 }, (_, k) => new Uint8Array(300 + k).fill(k + 1));
    for (let r = 0; r < 3; r++)
      for (const b of bufs) expect(onesSum(b, 2, b.length - 1, r)).toBe(reference(b, 2, b.length - 1, r));
    const Resizable = ArrayBuffer as unknown as new (
      n: number,
      o: { maxByteLength: number },
    ) => ArrayBuffer & {
      resize(n: number): void;
    };
    const ab = new Resizable(4096, { maxByteLength: 8192 });
    new Uint8Array(ab).fill(0x5a);
    expect(onesSum(new Uint8Array(ab, 8, 4000), 0, 4000)).toBe(
      reference(new Uint8Array(ab, 8, 4000), 0, 4000),
    );
    ab.resize(1024);
    expect(onesSum(new Uint8Array(ab, 8, 1000), 0, 1000)).toBe(
      reference(new Uint8Array(ab, 8, 1000), 0, 1000),
    );
    ab.resize(8192);
    new Uint8Array(ab).fill(0xa7);
    expect(onesSum(new Uint8Array(ab, 4, 8000), 0, 8000)).toBe(
      reference(new Uint8Array(ab, 4, 8000), 0, 8000),
    );
  });
  it('sums views of different (and shared) buffers one after another (the cached view)', () => {
    const a = new Uint8Array(256).fill(1);
    const b = new Uint8Array(512).fill(2);
    for (let k = 0; k < 3; k++) {
      expect(onesSum(a, 0, 256)).toBe(reference(a, 0, 256));
      expect(onesSum(b, 4, 500)).toBe(reference(b, 4, 500));
      const shared = new Uint8Array(new SharedArrayBuffer(64)).fill(3 + k);
      expect(onesSum(shared, 0, 64)).toBe(reference(shared, 0, 64));
    }
  });
});

describe('fold', () => {
  it('equals repeated end-around carry for sums up to 2^53', () => {
    const slow = (s: number) => {
      while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
      return s;
    };
    let x = 12345;
    for (let k = 0; k < 2000; k++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const s = (x / 2147483648) * 2 ** (k % 53);
      const v = Math.floor(s);
      expect(fold(v), String(v)).toBe(slow(v));
    }
    for (const v of [0, 1, 0xffff, 0x10000, 0x1fffe, 0xffffffff, 2 ** 32, 2 ** 53 - 1])
      expect(fold(v)).toBe(slow(v));
  });
});
