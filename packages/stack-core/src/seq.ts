/**
 * 32-bit TCP sequence numbers with wrap-around comparison (RFC 9293 §3.4,
 * RFC 1982 serial arithmetic). Values are plain numbers in [0, 2^32).
 */

/** a + n modulo 2^32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance a - b, in (-2^31, 2^31]. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of a and b. */
export function seqMax(a: number, b: number): number {
  return ((a - b) | 0) >= 0 ? a : b;
}

/** The earlier of a and b. */
export function seqMin(a: number, b: number): number {
  return ((a - b) | 0) <= 0 ? a : b;
}

/** lo <= x < hi in sequence space. */
export function seqInWindow(x: number, lo: number, hi: number): boolean {
  return ((x - lo) | 0) >= 0 && ((x - hi) | 0) < 0;
}
