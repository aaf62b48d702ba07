/**
 * The Internet checksum (RFC 1071): ones'-complement sum of 16-bit words,
 * incremental update (RFC 1624), and the IPv4/IPv6 pseudo-header sums that
 * TCP, UDP and ICMPv6 include.
 */
import type { IpAddress } from './ip-address.js';

/** Is this platform little-endian? (Typed-array word loads follow the platform's order.) */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * A 32-bit view over the whole of the last ArrayBuffer summed: the stack sums many
 * packets out of the same buffers (frame rings, transmit scratch), so one cached view
 * saves a typed-array allocation per call.
 */
let cachedBuffer: ArrayBufferLike | undefined;
let cachedWords: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * Ones'-complement sum of buf[start, end) as big-endian 16-bit words, added to
 * `initial`, folded to 16 bits (not complemented). An odd tail byte is padded with zero.
 *
 * Long runs are summed as 32-bit words in platform order with four float accumulators
 * (exact below 2^53, i.e. for any buffer up to 2 MiB × 4 words each), then folded; on a
 * little-endian platform the folded sum is byte-swapped, which RFC 1071 §2(B) allows
 * because the ones'-complement sum is independent of byte order.
 */
export function onesSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let i = start;
  let sum = 0;
  const abs = buf.byteOffset + start;
  if (end - start >= 128 && (abs & 1) === 0) {
    let head = 0;
    if ((abs & 2) !== 0) {
      head = (buf[i]! << 8) | buf[i + 1]!;
      i += 2;
    }
    const ab = buf.buffer;
    let w = cachedWords;
    let k = (buf.byteOffset + i) >>> 2;
    const n = (end - i) >>> 2;
    const kend = k + n;
    if (ab !== cachedBuffer || kend > w.length) {
      w = cachedWords = new Uint32Array(ab, 0, ab.byteLength >>> 2);
      cachedBuffer = ab;
    }
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    while (k < kend) {
      // Fold every 2^20 words so the float accumulators stay exact on huge buffers.
      const stop = Math.min(kend, k + 0x100000);
      for (; k + 4 <= stop; k += 4) {
        s0 += w[k]!;
        s1 += w[k + 1]!;
        s2 += w[k + 2]!;
        s3 += w[k + 3]!;
      }
      for (; k < stop; k++) s0 += w[k]!;
      s0 = fold(s0 + s1 + s2 + s3);
      s1 = s2 = s3 = 0;
    }
    const words = s0;
    sum = head + (LITTLE_ENDIAN ? ((words & 0xff) << 8) | (words >>> 8) : words);
    i += n * 4;
  }
  // Short inputs and the tail: 16-bit words, big-endian.
  const even = end - ((end - i) & 1);
  for (; i + 8 <= even; i += 8) {
    sum +=
      ((buf[i]! << 8) | buf[i + 1]!) +
      ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) +
      ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  for (; i < even; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return fold(sum + initial);
}

/**
 * Folds a wide sum (a non-negative integer below 2^53) to 16 bits with end-around carry.
 * 2^32 ≡ 1 (mod 0xffff), so the high and low 32-bit halves can simply be added; after
 * that everything fits 32-bit integer arithmetic.
 */
export function fold(sum: number): number {
  const lo = sum >>> 0;
  const hi = (sum / 4294967296) >>> 0;
  let s = (lo & 0xffff) + (lo >>> 16) + (hi & 0xffff) + (hi >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** Completes a checksum: the complement of the folded sum. */
export function finishChecksum(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** The checksum of buf[start, end): 0 over data that includes a correct checksum field. */
export function internetChecksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return finishChecksum(onesSum(buf, start, end, initial));
}

/** Sum of the pseudo-header (RFC 793 §3.1 for IPv4, RFC 8200 §8.1 for IPv6). */
export function pseudoHeaderSum(src: IpAddress, dst: IpAddress, protocol: number, length: number): number {
  let sum = protocol + (length & 0xffff) + Math.floor(length / 0x10000);
  if (src.version === 4 && dst.version === 4) {
    sum += (src.value >>> 16) + (src.value & 0xffff) + (dst.value >>> 16) + (dst.value & 0xffff);
  } else if (src.version === 6 && dst.version === 6) {
    sum = onesSum(src.bytes, 0, 16, sum);
    sum = onesSum(dst.bytes, 0, 16, sum);
  } else {
    throw new TypeError('pseudo-header with mixed address families');
  }
  return fold(sum);
}

/** RFC 1624 eqn. 3: new checksum after one 16-bit word changes from `oldWord` to `newWord`. */
export function updateChecksum(checksum: number, oldWord: number, newWord: number): number {
  return ~fold((~checksum & 0xffff) + (~oldWord & 0xffff) + newWord) & 0xffff;
}
