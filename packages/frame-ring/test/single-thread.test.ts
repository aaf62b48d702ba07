// Single-thread semantics: FIFO order, byte integrity, wrap-around at every offset (also
// across the 2^32 index wrap), full-ring policies, zero-copy rules, counters, argument
// errors, and a model-based random test against a plain array.
import { FrameRing, HEADER_BYTES, HEADER_WORDS, minCapacity, recordBytes } from '@tapstack/frame-ring';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** Frame `seq` of `len` bytes with a recognisable pattern. */
function frame(seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (seq * 31 + i * 7 + 1) & 255;
  return f;
}

/** Byte equality without the deep-equal cost of toEqual on 64 KiB arrays. */
function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function drainAll(ring: FrameRing): Uint8Array[] {
  const out: Uint8Array[] = [];
  ring.drainInto(out, Number.POSITIVE_INFINITY);
  return out;
}

/** A fresh ring whose indices both start at `start` (u32), as if it had run a while. */
function ringAt(start: number, capacity: number, maxFrameSize: number): FrameRing {
  const r = FrameRing.create({ capacity, maxFrameSize });
  const h = new Int32Array(r.buffer);
  h[HEADER_WORDS.WRITE] = start | 0;
  h[HEADER_WORDS.READ] = start | 0;
  return FrameRing.attach(r.buffer);
}

describe('create / attach', () => {
  it('sizes the buffer as header + capacity and reads back its geometry', () => {
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 1514 });
    expect(r.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(r.buffer.byteLength).toBe(HEADER_BYTES + 8192);
    const a = FrameRing.attach(r.buffer);
    expect([a.capacity, a.maxFrameSize]).toEqual([8192, 1514]);
    expect(FrameRing.create({ capacity: 1 << 18 }).maxFrameSize).toBe(65536);
  });

  it('rejects bad capacities and frame sizes with the numbers in the message', () => {
    expect(() => FrameRing.create({ capacity: 4096, maxFrameSize: 2048 })).toThrow(RangeError);
    expect(() => FrameRing.create({ capacity: 4096, maxFrameSize: 2048 })).toThrow(/4096.*2048.*8192/);
    expect(recordBytes(1514)).toBe(1528);
    expect(() => FrameRing.create({ capacity: 12288, maxFrameSize: 1500 })).toThrow(
      /12288 must be a power of two/,
    );
    expect(() => FrameRing.create({ capacity: 1 << 17 })).toThrow(/131072 is too small.*65536/);
    expect(() => FrameRing.create({ capacity: 8192, maxFrameSize: 0 })).toThrow(RangeError);
    expect(() => FrameRing.create({ capacity: 1 << 20, maxFrameSize: 65537 })).toThrow(/65537/);
    expect(() => FrameRing.create({ capacity: 2 ** 31 })).toThrow(/larger than the maximum/);
    expect(() => FrameRing.create({ capacity: 8192.5, maxFrameSize: 100 })).toThrow(RangeError);
    expect(() => FrameRing.create(null as never)).toThrow(TypeError);
    expect(minCapacity(1514)).toBe(4096);
    expect(() => FrameRing.create({ capacity: minCapacity(1514), maxFrameSize: 1514 })).not.toThrow();
  });

  it('attach throws TypeError on anything that is not a ring', () => {
    expect(() => FrameRing.attach(new ArrayBuffer(8448) as never)).toThrow(TypeError);
    expect(() => FrameRing.attach(new ArrayBuffer(8448) as never)).toThrow(/SharedArrayBuffer.*ArrayBuffer/);
    expect(() => FrameRing.attach(new SharedArrayBuffer(64))).toThrow(
      /64 bytes, smaller than the 256-byte header/,
    );
    expect(() => FrameRing.attach(new SharedArrayBuffer(8448))).toThrow(/bad magic 0x0/);
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 100 });
    const bigger = new SharedArrayBuffer(r.buffer.byteLength + 8);
    new Uint8Array(bigger).set(new Uint8Array(r.buffer));
    expect(() => FrameRing.attach(bigger)).toThrow(/8456 bytes, header says 8448/);
    const wrongVersion = new SharedArrayBuffer(r.buffer.byteLength);
    new Uint8Array(wrongVersion).set(new Uint8Array(r.buffer));
    new Int32Array(wrongVersion)[HEADER_WORDS.VERSION] = 9;
    expect(() => FrameRing.attach(wrongVersion)).toThrow(/version 9/);
    const corrupt = new SharedArrayBuffer(r.buffer.byteLength);
    new Uint8Array(corrupt).set(new Uint8Array(r.buffer));
    new Int32Array(corrupt)[HEADER_WORDS.CAPACITY] = 8000;
    expect(() => FrameRing.attach(corrupt)).toThrow(TypeError);
  });
});

