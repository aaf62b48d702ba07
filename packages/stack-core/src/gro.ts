/**
 * Receive coalescing (GRO) for interfaces whose link does not coalesce itself (VXLAN,
 * WireGuard, an in-memory switch, a TAP without offloads): consecutive in-order TCP
 * segments of one flow received between two polls are merged into one segment before
 * TCP sees it, so TCP does its per-segment work (lookup, ACK processing, timers, events)
 * once per batch rather than once per frame. The rules are Linux's tcp_gro_receive /
 * inet_gro_receive: the same flow, contiguous sequence numbers, the same ACK, window,
 * flags (PSH allowed on the last part) and option bytes (timestamps included), no larger
 * part than the first, the same TOS/TTL (IPv4, no IP options, DF alike, IDs in order) or
 * traffic class, flow label and hop limit (IPv6, no extension headers). A part with PSH,
 * or shorter than the first, ends the merge and goes up at once; the rest go up at the
 * next poll (`flush`). TCP is told the size of the parts, so its ACK and delayed-ACK
 * decisions are those it would make had they come one by one (RFC 9293 §3.8.6.3,
 * RFC 5681 §4.2). Checksums are checked per part before merging. At most MAX_FLOWS flows
 * are held (the oldest goes up when one more comes), and everything goes up at each poll.
 */
import type { Instant } from './registration.js';
import type { IpAddress } from './wire/ip-address.js';
import { readU32, TcpFlags, verifyTcpChecksum } from './wire/tcp.js';

const { ACK, PSH, ECE } = TcpFlags;

/** Flows held at once (Linux: MAX_GRO_SKBS). */
const MAX_FLOWS = 8;
/** The largest merged TCP segment: what fits one IPv4 packet with the largest headers. */
const MAX_SEGMENT = 65535 - 60;

/** SharedArrayBuffer where the platform has it (copyInto). */
const SHARED: typeof SharedArrayBuffer | undefined =
  typeof SharedArrayBuffer === 'function' ? SharedArrayBuffer : undefined;
const BOUNCE = new Uint8Array(MAX_SEGMENT + 8);

/**
 * dst.set(src, at). A source in a SharedArrayBuffer (a frame ring drained in place) at
 * another alignment mod 8 than its destination goes through a bounce buffer at its own
 * alignment first: V8 copies shared memory byte by byte when the two disagree mod 8, 5-10x
 * slower (as in ByteRing.copyIn); TCP payloads sit at 2 mod 8 in ring records. Without
 * this, coalescing frames from a TAP's ring cost more CPU than it saved.
 */
function copyInto(dst: Uint8Array, at: number, src: Uint8Array): void {
  if (
    SHARED !== undefined &&
    ((src.byteOffset - dst.byteOffset - at) & 7) !== 0 &&
    src.buffer instanceof SHARED
  ) {
    const so = src.byteOffset & 7;
    BOUNCE.set(src, so);
    dst.set(BOUNCE.subarray(so, so + src.length), at);
    return;
  }
  dst.set(src, at);
}

/** Hands a (merged) segment to TCP: trusted = checksum already checked; segSize = size of its parts (0: one). */
export type GroDeliver = (
  src: IpAddress,
  dst: IpAddress,
  segment: Uint8Array,
  now: Instant,
  trusted: boolean,
  segSize: number,
) => void;

interface Held {
  active: boolean;
  v6: boolean;
  src: IpAddress;
  dst: IpAddress;
  /** Source and destination port as one number. */
  ports: number;
  /** IPv4: TOS << 16 | TTL << 8 | DF; IPv6: hop limit (and `ipWord0` the first word). */
  ipWord: number;
  ipWord0: number;
  /** IPv4 identification of the last part. */
  ident: number;
  /** The first part's TCP header, then the payloads. */
  buf: Uint8Array;
  hl: number;
  len: number;
  nextSeq: number;
  /** Payload bytes of the first part: no later part may be larger. */
  mss: number;
  parts: number;
  /** Order of arrival, for eviction and flush. */
  seq: number;
}

export class TcpGro {
  private readonly flows: Held[] = [];
  private heldCount = 0;
  private arrivals = 0;
  /** Parts merged into an earlier part of their flow. */
  merged = 0;
  /** Merged segments (two parts or more) handed to TCP. */
  coalesced = 0;

  constructor(private readonly deliver: GroDeliver) {}

  /** Segments are held: the caller must poll (flush) before sleeping. */
  get holding(): boolean {
    return this.heldCount > 0;
  }

  /**
   * A TCP segment from IPv4 packet `ip` (its header is the first 20 bytes; callers pass
   * only packets without options or fragmentation) on an interface with coalescing on.
   */
  input4(
    ip: Uint8Array,
    src: IpAddress,
    dst: IpAddress,
    seg: Uint8Array,
    now: Instant,
    trusted: boolean,
  ): void {
    const df = (ip[6]! >> 6) & 1;
    this.input(
      false,
      (ip[1]! << 16) | (ip[8]! << 8) | df,
      0,
      (ip[4]! << 8) | ip[5]!,
      df === 1,
      src,
      dst,
      seg,
      now,
      trusted,
    );
  }

  /** A TCP segment right after the fixed IPv6 header of `ip` (no extension headers). */
  input6(
    ip: Uint8Array,
    src: IpAddress,
    dst: IpAddress,
    seg: Uint8Array,
    now: Instant,
    trusted: boolean,
  ): void {
    const w0 = ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
    this.input(true, ip[7]!, w0, 0, false, src, dst, seg, now, trusted);
  }

