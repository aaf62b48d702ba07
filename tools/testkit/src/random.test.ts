import { describe, expect, it } from 'vitest';
import { pattern, seededBytes, seededFloats, seededU32 } from './random.js';

describe('seeded sources', () => {
  it('repeat for a seed and differ between seeds', () => {
    expect(pattern(32, 7)).toEqual(pattern(32, 7));
    expect(pattern(32, 7)).not.toEqual(pattern(32, 8));
    const a = new Uint8Array(5);
    seededBytes(1)(a);
    expect([...a]).toEqual([...pattern(5, 1)]);
  });

  it('seededU32 is the word sequence behind seededBytes', () => {
    const w = seededU32(9);
    const words = Array.from({ length: 6 }, () => w());
    expect(words.every((x) => Number.isInteger(x) && x >= 1 && x < 2 ** 32)).toBe(true);
    expect(words.map((x) => x & 0xff)).toEqual([...pattern(6, 9)]);
  });

  it('floats stay in [0, 1)', () => {
    const f = seededFloats(3);
    for (let i = 0; i < 10000; i++) {
      const x = f();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});