describe('push / drain', () => {
  it('delivers frames in order with their exact bytes, including empty frames', () => {
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 1514 });
    const sent = [frame(0, 60), frame(1, 0), frame(2, 1514), frame(3, 1), frame(4, 7)];
    for (const f of sent) expect(r.push(f)).toBe(true);
    expect(r.isEmpty()).toBe(false);
    const got: number[][] = [];
    expect(r.drain(2, (f) => got.push([...f]))).toBe(2);
    expect(r.drain(10, (f) => got.push([...f]))).toBe(3);
    expect(got).toEqual(sent.map((f) => [...f]));
    expect(r.isEmpty()).toBe(true);
    expect(r.drain(10, () => {})).toBe(0);
  });

  it('drain(0) takes nothing; bad max and reentrant drain throw', () => {
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 100 });
    r.push(frame(0, 10));
    r.push(frame(1, 10));
    expect(r.drain(0, () => {})).toBe(0);
    expect(() => r.drain(-1, () => {})).toThrow(RangeError);
    expect(() => r.drain(Number.NaN, () => {})).toThrow(RangeError);
    expect(() => r.drain(1, () => r.drain(1, () => {}))).toThrow(/inside a drain callback/);
    // the outer frame counts as delivered, the inner drain took nothing
    expect(drainAll(r).map((f) => [...f])).toEqual([[...frame(1, 10)]]);
  });

  it('zero-copy views point into the ring; drainInto copies are independent', () => {
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 100 });
    r.push(frame(5, 50));
    let view: Uint8Array | undefined;
    r.drain(1, (f) => {
      view = f;
    });
    expect(view!.buffer).toBe(r.buffer);
    r.push(frame(6, 50));
    const out: Uint8Array[] = [];
    expect(r.drainInto(out, 5)).toBe(1);
    expect(out[0]!.buffer).toBeInstanceOf(ArrayBuffer);
    for (let i = 0; i < 40; i++) r.push(frame(100 + i, 100)); // overwrite the data area
    expect([...out[0]!]).toEqual([...frame(6, 50)]);
    expect(() => r.drainInto('x' as never, 1)).toThrow(TypeError);
  });

  it('drainRaw hands out offsets into the whole buffer', () => {
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 100 });
    r.pushBatch([frame(1, 3), frame(2, 99)]);
    const got: number[][] = [];
    r.drainRaw(10, (bytes, off, len) => got.push([...bytes.subarray(off, off + len)]));
    expect(got).toEqual([[...frame(1, 3)], [...frame(2, 99)]]);
  });

  it('a throwing callback releases the frames delivered so far, then rethrows', () => {
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 100 });
    for (let i = 0; i < 5; i++) r.push(frame(i, 20));
    let n = 0;
    expect(() =>
      r.drain(10, () => {
        if (++n === 2) throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(r.stats().drained).toBe(2);
    expect(drainAll(r).map((f) => f[0])).toEqual([2, 3, 4].map((i) => frame(i, 20)[0]));
  });

  it('peek shows the oldest frame until release frees it', () => {
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 100 });
    expect(r.peek()).toBeUndefined();
    expect(() => r.release()).toThrow(RangeError);
    r.push(frame(1, 30));
    r.push(frame(2, 40));
    expect([...r.peek()!]).toEqual([...frame(1, 30)]);
    expect([...r.peek()!]).toEqual([...frame(1, 30)]);
    r.release();
    expect([...r.peek()!]).toEqual([...frame(2, 40)]);
    r.release();
    expect(r.peek()).toBeUndefined();
    expect(r.stats().drained).toBe(2);
  });

  it('rejects oversize and non-Uint8Array frames without touching the ring', () => {
    const r = FrameRing.create({ capacity: 8192, maxFrameSize: 1514 });
    expect(() => r.push(new Uint8Array(1515))).toThrow(RangeError);
    expect(() => r.push(new Uint8Array(1515))).toThrow(/1515 bytes, larger than maxFrameSize 1514/);
    expect(() => r.push('abc' as never)).toThrow(TypeError);
    expect(() => r.pushBatch([frame(0, 10), new Uint8Array(2000), frame(1, 10)])).toThrow(/frame 1.*2000/);
    expect(() => r.push(frame(0, 1), 'block' as never)).toThrow(TypeError);
    expect(r.isEmpty()).toBe(true);
    expect(r.stats()).toMatchObject({ pushed: 0, dropped: 0 });
  });
});

