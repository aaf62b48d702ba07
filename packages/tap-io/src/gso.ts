/**
 * Software TCP segmentation (GSO) and TCP checksums, for links that take a stack's TCP
 * super-segments (Link.gsoMaxSize, with checksumOffload) but whose far side takes only
 * MTU-sized packets with whole checksums: a WireGuard tunnel, as wireguard-go does with TUN
 * offloads. One super-segment is cut in one pass into gsoSize-byte parts (Linux's
 * tcp_gso_segment rules): each part gets the headers with its own IP total length / payload
 * length, IPv4 identification (+1 per part) and header checksum, its own sequence number, and
 * the TCP checksum; FIN and PSH stay on the last part only, CWR on the first only.
 * The addon does the same in C (native/gso.c, `nativeTcpSegment`); tcpSegmentInto is its JS
 * twin where the addon is not built.
 * The Internet checksum is written here again rather than taken from stack-core because
 * tap-io may not import stack-core (ARCHITECTURE.md's import table); the two are the same
 * RFC 1071 sum and the tests hold this one to a byte-by-byte reference.
 */
import { type NativeAead, nativeAead } from './aead.js';

const FIN = 0x01;
const PSH = 0x08;
const CWR = 0x80;

/** Is this platform little-endian? (Uint32Array loads follow the platform's order.) */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Ones'-complement sum of bytes [from, to) of `b` as big-endian 16-bit words, unfolded. */
function sumBytes(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  let i = from;
  for (; i + 1 < to; i += 2) s += ((b[i] as number) << 8) | (b[i + 1] as number);
  if (i < to) s += (b[i] as number) << 8;
  return s;
}

/** Folds a sum to 16 bits (end-around carry). */
function fold(s: number): number {
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
}

/** Swaps the bytes of a 16-bit sum. */
function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/**
 * Ones'-complement sum of `len` bytes of `b` from `from`, folded to 16 bits, as big-endian
 * words. The bulk is summed as 32-bit words from the first 4-byte aligned byte (RFC 1071
 * §2: the sum is byte-order independent up to a swap, and a part that starts at an odd
 * offset is the swapped sum of the same bytes taken from an even one).
 */
export function onesSum(b: Uint8Array, from: number, len: number): number {
  if (len < 64 || !LITTLE_ENDIAN) return fold(sumBytes(b, from, from + len));
  const lead = (4 - ((b.byteOffset + from) & 3)) & 3;
  const start = from + lead;
  const words = (len - lead) >>> 2;
  const w = new Uint32Array(b.buffer, b.byteOffset + start, words);
  let lo = 0;
  let hi = 0;
  // Each accumulator gains < 2^16 per word: 2^20 words stay far below 2^53.
  for (let i = 0; i < words; i++) {
    const x = w[i] as number;
    lo += x & 0xffff;
    hi += x >>> 16;
  }
  // Little-endian words: the folded sum of the aligned part has its bytes swapped.
  let rest = fold(swap16(fold(lo + hi)) + sumBytes(b, start + words * 4, from + len));
  if ((lead & 1) === 1) rest = swap16(rest);
  return fold(sumBytes(b, from, start) + rest);
}

/** Where an IP packet's TCP header is, or -1 when it is not TCP (IPv4 without fragments; IPv6 with TCP as next header). */
function tcpOffset(p: Uint8Array): number {
  const v = p.length > 0 ? (p[0] as number) >> 4 : 0;
  if (v === 4) {
    const ihl = ((p[0] as number) & 0x0f) * 4;
    if (ihl < 20 || p.length < ihl + 20 || p[9] !== 6) return -1;
    // A fragment (MF or an offset) is not a whole TCP segment.
    if ((((p[6] as number) & 0x3f) | (p[7] as number)) !== 0) return -1;
    return ihl;
  }
  if (v === 6) return p.length >= 60 && p[6] === 6 ? 40 : -1;
  return -1;
}

/** The pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1) for a TCP segment of `tcpLen` bytes. */
function pseudoSum(p: Uint8Array, tcpLen: number): number {
  if ((p[0] as number) >> 4 === 4) return sumBytes(p, 12, 20) + 6 + tcpLen;
  return sumBytes(p, 8, 40) + 6 + tcpLen;
}

function setTcpChecksum(p: Uint8Array, th: number, end: number): void {
  p[th + 16] = 0;
  p[th + 17] = 0;
  const c = ~fold(pseudoSum(p, end - th) + onesSum(p, th, end - th)) & 0xffff;
  p[th + 16] = c >> 8;
  p[th + 17] = c & 0xff;
}

function setIpv4Checksum(p: Uint8Array, ihl: number): void {
  p[10] = 0;
  p[11] = 0;
  const c = ~fold(sumBytes(p, 0, ihl)) & 0xffff;
  p[10] = c >> 8;
  p[11] = c & 0xff;
}

/**
 * Fills in the TCP checksum of an IP packet (IPv4 or IPv6) in place. Returns false, leaving
 * the packet alone, when it is not a whole TCP segment (another protocol, a fragment, IPv6
 * extension headers) or its length fields disagree with its size.
 */
