/**
 * IPv4 headers (RFC 791). Options are skipped by trusting IHL after checking it
 * against the buffer; the payload ends at Total Length (Ethernet padding is ignored).
 */
import { internetChecksum } from './checksum.js';
import { Ipv4Address } from './ip-address.js';
import { type WireError, getU16, getU32, setU16, setU32 } from './wire-error.js';

const field = {
  VER_IHL: 0,
  DSCP_ECN: 1,
  LENGTH: 2,
  IDENT: 4,
  FLG_OFF: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
} as const;
export const IPV4_HEADER_LEN = 20;
export const IpProtocol = {
  Icmp: 1,
  Tcp: 6,
  Udp: 17,
  Ipv6Route: 43,
  Ipv6Frag: 44,
  Icmpv6: 58,
  Ipv6NoNxt: 59,
  Ipv6Opts: 60,
  HopByHop: 0,
} as const;

export class Ipv4Packet {
  private constructor(readonly buffer: Uint8Array) {}
  static newUnchecked(buffer: Uint8Array): Ipv4Packet {
    return new Ipv4Packet(buffer);
  }
  /** Version 4, IHL ≥ 5, header and Total Length inside the buffer. Does not verify the checksum. */
  static newChecked(buffer: Uint8Array): Ipv4Packet | WireError {
    if (buffer.length < IPV4_HEADER_LEN) return 'truncated';
    const p = new Ipv4Packet(buffer);
    if (p.version !== 4) return 'malformed';
    const hl = p.headerLen;
    if (hl < IPV4_HEADER_LEN) return 'malformed';
    const tl = p.totalLen;
    if (hl > buffer.length || tl > buffer.length) return 'truncated';
    if (tl < hl) return 'malformed';
    return p;
  }
  get version(): number {
    return this.buffer[field.VER_IHL]! >> 4;
  }
  get headerLen(): number {
    return (this.buffer[field.VER_IHL]! & 0xf) * 4;
  }
  get dscpEcn(): number {
    return this.buffer[field.DSCP_ECN]!;
  }
  get totalLen(): number {
    return getU16(this.buffer, field.LENGTH);
  }
  get ident(): number {
    return getU16(this.buffer, field.IDENT);
  }
  get dontFragment(): boolean {
    return (this.buffer[field.FLG_OFF]! & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.buffer[field.FLG_OFF]! & 0x20) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragOffset(): number {
    return (getU16(this.buffer, field.FLG_OFF) & 0x1fff) * 8;
  }
  get ttl(): number {
    return this.buffer[field.TTL]!;
  }
  get protocol(): number {
    return this.buffer[field.PROTOCOL]!;
  }
  get checksum(): number {
    return getU16(this.buffer, field.CHECKSUM);
  }
  get srcValue(): number {
    return getU32(this.buffer, field.SRC);
  }
  get dstValue(): number {
    return getU32(this.buffer, field.DST);
  }
  get src(): Ipv4Address {
    return new Ipv4Address(this.srcValue);
  }
  get dst(): Ipv4Address {
    return new Ipv4Address(this.dstValue);
  }
  verifyChecksum(): boolean {
    return internetChecksum(this.buffer, 0, this.headerLen) === 0;
  }
  fillChecksum(): void {
    setU16(this.buffer, field.CHECKSUM, 0);
    setU16(this.buffer, field.CHECKSUM, internetChecksum(this.buffer, 0, this.headerLen));
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen, this.totalLen);
  }
}

/** The parsed form of an IPv4 header (options are not represented; emit writes none). */
export class Ipv4Repr {
  constructor(
    readonly src: Ipv4Address,
    readonly dst: Ipv4Address,
    readonly protocol: number,
    readonly payloadLen: number,
    readonly ttl = 64,
    readonly ident = 0,
    readonly dontFragment = false,
    readonly moreFragments = false,
    readonly fragOffset = 0,
  ) {}
  /** Also verifies the header checksum. */
  static parse(p: Ipv4Packet): Ipv4Repr | WireError {
    if (!p.verifyChecksum()) return 'badChecksum';
    return new Ipv4Repr(
      p.src,
      p.dst,
      p.protocol,
      p.totalLen - p.headerLen,
      p.ttl,
      p.ident,
      p.dontFragment,
      p.moreFragments,
      p.fragOffset,
    );
  }
  bufferLen(): number {
    return IPV4_HEADER_LEN;
  }
  emit(buf: Uint8Array, offset = 0): void {
    emitIpv4Header(
      buf,
      offset,
      this.src.value,
      this.dst.value,
      this.protocol,
      this.payloadLen,
      this.ttl,
      this.ident,
      (this.dontFragment ? 0x4000 : 0) | (this.moreFragments ? 0x2000 : 0) | (this.fragOffset >>> 3),
    );
  }
}

/** Writes a 20-byte header with its checksum. `flagsOffset` is the raw 16-bit flags/fragment field. */
export function emitIpv4Header(
  buf: Uint8Array,
  o: number,
  src: number,
  dst: number,
  protocol: number,
  payloadLen: number,
  ttl: number,
  ident: number,
  flagsOffset: number,
): void {
  const length = (IPV4_HEADER_LEN + payloadLen) & 0xffff;
  const ttlProto = ((ttl & 0xff) << 8) | (protocol & 0xff);
  buf[o] = 0x45;
  buf[o + 1] = 0;
  setU16(buf, o + 2, length);
  setU16(buf, o + 4, ident);
  setU16(buf, o + 6, flagsOffset);
  setU16(buf, o + 8, ttlProto);
  setU32(buf, o + 12, src);
  setU32(buf, o + 16, dst);
  // The checksum (RFC 1071) over the ten 16-bit words, summed from the values just written.
  let s =
    0x4500 +
    length +
    (ident & 0xffff) +
    (flagsOffset & 0xffff) +
    ttlProto +
    (src >>> 16) +
    (src & 0xffff) +
    (dst >>> 16) +
    (dst & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  setU16(buf, o + 10, ~s & 0xffff);
}
