/**
 * ByteRing's growing storage: checked against a plain array model under random
 * operations (writes, out-of-order writes past the end, commits, peeks, reads,
 * releases), and the sizes it allocates.
 */
import { describe, expect, it } from 'vitest';
import { seededFloats as floats } from '@tapstack/testkit/random';
import { ByteRing } from '../src/tcp/ring.js';

describe('ByteRing storage', () => {
  it('starts small, grows by doubling as data needs room, never past capacity', () => {
    const r = new ByteRing(262144);
    expect(r.storageBytes).toBe(0);
    r.write(new Uint8Array(1000));
    expect(r.storageBytes).toBe(4096); // a short request does not cost a 256 KiB buffer
    r.write(new Uint8Array(5000));
    expect(r.storageBytes).toBe(8192);
    r.write(new Uint8Array(300000));
    expect(r.length).toBe(262144);
    expect(r.storageBytes).toBe(262144);
    r.consume(r.length);
    r.release();
    expect(r.storageBytes).toBe(0);
  });

  it('keeps bytes that wrapped around the old storage when it grows', () => {
    const r = new ByteRing(65536);
    const d = Uint8Array.from({ length: 7000 }, (_, i) => (i * 7) & 0xff);
    r.write(d.subarray(0, 3000));
    r.read(new Uint8Array(2000)); // head at 2000 of 4096
    r.write(d.subarray(3000, 5000)); // wraps: 2000..4096, then 0..904
    r.write(d.subarray(5000, 7000)); // needs 5000 bytes: grows to 8192
    expect(r.storageBytes).toBe(8192);
    const all = new Uint8Array(r.length);
    r.peek(0, all, 0, r.length);
    expect(all).toEqual(d.subarray(2000, 7000));
  });

  it('keeps every byte in order across growth, wrap-around and out-of-order writes (model check)', () => {
    const rand = floats(42);
    for (let round = 0; round < 20; round++) {
      // 8..64 KiB with writes of at most 3000 bytes: storage grows in several steps, often
      // while the queued bytes wrap around the end of the old storage.
      const r = new ByteRing(1 << (13 + Math.floor(rand() * 4)));
      // model: queued bytes, plus bytes written past the end (offset -> value)
      let queued: number[] = [];
      let past = new Map<number, number>();
      let next = 0;
      const bytes = (n: number) => Uint8Array.from({ length: n }, () => next++ & 0xff);
      for (let op = 0; op < 400; op++) {
        const k = rand();
        if (k < 0.35) {
          const src = bytes(Math.floor(rand() * 3000));
          const took = r.write(src);
          expect(took).toBe(Math.min(src.length, r.capacity - queued.length));
          // a write covers whatever was written past the end at those offsets
          for (let i = 0; i < took; i++) past.delete(queued.length + i);
          queued = queued.concat([...src.subarray(0, took)]);
        } else if (k < 0.5) {
          // out of order: somewhere inside the free space, past the queued bytes
          const free = r.capacity - queued.length;
          if (free < 2) continue;
          const at = queued.length + Math.floor(rand() * (free - 1));
          const n = 1 + Math.floor(rand() * Math.min(2000, r.capacity - at - 1));
          const src = bytes(n);
          r.writeAt(at, src, 0, n);
          for (let i = 0; i < n; i++) past.set(at + i, src[i]!);
        } else if (k < 0.6) {
          // commit a contiguous run that was written past the end
          let n = 0;
          while (past.has(queued.length + n)) n++;
          if (n === 0) continue;
          const run: number[] = [];
          for (let i = 0; i < n; i++) run.push(past.get(queued.length + i)!);
          for (let i = 0; i < n; i++) past.delete(queued.length + i);
          r.commit(n);
          queued = queued.concat(run);
        } else if (k < 0.8) {
          const n = Math.floor(rand() * (queued.length + 1));
          const out = new Uint8Array(n);
          expect(r.read(out)).toBe(n);
          expect([...out]).toEqual(queued.slice(0, n));
          queued = queued.slice(n);
          // offsets are relative to the head: shift what was written past the end
          const moved = new Map<number, number>();
          for (const [o, v] of past) if (o - n >= 0) moved.set(o - n, v);
          past = moved;
        } else if (k < 0.95) {
          const off = Math.floor(rand() * (queued.length + 1));
          const n = Math.floor(rand() * (queued.length - off + 1));
          const out = new Uint8Array(n + 3);
          r.peek(off, out, 3, n);
          expect([...out.subarray(3)]).toEqual(queued.slice(off, off + n));
        } else if (queued.length === 0 && past.size === 0) {
          r.release();
          expect(r.allocated).toBe(false);
        }
        expect(r.length).toBe(queued.length);
        expect(r.storageBytes).toBeLessThanOrEqual(r.capacity);
      }
      // finally everything written past the end is still where it was put
      for (const [o, v] of past) {
        const one = new Uint8Array(1);
        r.peek(o, one, 0, 1);
        expect(one[0]).toBe(v);
      }
    }
  });
});
