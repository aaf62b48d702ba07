// The record's metadata word (LAYOUT.md "Records"): push() writes it, drainRaw consumers
// read it 4 bytes before the payload; pushBatch and the default leave 0.
import { describe, expect, it } from 'vitest';
import { FrameRing } from '../src/index.js';

describe('record metadata word', () => {
  it('push(frame, policy, meta) carries meta to a drainRaw consumer, across the wrap', () => {
    const ring = FrameRing.create({ capacity: 4096, maxFrameSize: 1000 });
    const i32 = new Int32Array(ring.buffer);
    const seen: [number, number][] = [];
    for (let round = 0; round < 20; round++) {
      expect(ring.push(new Uint8Array(700).fill(round), 'drop', 0x10000 + round)).toBe(true);
      expect(ring.push(new Uint8Array(300).fill(round))).toBe(true);
      ring.drainRaw(10, (u8, off, len) => {
        expect(u8[off]).toBe(round);
        seen.push([len, i32[(off >> 2) - 1]!]);
      });
    }
    expect(seen).toHaveLength(40);
    for (let round = 0; round < 20; round++) {
      expect(seen[2 * round]).toEqual([700, 0x10000 + round]);
      expect(seen[2 * round + 1]).toEqual([300, 0]);
    }
  });
});
