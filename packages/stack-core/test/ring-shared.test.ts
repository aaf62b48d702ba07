/**
 * ByteRing takes data straight from shared memory (a frame ring drained in place): a
 * misaligned copy out of a SharedArrayBuffer goes through a bounce buffer. The bytes must
 * land as they would by a plain copy, at every alignment, across the ring's wrap.
 */
import { describe, expect, it } from 'vitest';
import { ByteRing } from '../src/tcp/ring.js';

describe('ByteRing from a SharedArrayBuffer', () => {
  it('writes and reads back the same bytes at every source and ring alignment, across the wrap', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(200_000));
    for (let i = 0; i < shared.length; i++) shared[i] = (i * 31 + 7) & 0xff;
    for (const size of [1, 7, 1448, 9000, 70_000]) {
      for (let srcAlign = 0; srcAlign < 8; srcAlign++) {
        for (let ringAlign = 0; ringAlign < 8; ringAlign += 3) {
          const ring = new ByteRing(1 << 17);
          // Move the head so the write wraps at a ringAlign-dependent place.
          const pre = new Uint8Array((1 << 17) - 5000 + ringAlign);
          ring.write(pre);
          ring.read(new Uint8Array(pre.length));
          const at = 1000 + srcAlign;
          expect(ring.write(shared, at, size)).toBe(size);
          const out = new Uint8Array(size);
          expect(ring.read(out)).toBe(size);
          expect(out).toEqual(shared.slice(at, at + size));
        }
      }
    }
  });

  it('writeAt (out of order) from shared memory lands where a plain copy would', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(10_000));
    for (let i = 0; i < shared.length; i++) shared[i] = i & 0xff;
    const ring = new ByteRing(1 << 16);
    ring.writeAt(3001, shared, 5, 4000);
    ring.writeAt(0, shared.slice(100, 3101), 0, 3001);
    ring.commit(7001);
    const out = new Uint8Array(7001);
    expect(ring.read(out)).toBe(7001);
    expect(out.subarray(0, 3001)).toEqual(shared.slice(100, 3101));
    expect(out.subarray(3001)).toEqual(shared.slice(5, 4005));
  });
});