describe('wrap-around', () => {
  // capacity 256 and maxFrameSize 64: records are 8..72 bytes, so frames land on every
  // 8-byte offset and wrap at every possible distance from the end.
  const CAP = 256;
  const MAX = 64;
  const starts = [0, 2 ** 32 - 512, 2 ** 31 - 128];
  for (const base of starts) {
    it(`every start offset x every frame length, indices from ${base}`, () => {
      for (let off = 0; off < CAP; off += 8) {
        const r = ringAt(base + off, CAP, MAX);
        for (let len = 0; len <= MAX; len++) {
          // Two frames in flight, so a wrap happens with data still queued before it.
          const a = frame(len, len);
          const b = frame(len + 1, MAX - len);
          expect(r.push(a, 'full')).toBe(true);
          expect(r.push(b, 'full')).toBe(true);
          const got = drainAll(r);
          expect(got.length).toBe(2);
          expect([...got[0]!]).toEqual([...a]);
          expect([...got[1]!]).toEqual([...b]);
          expect(r.isEmpty()).toBe(true);
        }
      }
    });
  }

  it('writes a wrap marker when a record does not fit before the end, and none when it fits exactly', () => {
    const r = ringAt(200, 256, 64);
    const h = new Int32Array(r.buffer);
    expect(r.push(frame(1, 60))).toBe(true); // 72-byte record, 56 bytes left: wraps
    expect(h[(HEADER_BYTES + 200) >> 2]).toBe(-1);
    expect(h[HEADER_BYTES >> 2]).toBe(60);
    expect(h[(HEADER_BYTES >> 2) + 1]).toBe(0);
    expect(new Uint8Array(r.buffer, HEADER_BYTES + 8, 60)).toEqual(frame(1, 60));
    expect(h[HEADER_WORDS.WRITE]).toBe(200 + 56 + 72);
    expect(r.usedBytes()).toBe(56 + 72);
    expect([...drainAll(r)[0]!]).toEqual([...frame(1, 60)]);

    const e = ringAt(184, 256, 64);
    const he = new Int32Array(e.buffer);
    expect(e.push(frame(2, 60))).toBe(true); // 72-byte record, 72 bytes left: no marker
    expect(he[(HEADER_BYTES + 184) >> 2]).toBe(60);
    expect(he[HEADER_WORDS.WRITE]).toBe(256);
    expect(e.push(frame(3, 4))).toBe(true);
    expect(he[HEADER_BYTES >> 2]).toBe(4);
    expect(drainAll(e).map((f) => f.length)).toEqual([60, 4]);
  });

  it('payloads start 8-byte aligned (the fast copy path)', () => {
    const r = FrameRing.create({ capacity: 4096, maxFrameSize: 100 });
    for (let len = 0; len < 100; len++) {
      r.push(frame(len, len));
      r.drain(1, (f) => expect(f.byteOffset % 8).toBe(0));
    }
  });

  it('maximum-size (64 KiB) frames survive many laps of a minimum-size ring', () => {
    const r = FrameRing.create({ capacity: minCapacity(65536), maxFrameSize: 65536 });
    expect(r.capacity).toBe(262144);
    for (let i = 0; i < 40; i++) {
      const a = frame(i, 65536);
      const b = frame(i + 1000, 65536 - (i % 9) * 8 - (i % 3));
      expect(r.pushBatch([a, b, a], 'full')).toBe(3);
      const got = drainAll(r);
      expect(got.map((f) => f.length)).toEqual([a.length, b.length, a.length]);
      expect(same(got[0], a) && same(got[1], b) && same(got[2], a)).toBe(true);
    }
    expect(r.stats()).toMatchObject({ pushed: 120, drained: 120, dropped: 0 });
  });
});

