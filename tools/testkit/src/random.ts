/**
 * Seeded random sources for tests: the same cases every run, and none of them fit for
 * real use. No Node imports here (`./random` is safe for stack-core's and the browser's
 * tests).
 */

/** xorshift32 bytes: fills a buffer deterministically (a `StackConfig.random`, keys, payloads). */
export function seededBytes(seed = 1): (buf: Uint8Array) => void {
  let x = seed >>> 0 || 1;
  return (buf) => {
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      buf[i] = x & 0xff;
    }
  };
}

/** xorshift32 words in [1, 2^32): the sequence whose low bytes `seededBytes` gives. */
export function seededU32(seed = 1): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** `n` bytes from `seededBytes(seed)`. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  seededBytes(seed)(out);
  return out;
}

/** mulberry32: seeded floats in [0, 1) (loss, reordering and operation choices in simulations). */
export function seededFloats(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
