import { describe, expect, it } from 'vitest';
import { pattern, seededBytes, seededFloats } from './random.js';

describe('seeded sources', () => {
  it('repeat for a seed and differ between seeds', () => {
    expect(pattern(32, 7)).toEqual(pattern(32, 7));
    expect(pattern(32, 7)).not.toEqual(pattern(32, 8));
    const a = new Uint8Array(5);
    seededBytes(1)(a);
    expect([...a]).toEqual([...pattern(5, 1)]);
  });

  it('floats stay in [0, 1)', () => {
    const f = seededFloats(3);
    for (let i = 0; i < 10000; i++) {
      const x = f();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});