export function fillTcpChecksum(p: Uint8Array): boolean {
  const th = tcpOffset(p);
  if (th < 0) return false;
  const end = ipLength(p);
  if (end > p.length || end < th + 20) return false;
  setTcpChecksum(p, th, end);
  return true;
}

/** The IP packet's length from its header. */
function ipLength(p: Uint8Array): number {
  if ((p[0] as number) >> 4 === 4) return ((p[2] as number) << 8) | (p[3] as number);
  return (((p[4] as number) << 8) | (p[5] as number)) + 40;
}

/** Where a TCP super-segment's parts start and how many there are (tcpSegmentInto's inputs). */
export interface TcpSegmentPlan {
  /** Offset of the TCP header. */
  th: number;
  /** IP and TCP header bytes, repeated on every part. */
  hdr: number;
  /** Payload bytes in all. */
  payload: number;
  /** Parts of gsoSize payload bytes (the last may be shorter). */
  count: number;
}

/**
 * The plan for cutting `packet` into parts of `gsoSize` payload bytes, or undefined when it is
 * not a whole TCP segment (another protocol, a fragment, IPv6 extension headers), its length
 * fields disagree with its size, or it has no payload.
 */
export function planTcpSegments(packet: Uint8Array, gsoSize: number): TcpSegmentPlan | undefined {
  const th = tcpOffset(packet);
  if (th < 0 || !(gsoSize > 0)) return undefined;
  if (ipLength(packet) !== packet.length) return undefined;
  const hdr = th + ((packet[th + 12] as number) >> 4) * 4;
  if (hdr < th + 20 || hdr >= packet.length) return undefined;
  const payload = packet.length - hdr;
  return { th, hdr, payload, count: Math.ceil(payload / gsoSize) };
}

/**
 * Cuts a TCP super-segment (exactly its IP length; see planTcpSegments) into parts of
 * `gsoSize` payload bytes: part i is written as a whole IP packet with correct checksums at
 * dst[dstOff[start + i]..], hdr + min(gsoSize, payload - i * gsoSize) bytes. `count` must be
 * the plan's. The JS twin of the addon's tcpSegment (nativeTcpSegment), same arguments.
 */
export function tcpSegmentInto(
  packet: Uint8Array,
  th: number,
  gsoSize: number,
  dst: ArrayBuffer,
  dstOff: Uint32Array,
  start: number,
  count: number,
): number {
  const plan = planTcpSegments(packet, gsoSize);
  if (!plan || plan.th !== th || plan.count !== count || start + count > dstOff.length)
    throw new RangeError('tcpSegmentInto: arguments do not match the packet');
  const { hdr, payload } = plan;
  const out = new Uint8Array(dst);
  for (let i = 0; i < count; i++) {
    const len = Math.min(gsoSize, payload - i * gsoSize);
    if ((dstOff[start + i] as number) + hdr + len > out.length)
      throw new RangeError('tcpSegmentInto: a part does not fit dst');
  }
  const v4 = (packet[0] as number) >> 4 === 4;
  const flags = packet[th + 13] as number;
  const seqBase =
    (((packet[th + 4] as number) << 24) |
      ((packet[th + 5] as number) << 16) |
      ((packet[th + 6] as number) << 8) |
      (packet[th + 7] as number)) >>>
    0;
  const id0 = v4 ? ((packet[4] as number) << 8) | (packet[5] as number) : 0;
  for (let i = 0; i < count; i++) {
    const off = i * gsoSize;
    const len = Math.min(gsoSize, payload - off);
    const total = hdr + len;
    const at = dstOff[start + i] as number;
    const p = out.subarray(at, at + total);
    p.set(packet.subarray(0, hdr));
    p.set(packet.subarray(hdr + off, hdr + off + len), hdr);
    if (v4) {
      p[2] = total >> 8;
      p[3] = total & 0xff;
      const id = (id0 + i) & 0xffff;
      p[4] = id >> 8;
      p[5] = id & 0xff;
      setIpv4Checksum(p, th);
    } else {
      p[4] = (total - 40) >> 8;
      p[5] = (total - 40) & 0xff;
    }
    const seq = (seqBase + off) >>> 0;
    p[th + 4] = seq >>> 24;
    p[th + 5] = (seq >>> 16) & 0xff;
    p[th + 6] = (seq >>> 8) & 0xff;
    p[th + 7] = seq & 0xff;
    let f = flags;
    if (i + 1 < count) f &= ~(FIN | PSH);
    if (i > 0) f &= ~CWR;
    p[th + 13] = f;
    setTcpChecksum(p, th, total);
  }
  return count;
}

/** tcpSegmentInto's signature: the addon's or the JS one. */
export type TcpSegmentFn = typeof tcpSegmentInto;

/** The addon's tcpSegment (native/gso.c) where it is built, else undefined (use tcpSegmentInto). */
export function nativeTcpSegment(): TcpSegmentFn | undefined {
  const n = nativeAead() as (NativeAead & { tcpSegment?: TcpSegmentFn }) | undefined;
  return typeof n?.tcpSegment === 'function' ? n.tcpSegment : undefined;
}