describe('full ring', () => {
  const fillUp = (r: FrameRing) => {
    let n = 0;
    while (r.push(frame(n, 100), 'full')) n++;
    return n;
  };

  it("'full' refuses without counting; 'drop' refuses and counts", () => {
    const r = FrameRing.create({ capacity: 1024, maxFrameSize: 100 });
    const n = fillUp(r);
    expect(n).toBe(Math.floor(1024 / recordBytes(100)));
    expect(r.push(frame(0, 100), 'full')).toBe(false);
    expect(r.stats().dropped).toBe(0);
    expect(r.push(frame(0, 100))).toBe(false); // default policy is 'drop'
    expect(r.push(frame(0, 100), 'drop')).toBe(false);
    expect(r.stats()).toMatchObject({ pushed: n, dropped: 2 });
    expect(r.canPush(100)).toBe(false);
    expect(r.waitForSpace(100, 5)).toBe(false);
    r.drain(1, () => {});
    expect(r.canPush(100)).toBe(true);
    expect(r.waitForSpace(100, 0)).toBe(true);
    expect(r.push(frame(99, 100), 'full')).toBe(true);
    expect(() => r.waitForSpace(101)).toThrow(RangeError);
  });

  it("pushBatch: 'full' stops at the first frame that does not fit; 'drop' skips it and goes on", () => {
    const r = FrameRing.create({ capacity: 1024, maxFrameSize: 400 });
    expect(r.pushBatch([frame(0, 400), frame(1, 400)], 'full')).toBe(2); // 2 x 408 = 816 used
    const big = frame(2, 300);
    const small = frame(3, 100);
    expect(r.pushBatch([big, small], 'full')).toBe(0);
    expect(r.stats().dropped).toBe(0);
    expect(r.pushBatch([big, small], 'drop')).toBe(1);
    expect(r.stats().dropped).toBe(1);
    expect(drainAll(r).map((f) => f.length)).toEqual([400, 400, 100]);
  });

  it('counts the high-water mark in bytes', () => {
    const r = FrameRing.create({ capacity: 1024, maxFrameSize: 100 });
    fillUp(r);
    drainAll(r);
    expect(r.stats().highWater).toBe(Math.floor(1024 / recordBytes(100)) * recordBytes(100));
  });

  it('counts the high-water mark of frames pushed and drained without the ring running short', () => {
    // Issue 19: highWater stayed 0 here (it moved only on the producer's slow path).
    const r = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 1500 });
    const rx = FrameRing.attach(r.buffer);
    r.push(frame(0, 100));
    r.pushBatch([frame(1, 200), frame(2, 300)]);
    expect(rx.stats().highWater).toBe(recordBytes(100) + recordBytes(200) + recordBytes(300));
    drainAll(rx);
    r.push(frame(3, 50));
    drainAll(rx);
    expect(r.stats().highWater).toBe(recordBytes(100) + recordBytes(200) + recordBytes(300));
  });
});

