import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW, ReplayFilter } from '../src/index.js';

describe('ReplayFilter', () => {
  const LIMIT = Number.MAX_SAFE_INTEGER;
  it('accepts each counter once, in any order inside the window', () => {
    const f = new ReplayFilter();
    for (const c of [0, 1, 5, 3, 2, 4]) expect(f.validate(c, LIMIT)).toBe(true);
    for (const c of [0, 1, 2, 3, 4, 5]) expect(f.validate(c, LIMIT)).toBe(false);
  });

  it('rejects counters older than the window and accepts the oldest inside it', () => {
    const f = new ReplayFilter();
    expect(f.validate(10_000, LIMIT)).toBe(true);
    expect(f.validate(10_000 - REPLAY_WINDOW - 1, LIMIT)).toBe(false);
    expect(f.validate(10_000 - REPLAY_WINDOW, LIMIT)).toBe(true);
  });

  it('a big jump clears stale bits so old slots are not mistaken for replays', () => {
    const f = new ReplayFilter();
    for (let c = 0; c < 200; c++) f.validate(c, LIMIT);
    const far = 4096 * 10 + 5;
    expect(f.validate(far, LIMIT)).toBe(true);
    // far - 4000 maps to a ring slot that held bits from the first 200 counters.
    expect(f.validate(far - 4000, LIMIT)).toBe(true);
  });

  it('matches a set-based reference on random counters', () => {
    const f = new ReplayFilter();
    const seen = new Set<number>();
    let max = -1;
    let s = 12345;
    for (let i = 0; i < 20_000; i++) {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      const c = Math.max(0, max + 50 - (s % 6000));
      const expected = !seen.has(c) && (max < 0 || c > max || max - c <= REPLAY_WINDOW);
      expect(f.validate(c, LIMIT)).toBe(expected);
      if (expected) {
        seen.add(c);
        max = Math.max(max, c);
      }
    }
  });

  it('rejects at or over the limit and above 2^53', () => {
    const f = new ReplayFilter();
    expect(f.validate(100, 100)).toBe(false);
    expect(f.validate(2 ** 53, 2 ** 60)).toBe(false);
  });
});
