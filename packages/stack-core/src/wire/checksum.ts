/**
 * The Internet checksum (RFC 1071): ones'-complement sum of 16-bit words,
 * incremental update (RFC 1624), and the IPv4/IPv6 pseudo-header sums that
 * TCP, UDP and ICMPv6 include.
 */
import type { IpAddress } from './ip-address.js';

/** Is this platform little-endian? (Typed-array word loads follow the platform's order.) */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Inputs shorter than this are summed byte by byte: below it, fetching `buf.buffer` and
 * a word view costs more than the word loop saves (measured: the crossover is 80-96 bytes,
 * so IP, TCP and UDP headers never take the word path).
 */
const WORD_PATH_MIN = 96;

/**
 * Words summed between folds: each of the two accumulators gains less than 2^35 per
 * step of sixteen words, so 2^20 words keep both below 2^51, where float sums are exact.
 */
const CHUNK_WORDS = 0x100000;

/**
 * Whole-buffer 32-bit views of the last few ArrayBuffers summed. The stack sums many
 * packets out of the same buffers (frame rings, transmit scratch), and with several
 * stacks (or send and receive paths) in one process a single cached view kept being
 * evicted; four slots replaced round-robin hold them all. Each slot keeps its view's
 * length in a number, because reading `length` off a typed array costs more here than
 * the rest of the lookup.
 */
const EMPTY_WORDS = new Uint32Array(0);
let buffer0: ArrayBufferLike | undefined;
let buffer1: ArrayBufferLike | undefined;
let buffer2: ArrayBufferLike | undefined;
let buffer3: ArrayBufferLike | undefined;
let words0: Uint32Array<ArrayBufferLike> = EMPTY_WORDS;
let words1: Uint32Array<ArrayBufferLike> = EMPTY_WORDS;
let words2: Uint32Array<ArrayBufferLike> = EMPTY_WORDS;
let words3: Uint32Array<ArrayBufferLike> = EMPTY_WORDS;
let length0 = 0;
let length1 = 0;
let length2 = 0;
let length3 = 0;
let nextSlot = 0;

/** A 32-bit view over the whole of `ab` with at least `minLength` words, cached. */
function wordView(ab: ArrayBufferLike, minLength: number): Uint32Array<ArrayBufferLike> {
  if (ab === buffer0 && minLength <= length0) return words0;
  if (ab === buffer1 && minLength <= length1) return words1;
  if (ab === buffer2 && minLength <= length2) return words2;
  if (ab === buffer3 && minLength <= length3) return words3;
  return freshWordView(ab);
}

/** Makes a whole-buffer view of `ab` and caches it in the next slot, round-robin. */
function freshWordView(ab: ArrayBufferLike): Uint32Array<ArrayBufferLike> {
  const w = new Uint32Array(ab, 0, ab.byteLength >>> 2);
  const n = w.length;
  switch (nextSlot) {
    case 0:
      buffer0 = ab;
      words0 = w;
      length0 = n;
      break;
    case 1:
      buffer1 = ab;
      words1 = w;
      length1 = n;
      break;
    case 2:
      buffer2 = ab;
      words2 = w;
      length2 = n;
      break;
    default:
      buffer3 = ab;
      words3 = w;
      length3 = n;
  }
  nextSlot = (nextSlot + 1) & 3;
  return w;
}

/**
 * Plain sum of w[k, kend) (platform-order 32-bit words), at most CHUNK_WORDS of them.
 * Adding eight words as a tree before touching an accumulator lets the compiler keep the
 * partial sums in 64-bit integer registers (they are safe integers) and convert to float
 * once per eight words: ~1.5x the speed of one float add per word.
 */
function sumWords(w: Uint32Array<ArrayBufferLike>, k: number, kend: number): number {
  let s0 = 0;
  let s1 = 0;
  const end16 = kend - ((kend - k) & 15);
  for (; k < end16; k += 16) {
    s0 += w[k]! + w[k + 1]! + (w[k + 2]! + w[k + 3]!) + (w[k + 4]! + w[k + 5]! + (w[k + 6]! + w[k + 7]!));
    s1 +=
      w[k + 8]! +
      w[k + 9]! +
      (w[k + 10]! + w[k + 11]!) +
      (w[k + 12]! + w[k + 13]! + (w[k + 14]! + w[k + 15]!));
  }
  const end4 = kend - ((kend - k) & 3);
  for (; k < end4; k += 4) s0 += w[k]! + w[k + 1]! + (w[k + 2]! + w[k + 3]!);
  for (; k < kend; k++) s1 += w[k]!;
  return s0 + s1;
}