describe('reserve / commit', () => {
  it('writes a frame in place, commits a shorter length, refuses when full', () => {
    const r = FrameRing.create({ capacity: 1024, maxFrameSize: 500 });
    const v = r.reserve(500)!;
    expect(v.length).toBe(500);
    expect(() => r.push(frame(0, 1))).toThrow(/reserve\(\) is pending/);
    expect(() => r.reserve(10)).toThrow(/already pending/);
    v.set(frame(7, 123));
    expect(r.isEmpty()).toBe(true); // not published until commit
    expect(() => r.commit(501)).toThrow(RangeError);
    r.commit(123);
    expect(() => r.commit(1)).toThrow(/nothing reserved/);
    expect(drainAll(r)[0]).toEqual(frame(7, 123));
    expect(r.push(frame(1, 500))).toBe(true);
    expect(r.reserve(500, 'full')).toBeUndefined();
    expect(r.stats().dropped).toBe(0);
    expect(r.reserve(500)).toBeUndefined();
    expect(r.stats().dropped).toBe(1);
    const c = r.reserve(8)!;
    c.fill(1);
    r.cancel();
    expect(drainAll(r).map((f) => f.length)).toEqual([500]);
    expect(() => r.reserve(501)).toThrow(/501.*500/);
  });
});

describe('counters and wakeups', () => {
  it('u64 counters carry past 2^32', () => {
    const r = FrameRing.create({ capacity: 1024, maxFrameSize: 100 });
    new Int32Array(r.buffer)[HEADER_WORDS.PUSHED] = -2; // low word 0xfffffffe
    r.pushBatch([frame(0, 1), frame(1, 1), frame(2, 1)]);
    expect(r.stats().pushed).toBe(2 ** 32 + 1);
    r.push(frame(3, 1));
    expect(r.stats().pushed).toBe(2 ** 32 + 2);
  });

  it('stats are shared: the attached side sees the same numbers', () => {
    const p = FrameRing.create({ capacity: 1024, maxFrameSize: 100 });
    const c = FrameRing.attach(p.buffer);
    p.pushBatch([frame(0, 10), frame(1, 10), frame(2, 10)]);
    c.drain(2, () => {});
    expect(c.stats()).toEqual(p.stats());
    expect(p.stats()).toMatchObject({ pushed: 3, drained: 2, dropped: 0 });
  });

  it('does not notify while the consumer is awake', () => {
    const r = FrameRing.create({ capacity: 4096, maxFrameSize: 100 });
    for (let i = 0; i < 1000; i++) {
      r.push(frame(i, 50));
      r.drain(1, () => {});
    }
    expect(r.stats().consumerWakeups).toBe(0);
  });

  it('wait() returns at once with data, false after the timeout without', () => {
    const r = FrameRing.create({ capacity: 4096, maxFrameSize: 100 });
    expect(r.wait(0)).toBe(false);
    expect(r.wait(5)).toBe(false);
    expect(new Int32Array(r.buffer)[HEADER_WORDS.CONSUMER_SLEEPING]).toBe(0);
    r.push(frame(0, 1));
    expect(r.wait()).toBe(true);
    expect(() => r.wait(-1)).toThrow(RangeError);
  });

  it('waitAsync: a push wakes the sleeping consumer once, however many frames follow', async () => {
    const r = FrameRing.create({ capacity: 4096, maxFrameSize: 100 });
    const c = FrameRing.attach(r.buffer);
    const woke = c.waitAsync();
    await Promise.resolve();
    // the ticket: the WRITE value the consumer sleeps on (0, empty ring), | 1
    expect(new Int32Array(r.buffer)[HEADER_WORDS.CONSUMER_SLEEPING]).toBe(1);
    for (let i = 0; i < 20; i++) r.push(frame(i, 10));
    expect(await woke).toBe(true);
    expect(r.stats().consumerWakeups).toBe(1);
    expect(c.drain(100, () => {})).toBe(20);
    expect(await c.waitAsync(5)).toBe(false);
    r.push(frame(0, 1));
    expect(await c.waitAsync(1000)).toBe(true);
  });
});

