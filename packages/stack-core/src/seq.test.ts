import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqGe, seqGt, seqInWindow, seqLe, seqLt, seqMax, seqMin } from './seq.js';

describe('sequence numbers (RFC 9293 §3.4)', () => {
  it('adds modulo 2^32', () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10);
    expect(seqAdd(5, -6)).toBe(0xffffffff);
  });
  it('compares across the wrap', () => {
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xfffffff0)).toBe(true);
    expect(seqLe(7, 7)).toBe(true);
    expect(seqGe(7, 7)).toBe(true);
    expect(seqLt(7, 7)).toBe(false);
    expect(seqGt(1, 2)).toBe(false);
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqDiff(0xfffffff0, 0x10)).toBe(-0x20);
  });
  it('picks max/min and window membership across the wrap', () => {
    expect(seqMax(0xfffffffe, 3)).toBe(3);
    expect(seqMin(0xfffffffe, 3)).toBe(0xfffffffe);
    expect(seqInWindow(0, 0xfffffff0, 0x10)).toBe(true);
    expect(seqInWindow(0x10, 0xfffffff0, 0x10)).toBe(false);
    expect(seqInWindow(0xffffffef, 0xfffffff0, 0x10)).toBe(false);
  });
});