/** Folded sum of w[k, kend) of any length, CHUNK_WORDS at a time. */
function sumChunks(ab: ArrayBufferLike, w: Uint32Array<ArrayBufferLike>, k: number, kend: number): number {
  let words = 0;
  for (let c = k; c < kend; c += CHUNK_WORDS) {
    const cend = kend - c > CHUNK_WORDS ? c + CHUNK_WORDS : kend;
    let part = sumWords(w, c, cend);
    if (Number.isNaN(part)) {
      // NaN: a cached view fell out of bounds (a resizable buffer shrank); remake it.
      w = freshWordView(ab);
      part = sumWords(w, c, cend);
    }
    words = fold(words + part);
  }
  return words;
}

/** Swaps the bytes of a 16-bit value: multiplies by 2^8 modulo 0xffff. */
function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * Ones'-complement sum of buf[start, end) as big-endian 16-bit words, added to
 * `initial`, folded to 16 bits (not complemented). An odd tail byte is padded with zero.
 *
 * From WORD_PATH_MIN bytes on, the run is summed as 32-bit words in platform order
 * (exact float sums, folded every CHUNK_WORDS), and on a little-endian platform the
 * folded sum is byte-swapped, which RFC 1071 §2(B) allows because the ones'-complement
 * sum is independent of byte order. A run starting at an odd address is summed from
 * its second byte and that sum swapped as well: shifting every byte by one position
 * swaps the bytes of the sum. A 2-byte misalignment costs one leading 16-bit word.
 */
export function onesSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let i = start;
  if (end - start >= WORD_PATH_MIN) {
    // byteOffset once: each read of it is a few nanoseconds, which shows at 100 bytes.
    const bo = buf.byteOffset;
    const odd = (bo + start) & 1;
    let lead = 0;
    if (odd !== 0) {
      lead = buf[i]! << 8;
      i++;
    }
    // Now bo + i is even: sum [i, end) as big-endian words into `s`.
    let s = 0;
    if (((bo + i) & 2) !== 0) {
      s = (buf[i]! << 8) | buf[i + 1]!;
      i += 2;
    }
    const ab = buf.buffer;
    const k = (bo + i) >>> 2;
    const kend = k + ((end - i) >>> 2);
    let w = wordView(ab, kend);
    let words: number;
    if (kend - k <= CHUNK_WORDS) {
      words = sumWords(w, k, kend);
      if (Number.isNaN(words)) {
        // NaN: a cached view fell out of bounds (a resizable buffer shrank); remake it.
        w = freshWordView(ab);
        words = sumWords(w, k, kend);
      }
      words = fold(words);
    } else {
      words = sumChunks(ab, w, k, kend);
    }
    s += LITTLE_ENDIAN ? swap16(words) : words;
    i += (kend - k) * 4;
    // At most three tail bytes.
    if (i + 2 <= end) {
      s += (buf[i]! << 8) | buf[i + 1]!;
      i += 2;
    }
    if (i < end) s += buf[i]! << 8;
    return fold((odd !== 0 ? lead + swap16(fold(s)) : s) + initial);
  }
  // Short inputs: 16-bit words, big-endian; high and low bytes summed apart.
  const even = end - ((end - i) & 1);
  let hi = 0;
  let lo = 0;
  for (; i + 8 <= even; i += 8) {
    hi += buf[i]! + buf[i + 2]! + buf[i + 4]! + buf[i + 6]!;
    lo += buf[i + 1]! + buf[i + 3]! + buf[i + 5]! + buf[i + 7]!;
  }
  for (; i < even; i += 2) {
    hi += buf[i]!;
    lo += buf[i + 1]!;
  }
  if (i < end) hi += buf[i]!;
  return fold(hi * 256 + lo + initial);
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
