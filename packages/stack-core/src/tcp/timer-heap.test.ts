import { describe, expect, it } from 'vitest';
import { TimerHeap } from './timer-heap.js';

describe('TimerHeap', () => {
  it('is empty at first', () => {
    const h = new TimerHeap<string>();
    expect(h.size).toBe(0);
    expect(h.nextAt).toBe(Number.POSITIVE_INFINITY);
    expect(h.next).toBeUndefined();
  });

  it('pops deadlines in order, each with its item, against a sorted reference', () => {
    // A small LCG: deterministic, no Math.random.
    let x = 12345;
    const rnd = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x;
    };
    const h = new TimerHeap<number>();
    const ref: number[] = [];
    for (let round = 0; round < 50; round++) {
      for (let k = rnd() % 40; k > 0; k--) {
        const at = rnd() % 1000;
        h.push(at, at * 2);
        ref.push(at);
      }
      ref.sort((a, b) => a - b);
      for (let k = rnd() % 30; k > 0 && ref.length > 0; k--) {
        const want = ref.shift()!;
        expect(h.nextAt).toBe(want);
        expect(h.next).toBe(want * 2);
        h.pop();
      }
      expect(h.size).toBe(ref.length);
    }
  });
});
