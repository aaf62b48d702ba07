import { describe, expect, it } from 'vitest';
import { SlabCopier } from './slab.js';

describe('SlabCopier', () => {
  it('copies never overlap, survive later copies, and spill to a new slab', () => {
    const c = new SlabCopier(64, 32);
    const a = c.copy(new Uint8Array(20).fill(1));
    const b = c.copy(new Uint8Array(30).fill(2));
    const d = c.copy(new Uint8Array(30).fill(3)); // does not fit: new slab
    expect(a.buffer).toBe(b.buffer);
    expect(d.buffer).not.toBe(a.buffer);
    expect(b.byteOffset).toBe(24); // 8-byte aligned
    expect(Array.from(new Set(a))).toEqual([1]);
    expect(Array.from(new Set(b))).toEqual([2]);
    expect(Array.from(new Set(d))).toEqual([3]);
  });
  it('gives large copies their own buffer, and copies (not aliases) the source', () => {
    const c = new SlabCopier(64, 32);
    const src = new Uint8Array(40).fill(9);
    const big = c.copy(src);
    expect(big.byteLength).toBe(40);
    expect(big.buffer.byteLength).toBe(40);
    src[0] = 0;
    expect(big[0]).toBe(9);
    expect(c.copy(new Uint8Array(0)).length).toBe(0);
  });
});
