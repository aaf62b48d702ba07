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

  it('alignTo moves an empty queue to the source’s alignment (bytes intact across the wrap); a non-empty one stays', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(200_000));
    for (let i = 0; i < shared.length; i++) shared[i] = (i * 13 + 5) & 0xff;
    for (let srcAlign = 0; srcAlign < 8; srcAlign++) {
      const ring = new ByteRing(1 << 17);
      ring.alignTo(srcAlign); // no storage yet: nothing to move
      const pre = new Uint8Array((1 << 17) - 3000 + srcAlign);
      ring.write(pre);
      ring.read(new Uint8Array(pre.length));
      const at = 66 + srcAlign;
      ring.alignTo(at);
      // Three bursts of full-sized payloads, the app reading in between (the queue empties).
      let want = 0;
      for (let k = 0; k < 3; k++) {
        for (let j = 0; j < 4; j++) {
          const from = at + ((j + k) % 3) * 65536;
          expect(ring.write(shared, from, 9000 + j * 8)).toBe(9000 + j * 8);
        }
        const out = new Uint8Array(ring.length);
        expect(ring.read(out)).toBe(out.length);
        let o = 0;
        for (let j = 0; j < 4; j++) {
          const from = at + ((j + k) % 3) * 65536;
          expect(out.subarray(o, o + 9000 + j * 8)).toEqual(shared.slice(from, from + 9000 + j * 8));
          o += 9000 + j * 8;
        }
        want += o;
        ring.alignTo(at + k);
      }
      expect(want).toBe(3 * (4 * 9000 + 48));
    }
    // Not empty: alignTo leaves the queued bytes where they are.
    const ring = new ByteRing(1 << 16);
    ring.write(shared, 3, 100);
    ring.alignTo(5);
    const out = new Uint8Array(100);
    expect(ring.read(out)).toBe(100);
    expect(out).toEqual(shared.slice(3, 103));
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
