/**
 * The Internet checksum (RFC 1071): ones'-complement sum of 16-bit words,
 * incremental update (RFC 1624), and the IPv4/IPv6 pseudo-header sums that
 * TCP, UDP and ICMPv6 include.
 */
import type { IpAddress } from './ip-address.js';

/**
 * Ones'-complement sum of buf[start, end) as big-endian 16-bit words, added to
 * `initial`, folded to 16 bits (not complemented). An odd tail byte is padded with zero.
 */
export function onesSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  // Sum 16-bit words in a wide accumulator; fold rarely. 2^53 / 0xffff words of headroom.
  const even = end - ((end - start) & 1);
  for (; i + 8 <= even; i += 8) {
    sum +=
      ((buf[i]! << 8) | buf[i + 1]!) +
      ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) +
      ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  for (; i < even; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  return fold(sum);
}

/** Folds a wide sum to 16 bits with end-around carry. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
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
