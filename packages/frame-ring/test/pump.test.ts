// RingPump: order and batching, the one yield policy (turnBatches per turn, then a later
// turn), sleeping through the ring's handshake, re-entrancy, stop; and drainBatch and
// createLocal, which tap-io's UDP links use with it. Single thread, a manual "next turn".
import { FrameRing, HEADER_WORDS, RingPump } from '@tapstack/frame-ring';
import { describe, expect, it } from 'vitest';

function frame(seq: number, len = 20): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (seq * 31 + i) & 255;
  f[0] = seq & 255;
  return f;
}

/** A pump over `ring` that records the batch sizes and first bytes it drains; turns run by hand. */
function setup(ring: FrameRing<ArrayBufferLike>, batch: number, turnBatches: number) {
  const got: number[] = [];
  const batches: number[] = [];
  const turns: (() => void)[] = [];
  const pump = new RingPump(
    ring,
    (max) => {
      const n = ring.drain(max, (f) => got.push(f[0]!));
      if (n > 0) batches.push(n);
      return n;
    },
    { batch, turnBatches, nextTurn: (fn) => turns.push(fn) },
  );
  return { pump, got, batches, turns };
}

const sleeping = (ring: FrameRing<ArrayBufferLike>) =>
  Atomics.load(new Int32Array(ring.buffer), HEADER_WORDS.CONSUMER_SLEEPING) !== 0;

describe('RingPump', () => {
  it('drains in order in batches, at most turnBatches drains per turn, then goes on in a later turn', () => {
    const ring = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 64 });
    for (let i = 0; i < 10; i++) ring.push(frame(i));
    const { pump, got, batches, turns } = setup(ring, 3, 2);
    pump.run();
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);
    expect(batches).toEqual([3, 3]);
    expect(turns.length).toBe(1);
    expect(sleeping(ring)).toBe(false); // frames wait: no sleep announced
    pump.run(); // a wake while a later turn is queued does nothing now
    expect(got.length).toBe(6);
    turns.shift()!();
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batches).toEqual([3, 3, 3, 1]);
    expect(turns.length).toBe(1); // two drains took frames: the budget ran out with the ring empty
    turns.shift()!();
    expect(turns.length).toBe(0);
    expect(pump.yields).toBe(2);
    expect(sleeping(ring)).toBe(true); // empty: asleep, and the producer's next publish wakes it
    const before = ring.stats().consumerWakeups;
    ring.push(frame(10));
    expect(ring.stats().consumerWakeups).toBe(before + 1);
    pump.run();
    expect(got.at(-1)).toBe(10);
  });

  it('ignores a run() from inside its own drain, and stops for good on stop()', () => {
    const ring = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 64 });
    const got: number[] = [];
    const pump: RingPump = new RingPump(ring, (max) =>
      ring.drain(max, (f) => {
        got.push(f[0]!);
        pump.run();
      }),
    );
    for (let i = 0; i < 5; i++) ring.push(frame(i));
    pump.run();
    expect(got).toEqual([0, 1, 2, 3, 4]);
    pump.stop();
    ring.push(frame(5));
    pump.run();
    expect(got.length).toBe(5);
  });

  it('runAsync sleeps in waitAsync while empty, drains what a producer pushes, returns on stop()', async () => {
    const ring = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 64 });
    const got: number[] = [];
    const pump = new RingPump(ring, (max) => ring.drain(max, (f) => got.push(f[0]!)), {
      batch: 2,
      turnBatches: 2,
      nextTurn: (fn) => setImmediate(fn),
    });
    const done = pump.runAsync(50);
    for (let i = 0; i < 9; i++) ring.push(frame(i));
    while (got.length < 9) await new Promise((r) => setImmediate(r));
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(pump.yields).toBeGreaterThanOrEqual(2);
    pump.stop();
    await done;
  });

  it('drainUnder: one batch for a consumer with its own turns — max, a room re-asked per drain, empty ring', () => {
    const ring = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 64 });
    for (let i = 0; i < 20; i++) ring.push(frame(i));
    const { pump, got, batches, turns } = setup(ring, 4, 1);
    expect(pump.drainUnder(6)).toBe(6); // calls of at most `batch`, stops at max
    expect(batches).toEqual([4, 2]);
    // A room that shrinks by 3 per call (a budget that counts only some frames).
    let room = 5;
    expect(
      pump.drainUnder(100, () => {
        const r = room;
        room = Math.max(0, room - 3);
        return r;
      }),
    ).toBe(6);
    expect(batches).toEqual([4, 2, 4, 2]);
    expect(pump.drainUnder(100, () => 0)).toBe(0);
    expect(pump.drainUnder(100)).toBe(8); // to empty
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(turns.length).toBe(0); // never schedules a turn itself
    expect(pump.announceSleep()).toBe(true);
    expect(sleeping(ring)).toBe(true);
    ring.push(frame(20));
    expect(pump.announceSleep()).toBe(false); // frames wait: not asleep
    pump.stop();
    expect(pump.drainUnder(100)).toBe(0);
  });

  it('checks its options', () => {
    const ring = FrameRing.create({ capacity: 1 << 16, maxFrameSize: 64 });
    expect(() => new RingPump(ring, () => 0, { batch: 0 })).toThrow(RangeError);
    expect(() => new RingPump(ring, () => 0, { turnBatches: 0 })).toThrow(RangeError);
  });
});

describe('FrameRing.drainBatch and createLocal', () => {
  it('hands the kept views over in one batch before releasing them; skipped frames count', () => {
    const ring = FrameRing.createLocal({ capacity: 1 << 16, maxFrameSize: 64 });
    expect(ring.buffer).toBeInstanceOf(ArrayBuffer);
    for (let i = 0; i < 6; i++) ring.push(frame(i, 30));
    const seen: number[][] = [];
    const n = ring.drainBatch(
      5,
      (u8, off, len) => (u8[off]! % 2 === 0 ? u8.subarray(off, off + len) : undefined),
      (views) => {
        // Not released yet: the producer cannot have reused the space.
        expect(ring.stats().drained).toBe(0);
        seen.push(views.map((v) => v[0]!));
      },
    );
    expect(n).toBe(5);
    expect(seen).toEqual([[0, 2, 4]]);
    expect(ring.stats().drained).toBe(5);
    expect(
      ring.drainBatch(
        5,
        () => undefined,
        () => seen.push([]),
      ),
    ).toBe(1);
    expect(seen.length).toBe(1); // nothing kept: no batch
  });

  it('a local ring sleeps by announceSleep, as with a native producer', () => {
    const ring = FrameRing.createLocal({ capacity: 1 << 16, maxFrameSize: 64 });
    const { pump, got } = setup(ring, 4, 8);
    ring.push(frame(1));
    pump.run();
    expect(got).toEqual([1]);
    expect(sleeping(ring)).toBe(true);
    ring.push(frame(2)); // the producer clears the ticket (its "wake"): no Atomics.notify needed
    expect(sleeping(ring)).toBe(false);
  });
});