describe('model: random operations against an array', () => {
  type Op =
    | { k: 'push'; len: number; drop: boolean }
    | { k: 'batch'; lens: number[]; drop: boolean }
    | { k: 'reserve'; ask: number; len: number }
    | { k: 'drain'; max: number }
    | { k: 'peek' };
  const MAX = 300;
  const len = fc.integer({ min: 0, max: MAX });
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ k: fc.constant('push' as const), len, drop: fc.boolean() }),
    fc.record({
      k: fc.constant('batch' as const),
      lens: fc.array(len, { maxLength: 8 }),
      drop: fc.boolean(),
    }),
    fc.tuple(len, len).map(([a, b]) => ({ k: 'reserve' as const, ask: Math.max(a, b), len: Math.min(a, b) })),
    fc.record({ k: fc.constant('drain' as const), max: fc.integer({ min: 0, max: 10 }) }),
    fc.record({ k: fc.constant('peek' as const) }),
  );

  it('matches a FIFO with a byte budget', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (ops, start) => {
          const cap = 1024;
          const r = ringAt(start & ~7, cap, MAX);
          const model: Uint8Array[] = [];
          let seq = 0;
          let dropped = 0;
          let accepted = 0;
          // The ring accepts a record iff used + (wrap padding) + record <= capacity.
          const h = new Int32Array(r.buffer);
          const fitsModel = (l: number) => {
            const w = h[HEADER_WORDS.WRITE]!;
            const used = (w - h[HEADER_WORDS.READ]!) >>> 0;
            const toEnd = cap - (w & (cap - 1));
            const rec = recordBytes(l);
            return used + (rec <= toEnd ? rec : toEnd + rec) <= cap;
          };
          const take = (max: number) => {
            const got: Uint8Array[] = [];
            r.drain(max, (f) => got.push(f.slice()));
            const want = model.splice(0, Math.min(max, model.length));
            expect(got).toEqual(want);
          };
          for (const o of ops) {
            if (o.k === 'push') {
              const f = frame(seq++, o.len);
              const fits = fitsModel(o.len);
              expect(r.push(f, o.drop ? 'drop' : 'full')).toBe(fits);
              if (fits) {
                model.push(f);
                accepted++;
              } else if (o.drop) dropped++;
            } else if (o.k === 'batch') {
              let expected = 0;
              const fs = o.lens.map((l) => frame(seq++, l));
              // simulate on a copy of the indices
              const w0 = h[HEADER_WORDS.WRITE]!;
              let w = w0;
              const rd = h[HEADER_WORDS.READ]!;
              const batchAccepted: Uint8Array[] = [];
              for (const f of fs) {
                const rec = recordBytes(f.length);
                const toEnd = cap - (w & (cap - 1));
                const need = rec <= toEnd ? rec : toEnd + rec;
                if (((w - rd) >>> 0) + need <= cap) {
                  w = (w + need) | 0;
                  batchAccepted.push(f);
                  expected++;
                } else if (o.drop) dropped++;
                else break;
              }
              expect(r.pushBatch(fs, o.drop ? 'drop' : 'full')).toBe(expected);
              model.push(...batchAccepted);
              accepted += batchAccepted.length;
            } else if (o.k === 'reserve') {
              const fits = fitsModel(o.ask);
              const v = r.reserve(o.ask, 'full');
              expect(v !== undefined).toBe(fits);
              if (v) {
                const f = frame(seq++, o.len);
                v.set(f);
                r.commit(o.len);
                model.push(f);
                accepted++;
              }
            } else if (o.k === 'drain') take(o.max);
            else {
              const p = r.peek();
              expect(p?.slice()).toEqual(model[0]);
              if (p) {
                r.release();
                model.shift();
              }
            }
            expect(r.isEmpty()).toBe(model.length === 0);
          }
          const total = r.stats().drained + model.length;
          take(Number.POSITIVE_INFINITY);
          expect(r.stats()).toMatchObject({ pushed: total, drained: total, dropped });
          expect(total).toBe(accepted);
        },
      ),
      { numRuns: 300 },
    );
  });
});