  private input(
    v6: boolean,
    ipWord: number,
    ipWord0: number,
    ident: number,
    df: boolean,
    src: IpAddress,
    dst: IpAddress,
    seg: Uint8Array,
    now: Instant,
    trusted: boolean,
  ): void {
    const n = seg.length;
    const hl = n >= 20 ? (seg[12]! >> 4) * 4 : 0;
    if (hl < 20 || hl > n || n > MAX_SEGMENT) {
      this.deliver(src, dst, seg, now, trusted, 0); // TCP counts it malformed
      return;
    }
    const ports = ((seg[0]! << 24) | (seg[1]! << 16) | (seg[2]! << 8) | seg[3]!) >>> 0;
    let h: Held | undefined;
    if (this.heldCount > 0) {
      for (const f of this.flows) {
        if (f.active && f.ports === ports && f.v6 === v6 && f.src.equals(src) && f.dst.equals(dst)) {
          h = f;
          break;
        }
      }
    }
    const plen = n - hl;
    const flags = seg[13]!;
    // Only plain data segments are merged (Linux flushes on SYN, FIN, RST, URG and CWR).
    if (plen === 0 || (flags & ~(PSH | ECE)) !== ACK) {
      if (h) this.release(h, now);
      this.deliver(src, dst, seg, now, trusted, 0);
      return;
    }
    if (!trusted && !verifyTcpChecksum(src, dst, seg)) {
      // TCP checks it again and counts it; a bad part does not end the merge.
      this.deliver(src, dst, seg, now, false, 0);
      return;
    }
    if (h) {
      if (this.fits(h, ipWord, ipWord0, ident, df, seg, hl, plen)) {
        copyInto(h.buf, h.len, seg.subarray(hl));
        h.len += plen;
        h.nextSeq = (h.nextSeq + plen) >>> 0;
        h.parts++;
        h.ident = ident;
        this.merged++;
        if (flags & PSH || plen < h.mss) {
          h.buf[13] = h.buf[13]! | (flags & PSH);
          this.release(h, now);
        }
        return;
      }
      this.release(h, now);
    }
    if (flags & PSH) {
      // The end of what the sender had: nothing will follow to merge with.
      this.deliver(src, dst, seg, now, true, 0);
      return;
    }
    this.hold(v6, ipWord, ipWord0, ident, src, dst, ports, seg, hl, plen, now);
  }

  private fits(
    h: Held,
    ipWord: number,
    ipWord0: number,
    ident: number,
    df: boolean,
    seg: Uint8Array,
    hl: number,
    plen: number,
  ): boolean {
    if (hl !== h.hl || plen > h.mss || h.len + plen > MAX_SEGMENT) return false;
    if (ipWord !== h.ipWord || ipWord0 !== h.ipWord0) return false;
    // IPv4 IDs count up per packet, or stay put with DF (Linux's flush_id).
    if (!h.v6 && ident !== ((h.ident + 1) & 0xffff) && !(df && ident === h.ident)) return false;
    if (readU32(seg, 4) !== h.nextSeq) return false;
    const b = h.buf;
    // ACK, data offset, flags (PSH aside), window; then the options byte for byte.
    if (seg[8] !== b[8] || seg[9] !== b[9] || seg[10] !== b[10] || seg[11] !== b[11]) return false;
    if (seg[12] !== b[12] || (seg[13]! & ~PSH) !== b[13] || seg[14] !== b[14] || seg[15] !== b[15])
      return false;
    for (let i = 20; i < hl; i++) if (seg[i] !== b[i]) return false;
    return true;
  }

  private hold(
    v6: boolean,
    ipWord: number,
    ipWord0: number,
    ident: number,
    src: IpAddress,
    dst: IpAddress,
    ports: number,
    seg: Uint8Array,
    hl: number,
    plen: number,
    now: Instant,
  ): void {
    let slot: Held | undefined;
    for (const f of this.flows) if (!f.active) slot = f;
    if (slot === undefined && this.flows.length < MAX_FLOWS) {
      slot = {
        active: false,
        v6,
        src,
        dst,
        ports: 0,
        ipWord: 0,
        ipWord0: 0,
        ident: 0,
        buf: new Uint8Array(MAX_SEGMENT),
        hl: 0,
        len: 0,
        nextSeq: 0,
        mss: 0,
        parts: 0,
        seq: 0,
      };
      this.flows.push(slot);
    }
    if (slot === undefined) {
      // All slots busy: the oldest flow goes up now.
      let oldest = this.flows[0]!;
      for (const f of this.flows) if (f.seq < oldest.seq) oldest = f;
      this.release(oldest, now);
      slot = oldest;
    }
    slot.active = true;
    slot.v6 = v6;
    slot.src = src;
    slot.dst = dst;
    slot.ports = ports;
    slot.ipWord = ipWord;
    slot.ipWord0 = ipWord0;
    slot.ident = ident;
    copyInto(slot.buf, 0, seg);
    slot.hl = hl;
    slot.len = seg.length;
    slot.nextSeq = (readU32(seg, 4) + plen) >>> 0;
    slot.mss = plen;
    slot.parts = 1;
    slot.seq = this.arrivals++;
    this.heldCount++;
  }

  private release(h: Held, now: Instant): void {
    h.active = false;
    this.heldCount--;
    if (h.parts > 1) this.coalesced++;
    this.deliver(h.src, h.dst, h.buf.subarray(0, h.len), now, true, h.parts > 1 ? h.mss : 0);
  }

  /** Hands every held segment to TCP, oldest first (at the start of each poll). */
  flush(now: Instant): void {
    while (this.heldCount > 0) {
      let oldest: Held | undefined;
      for (const f of this.flows) if (f.active && (oldest === undefined || f.seq < oldest.seq)) oldest = f;
      this.release(oldest!, now);
    }
  }
}
