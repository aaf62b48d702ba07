/**
 * IPv6 headers (RFC 8200) and the extension-header walk: hop-by-hop (first only),
 * routing, fragment and destination options, ending at the upper-layer protocol.
 */
import { Ipv6Address } from './ip-address.js';
import { type WireError, getU16, getU32, setU16 } from './wire-error.js';

const field = { VER_TC_FLOW: 0, PAYLOAD_LEN: 4, NEXT_HEADER: 6, HOP_LIMIT: 7, SRC: 8, DST: 24 } as const;
export const IPV6_HEADER_LEN = 40;
export const IPV6_FRAGMENT_HEADER_LEN = 8;
export const Ipv6NextHeader = {
  HopByHop: 0,
  Tcp: 6,
  Udp: 17,
  Routing: 43,
  Fragment: 44,
  Icmpv6: 58,
  NoNext: 59,
  DestOpts: 60,
} as const;

export class Ipv6Packet {
  private constructor(readonly buffer: Uint8Array) {}
  static newUnchecked(buffer: Uint8Array): Ipv6Packet {
    return new Ipv6Packet(buffer);
  }
  static newChecked(buffer: Uint8Array): Ipv6Packet | WireError {
    if (buffer.length < IPV6_HEADER_LEN) return 'truncated';
    const p = new Ipv6Packet(buffer);
    if (p.version !== 6) return 'malformed';
    if (IPV6_HEADER_LEN + p.payloadLen > buffer.length) return 'truncated';
    return p;
  }
  get version(): number {
    return this.buffer[0]! >> 4;
  }
  get trafficClass(): number {
    return (getU16(this.buffer, 0) >> 4) & 0xff;
  }
  get flowLabel(): number {
    return getU32(this.buffer, 0) & 0xfffff;
  }
  get payloadLen(): number {
    return getU16(this.buffer, field.PAYLOAD_LEN);
  }
  get nextHeader(): number {
    return this.buffer[field.NEXT_HEADER]!;
  }
  get hopLimit(): number {
    return this.buffer[field.HOP_LIMIT]!;
  }
  get src(): Ipv6Address {
    return Ipv6Address.fromBytes(this.buffer, field.SRC);
  }
  get dst(): Ipv6Address {
    return Ipv6Address.fromBytes(this.buffer, field.DST);
  }
  /** Payload (extension headers included), without link padding. */
  get payload(): Uint8Array {
    return this.buffer.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLen);
  }
}

export class Ipv6Repr {
  constructor(
    readonly src: Ipv6Address,
    readonly dst: Ipv6Address,
    readonly nextHeader: number,
    readonly payloadLen: number,
    readonly hopLimit = 64,
  ) {}
  static parse(p: Ipv6Packet): Ipv6Repr {
    return new Ipv6Repr(p.src, p.dst, p.nextHeader, p.payloadLen, p.hopLimit);
  }
  bufferLen(): number {
    return IPV6_HEADER_LEN;
  }
  emit(buf: Uint8Array, offset = 0): void {
    emitIpv6Header(buf, offset, this.src, this.dst, this.nextHeader, this.payloadLen, this.hopLimit);
  }
}

export function emitIpv6Header(
  buf: Uint8Array,
  o: number,
  src: Ipv6Address,
  dst: Ipv6Address,
  nextHeader: number,
  payloadLen: number,
  hopLimit: number,
): void {
  buf[o] = 0x60;
  buf[o + 1] = 0;
  buf[o + 2] = 0;
  buf[o + 3] = 0;
  setU16(buf, o + field.PAYLOAD_LEN, payloadLen);
  buf[o + field.NEXT_HEADER] = nextHeader;
  buf[o + field.HOP_LIMIT] = hopLimit;
  buf.set(src.bytes, o + field.SRC);
  buf.set(dst.bytes, o + field.DST);
}

/** Where the upper-layer header starts, after the extension headers. */
export interface Ipv6Upper {
  /** Upper-layer protocol (Ipv6NextHeader.NoNext when there is none). */
  protocol: number;
  /** Offset of the upper-layer header inside the IPv6 payload. */
  offset: number;
  /** Set when a fragment header was seen (offset in bytes). */
  fragment: { offset: number; more: boolean; ident: number; headerOffset: number } | undefined;
  /** Offset (in the payload) of the last extension header, whose first byte named `protocol`; -1 when none. */
  lastHeaderOffset: number;
}

/** Why the walk refused a packet; the stack counts each under its own name. */
export type Ipv6ExtError = WireError | 'hopByHopNotFirst' | 'unknownOption' | 'routingSegmentsLeft';

/**
 * Walks the extension headers of `payload` (the bytes after the fixed header).
 * Unknown options whose action bits say "discard" (RFC 8200 §4.2) fail the walk;
 * a routing header with Segments Left > 0 fails (a host does not forward).
 * On 'unknownOption', 'hopByHopNotFirst' and 'routingSegmentsLeft', `problem.pointer`
 * is set to the offending byte's offset in `payload` (for a Parameter Problem).
 */
