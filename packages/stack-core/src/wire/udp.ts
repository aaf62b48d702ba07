/** UDP datagrams (RFC 768) and their pseudo-header checksum (IPv4 optional, IPv6 mandatory). */
import { finishChecksum, onesSum, pseudoHeaderSum } from './checksum.js';
import type { IpAddress } from './ip-address.js';
import { type WireError, getU16, setU16 } from './wire-error.js';

const field = { SRC_PORT: 0, DST_PORT: 2, LENGTH: 4, CHECKSUM: 6 } as const;
export const UDP_HEADER_LEN = 8;

export class UdpPacket {
  private constructor(readonly buffer: Uint8Array) {}
  static newUnchecked(buffer: Uint8Array): UdpPacket {
    return new UdpPacket(buffer);
  }
  /** Header present, Length ≥ 8 and inside the buffer. */
  static newChecked(buffer: Uint8Array): UdpPacket | WireError {
    if (buffer.length < UDP_HEADER_LEN) return 'truncated';
    const p = new UdpPacket(buffer);
    const len = p.length;
    if (len < UDP_HEADER_LEN) return 'malformed';
    if (len > buffer.length) return 'truncated';
    return p;
  }
  get srcPort(): number {
    return getU16(this.buffer, field.SRC_PORT);
  }
  get dstPort(): number {
    return getU16(this.buffer, field.DST_PORT);
  }
  get length(): number {
    return getU16(this.buffer, field.LENGTH);
  }
  get checksum(): number {
    return getU16(this.buffer, field.CHECKSUM);
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(UDP_HEADER_LEN, this.length);
  }
  /** True when the checksum is correct, or absent (0) over IPv4. IPv6 requires one (RFC 8200 §8.1). */
  verifyChecksum(src: IpAddress, dst: IpAddress): boolean {
    if (this.checksum === 0) return src.version === 4;
    const len = this.length;
    return finishChecksum(onesSum(this.buffer, 0, len, pseudoHeaderSum(src, dst, 17, len))) === 0;
  }
  fillChecksum(src: IpAddress, dst: IpAddress): void {
    const len = this.length;
    setU16(this.buffer, field.CHECKSUM, 0);
    const ck = finishChecksum(onesSum(this.buffer, 0, len, pseudoHeaderSum(src, dst, 17, len)));
    setU16(this.buffer, field.CHECKSUM, ck === 0 ? 0xffff : ck);
  }
}

export class UdpRepr {
  constructor(
    readonly srcPort: number,
    readonly dstPort: number,
  ) {}
  static parse(p: UdpPacket, src: IpAddress, dst: IpAddress): UdpRepr | WireError {
    if (p.dstPort === 0) return 'malformed';
    if (!p.verifyChecksum(src, dst)) return 'badChecksum';
    return new UdpRepr(p.srcPort, p.dstPort);
  }
  bufferLen(payloadLen: number): number {
    return UDP_HEADER_LEN + payloadLen;
  }
  /** Writes header + payload at `offset` and fills the checksum. */
  emit(buf: Uint8Array, offset: number, payload: Uint8Array, src: IpAddress, dst: IpAddress): void {
    emitUdp(buf, offset, this.srcPort, this.dstPort, payload, src, dst);
  }
}

export function emitUdp(
  buf: Uint8Array,
  o: number,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  src: IpAddress,
  dst: IpAddress,
): void {
  const len = UDP_HEADER_LEN + payload.length;
  setU16(buf, o, srcPort);
  setU16(buf, o + 2, dstPort);
  setU16(buf, o + 4, len);
  setU16(buf, o + 6, 0);
  buf.set(payload, o + UDP_HEADER_LEN);
  const ck = finishChecksum(onesSum(buf, o, o + len, pseudoHeaderSum(src, dst, 17, len)));
  setU16(buf, o + 6, ck === 0 ? 0xffff : ck);
}