export function walkIpv6Extensions(
  payload: Uint8Array,
  firstNextHeader: number,
  problem?: { pointer: number },
): Ipv6Upper | Ipv6ExtError {
  let nh = firstNextHeader;
  let off = 0;
  let fragment: Ipv6Upper['fragment'];
  let first = true;
  let last = -1;
  for (let guard = 0; guard < 16; guard++) {
    const prev = off;
    switch (nh) {
      case Ipv6NextHeader.HopByHop:
      case Ipv6NextHeader.DestOpts: {
        if (nh === Ipv6NextHeader.HopByHop && !first) {
          // The Next Header field that named it: byte 0 of the previous header.
          if (problem) problem.pointer = last;
          return 'hopByHopNotFirst';
        }
        if (off + 2 > payload.length) return 'truncated';
        const len = (payload[off + 1]! + 1) * 8;
        if (off + len > payload.length) return 'truncated';
        const r = checkOptions(payload, off + 2, off + len);
        if (typeof r === 'string') return r;
        if (r >= 0) {
          if (problem) problem.pointer = r;
          return 'unknownOption';
        }
        nh = payload[off]!;
        off += len;
        break;
      }
      case Ipv6NextHeader.Routing: {
        if (off + 4 > payload.length) return 'truncated';
        const len = (payload[off + 1]! + 1) * 8;
        if (off + len > payload.length) return 'truncated';
        if (payload[off + 3]! !== 0) {
          if (problem) problem.pointer = off + 2; // the Routing Type (RFC 8200 §4.4)
          return 'routingSegmentsLeft';
        }
        nh = payload[off]!;
        off += len;
        break;
      }
      case Ipv6NextHeader.Fragment: {
        if (off + IPV6_FRAGMENT_HEADER_LEN > payload.length) return 'truncated';
        const fo = getU16(payload, off + 2);
        fragment = {
          offset: fo & 0xfff8,
          more: (fo & 1) === 1,
          ident: getU32(payload, off + 4),
          headerOffset: off,
        };
        nh = payload[off]!;
        off += IPV6_FRAGMENT_HEADER_LEN;
        // A non-first fragment's later headers are not here: stop at the fragment header.
        if (fragment.offset !== 0 || fragment.more)
          return { protocol: nh, offset: off, fragment, lastHeaderOffset: last };
        break;
      }
      default:
        return { protocol: nh, offset: off, fragment, lastHeaderOffset: last };
    }
    last = prev;
    first = false;
  }
  return 'malformed';
}

/** -1 when the options are fine, the offset of a discard-type unknown option, or 'malformed'. */
function checkOptions(b: Uint8Array, start: number, end: number): 'malformed' | number {
  let i = start;
  while (i < end) {
    const type = b[i]!;
    if (type === 0) {
      i++; // Pad1
      continue;
    }
    if (i + 2 > end) return 'malformed';
    const len = b[i + 1]!;
    if (i + 2 + len > end) return 'malformed';
    // PadN (1) and Router Alert (5) are known; an unknown option's top two bits choose.
    if (type !== 1 && type !== 5 && type >> 6 !== 0) return i;
    i += 2 + len;
  }
  return -1;
}

/** Writes an 8-byte fragment header. `offset` in bytes (multiple of 8). */
export function emitIpv6FragmentHeader(
  buf: Uint8Array,
  o: number,
  nextHeader: number,
  offset: number,
  more: boolean,
  ident: number,
): void {
  buf[o] = nextHeader;
  buf[o + 1] = 0;
  setU16(buf, o + 2, (offset & 0xfff8) | (more ? 1 : 0));
  buf[o + 4] = ident >>> 24;
  buf[o + 5] = (ident >>> 16) & 0xff;
  buf[o + 6] = (ident >>> 8) & 0xff;
  buf[o + 7] = ident & 0xff;
}

/** Solicited-node multicast address ff02::1:ffXX:XXXX for `addr` (RFC 4291 §2.7.1). */
export function solicitedNode(addr: Ipv6Address): Ipv6Address {
  const b = new Uint8Array(16);
  b[0] = 0xff;
  b[1] = 0x02;
  b[11] = 0x01;
  b[12] = 0xff;
  b[13] = addr.bytes[13]!;
  b[14] = addr.bytes[14]!;
  b[15] = addr.bytes[15]!;
  return new Ipv6Address(b);
}

/** The Ethernet multicast MAC 33:33:xx:xx:xx:xx for an IPv6 multicast address (RFC 2464 §7). */
export function multicastMac(addr: Ipv6Address, out = new Uint8Array(6)): Uint8Array {
  out[0] = 0x33;
  out[1] = 0x33;
  out[2] = addr.bytes[12]!;
  out[3] = addr.bytes[13]!;
  out[4] = addr.bytes[14]!;
  out[5] = addr.bytes[15]!;
  return out;
}

/** Modified EUI-64 interface identifier from a MAC (RFC 4291 App. A) after a /64 prefix. */
export function eui64Address(prefix: Uint8Array, mac: Uint8Array): Ipv6Address {
  const b = new Uint8Array(16);
  b.set(prefix.subarray(0, 8), 0);
  b[8] = mac[0]! ^ 0x02;
  b[9] = mac[1]!;
  b[10] = mac[2]!;
  b[11] = 0xff;
  b[12] = 0xfe;
  b[13] = mac[3]!;
  b[14] = mac[4]!;
  b[15] = mac[5]!;
  return new Ipv6Address(b);
}
