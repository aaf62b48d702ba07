/**
 * The TCP header (RFC 9293 §3.1) and the options TCP uses here: MSS (§3.2),
 * window scale and timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018).
 * `TcpPacket` is the view (`newChecked` for untrusted bytes: header present, data offset
 * 5..15 words and inside the segment); `TcpRepr` is a reusable parsed form: `parsePacket`
 * fills it from a checked view and says whether the options and ports were well formed;
 * `emit` writes it back (checksum left to the caller). The receive path allocates
 * neither: the TCP layer keeps one view and re-points it per segment (`TcpPacket.check`).
 */
import type { IpAddress } from './ip-address.js';
import { finishChecksum, onesSum, pseudoHeaderSum } from './checksum.js';
import type { WireError } from './wire-error.js';

export const TCP_PROTOCOL = 6;
export const TCP_HEADER_LEN = 20;

/** Field offsets in the fixed header. */
const field = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const;

export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_SACK = 5;
const OPT_TIMESTAMP = 8;

/** At most 4 SACK blocks fit in 40 option bytes (3 with timestamps). */
export const MAX_SACK_BLOCKS = 4;

/**
 * Why `buf` is not a TCP header, or undefined when it is one: at least 20 bytes, a data
 * offset of at least 5 words (RFC 9293 §3.1) whose header fits in the segment.
 */
export function tcpHeaderError(buf: Uint8Array): WireError | undefined {
  if (buf.length < TCP_HEADER_LEN) return 'truncated';
  const hlen = (buf[field.DATA_OFFSET]! >>> 4) * 4;
  if (hlen < TCP_HEADER_LEN) return 'malformed';
  if (hlen > buf.length) return 'truncated';
  return undefined;
}

/** A view over a TCP segment (header, options, payload). */
export class TcpPacket {
  private constructor(private bytes: Uint8Array) {}
  static newUnchecked(buffer: Uint8Array): TcpPacket {
    return new TcpPacket(buffer);
  }
  /** The header is present, its data offset is 5..15 words and inside the buffer. */
  static newChecked(buffer: Uint8Array): TcpPacket | WireError {
    return tcpHeaderError(buffer) ?? new TcpPacket(buffer);
  }
  /**
   * `newChecked` for a view kept and reused (the receive path: no allocation per
   * segment): points this view at `buffer` and returns why it is not a TCP segment, or
   * undefined when it is one.
   */
  check(buffer: Uint8Array): WireError | undefined {
    this.bytes = buffer;
    return tcpHeaderError(buffer);
  }
  get buffer(): Uint8Array {
    return this.bytes;
  }
  get srcPort(): number {
    return (this.bytes[field.SRC_PORT]! << 8) | this.bytes[field.SRC_PORT + 1]!;
  }
  get dstPort(): number {
    return (this.bytes[field.DST_PORT]! << 8) | this.bytes[field.DST_PORT + 1]!;
  }
  get seq(): number {
    return readU32(this.bytes, field.SEQ);
  }
  get ack(): number {
    return readU32(this.bytes, field.ACK);
  }
  /** Header length in bytes, options included (20..60). */
  get headerLength(): number {
    return (this.bytes[field.DATA_OFFSET]! >>> 4) * 4;
  }
  get flags(): number {
    return this.bytes[field.FLAGS]!;
  }
  get window(): number {
    return (this.bytes[field.WINDOW]! << 8) | this.bytes[field.WINDOW + 1]!;
  }
  get checksum(): number {
    return (this.bytes[field.CHECKSUM]! << 8) | this.bytes[field.CHECKSUM + 1]!;
  }
  get urgent(): number {
    return (this.bytes[field.URGENT]! << 8) | this.bytes[field.URGENT + 1]!;
  }
  /** The option bytes (0..40). */
  get options(): Uint8Array {
    return this.bytes.subarray(field.OPTIONS, this.headerLength);
  }
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLength);
  }
}

export class TcpRepr {
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  urgent = 0;
  checksum = 0;
  /** Header length in bytes (20..60); the payload starts here. */
  headerLength = TCP_HEADER_LEN;
  /** MSS option, 0 when absent. */
  mss = 0;
  /** Window scale shift, -1 when absent. */
  wscale = -1;
  sackPermitted = false;
  hasTimestamp = false;
  tsVal = 0;
  tsEcr = 0;
  /** SACK blocks as [start0, end0, start1, end1, ...]; `sackCount` pairs are valid. */
  readonly sack = new Uint32Array(MAX_SACK_BLOCKS * 2);
  sackCount = 0;
  /**
   * Not on the wire: > 0 when the segment is several coalesced ones (GRO) of this many
   * payload bytes each; set by whoever hands the segment to TCP (parse leaves it).
   */
  segSize = 0;

  /** Resets the options so one repr can be reused for the next segment. */
  clearOptions(): void {
    this.mss = 0;
    this.wscale = -1;
    this.sackPermitted = false;
    this.hasTimestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }

  /**
   * Fills this repr from `buf` (a whole segment, untrusted): `tcpHeaderError` then
   * `parsePacket`. Returns false when the bytes are not a well-formed TCP segment.
   */
  parse(buf: Uint8Array): boolean {
    return tcpHeaderError(buf) === undefined && this.parseHeader(buf);
  }

  /**
   * Fills this repr from a checked view. Returns false when the segment is malformed:
   * a port is 0 (reserved, RFC 6335 §6; smoltcp refuses it too), or an option runs past
   * the header or has the wrong length. Unknown options are skipped.
   */
  parsePacket(p: TcpPacket): boolean {
    return this.parseHeader(p.buffer);
  }

  /** `buf` passed tcpHeaderError. */
  private parseHeader(buf: Uint8Array): boolean {
    const hlen = (buf[field.DATA_OFFSET]! >>> 4) * 4;
    this.srcPort = (buf[field.SRC_PORT]! << 8) | buf[field.SRC_PORT + 1]!;
    this.dstPort = (buf[field.DST_PORT]! << 8) | buf[field.DST_PORT + 1]!;
    if (this.srcPort === 0 || this.dstPort === 0) return false;
    this.seq = readU32(buf, field.SEQ);
    this.ack = readU32(buf, field.ACK);
    this.flags = buf[field.FLAGS]!;
    this.window = (buf[field.WINDOW]! << 8) | buf[field.WINDOW + 1]!;
    this.checksum = (buf[field.CHECKSUM]! << 8) | buf[field.CHECKSUM + 1]!;
    this.urgent = (buf[field.URGENT]! << 8) | buf[field.URGENT + 1]!;
    this.headerLength = hlen;
    this.clearOptions();
    let i = TCP_HEADER_LEN;
    while (i < hlen) {
      const kind = buf[i]!;
      if (kind === OPT_END) break;
      if (kind === OPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= hlen) return false;
      const len = buf[i + 1]!;
      if (len < 2 || i + len > hlen) return false;
      switch (kind) {
        case OPT_MSS:
          if (len !== 4) return false;
          this.mss = (buf[i + 2]! << 8) | buf[i + 3]!;
          break;
        case OPT_WSCALE:
          if (len !== 3) return false;
          this.wscale = buf[i + 2]!;
          break;
        case OPT_SACK_PERMITTED:
          if (len !== 2) return false;
          this.sackPermitted = true;
          break;
        case OPT_SACK: {
          if ((len - 2) % 8 !== 0) return false;
          const n = Math.min((len - 2) / 8, MAX_SACK_BLOCKS);
          for (let b = 0; b < n; b++) {
            this.sack[b * 2] = readU32(buf, i + 2 + b * 8);
            this.sack[b * 2 + 1] = readU32(buf, i + 6 + b * 8);
          }
          this.sackCount = n;
          break;
        }
        case OPT_TIMESTAMP:
          if (len !== 10) return false;
          this.hasTimestamp = true;
          this.tsVal = readU32(buf, i + 2);
          this.tsEcr = readU32(buf, i + 6);
          break;
        default:
          break;
      }
      i += len;
    }
    return true;
  }

  /** Bytes the options take when emitted (padded to 4). */
  optionsLength(): number {
    let n = 0;
    if (this.mss) n += 4;
    if (this.sackPermitted && this.hasTimestamp) n += 12;
    else {
      if (this.sackPermitted) n += 4;
      if (this.hasTimestamp) n += 12;
    }
    if (this.wscale >= 0) n += 4;
    if (this.sackCount > 0) n += 4 + this.sackCount * 8;
    return n;
  }

  /** Header bytes `emit` writes. */
  emittedHeaderLength(): number {
    return TCP_HEADER_LEN + this.optionsLength();
  }

  /**
   * Writes the header and options at buf[offset..]; the checksum field is written as
   * `this.checksum` (set it to 0 and fill it in with `fillTcpChecksum`). Returns the header length.
   * Option layout follows Linux so captures look familiar.
   */
  emit(buf: Uint8Array, offset = 0): number {
    const hlen = this.emittedHeaderLength();
    buf[offset + field.SRC_PORT] = this.srcPort >>> 8;
    buf[offset + field.SRC_PORT + 1] = this.srcPort & 0xff;
    buf[offset + field.DST_PORT] = this.dstPort >>> 8;
    buf[offset + field.DST_PORT + 1] = this.dstPort & 0xff;
    writeU32(buf, offset + field.SEQ, this.seq);
    writeU32(buf, offset + field.ACK, this.ack);
    buf[offset + field.DATA_OFFSET] = (hlen / 4) << 4;
    buf[offset + field.FLAGS] = this.flags;
    buf[offset + field.WINDOW] = this.window >>> 8;
    buf[offset + field.WINDOW + 1] = this.window & 0xff;
    buf[offset + field.CHECKSUM] = this.checksum >>> 8;
    buf[offset + field.CHECKSUM + 1] = this.checksum & 0xff;
    buf[offset + field.URGENT] = this.urgent >>> 8;
    buf[offset + field.URGENT + 1] = this.urgent & 0xff;
    let i = offset + field.OPTIONS;
    if (this.mss) {
      buf[i] = OPT_MSS;
      buf[i + 1] = 4;
      buf[i + 2] = this.mss >>> 8;
      buf[i + 3] = this.mss & 0xff;
      i += 4;
    }
    if (this.sackPermitted && this.hasTimestamp) {
      buf[i] = OPT_SACK_PERMITTED;
      buf[i + 1] = 2;
      i = writeTimestamp(buf, i + 2, this.tsVal, this.tsEcr);
    } else {
      if (this.sackPermitted) {
        buf[i] = OPT_NOP;
        buf[i + 1] = OPT_NOP;
        buf[i + 2] = OPT_SACK_PERMITTED;
        buf[i + 3] = 2;
        i += 4;
      }
      if (this.hasTimestamp) {
        buf[i] = OPT_NOP;
        buf[i + 1] = OPT_NOP;
        i = writeTimestamp(buf, i + 2, this.tsVal, this.tsEcr);
      }
    }
    if (this.wscale >= 0) {
      buf[i] = OPT_NOP;
      buf[i + 1] = OPT_WSCALE;
      buf[i + 2] = 3;
      buf[i + 3] = this.wscale;
      i += 4;
    }
    if (this.sackCount > 0) {
      buf[i] = OPT_NOP;
      buf[i + 1] = OPT_NOP;
      buf[i + 2] = OPT_SACK;
      buf[i + 3] = 2 + this.sackCount * 8;
      i += 4;
      for (let b = 0; b < this.sackCount; b++) {
        writeU32(buf, i, this.sack[b * 2]!);
        writeU32(buf, i + 4, this.sack[b * 2 + 1]!);
        i += 8;
      }
    }
    return hlen;
  }
}

function writeTimestamp(buf: Uint8Array, i: number, tsVal: number, tsEcr: number): number {
  buf[i] = OPT_TIMESTAMP;
  buf[i + 1] = 10;
  writeU32(buf, i + 2, tsVal);
  writeU32(buf, i + 6, tsEcr);
  return i + 10;
}

export function readU32(buf: Uint8Array, i: number): number {
  return ((buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!) >>> 0;
}

export function writeU32(buf: Uint8Array, i: number, v: number): void {
  buf[i] = v >>> 24;
  buf[i + 1] = (v >>> 16) & 0xff;
  buf[i + 2] = (v >>> 8) & 0xff;
  buf[i + 3] = v & 0xff;
}

/** The TCP checksum of `seg` (header + payload, checksum field included) over the pseudo-header. */
export function tcpChecksum(src: IpAddress, dst: IpAddress, seg: Uint8Array): number {
  return finishChecksum(onesSum(seg, 0, seg.length, pseudoHeaderSum(src, dst, TCP_PROTOCOL, seg.length)));
}

/** True when the segment's checksum field is right. */
export function verifyTcpChecksum(src: IpAddress, dst: IpAddress, seg: Uint8Array): boolean {
  return tcpChecksum(src, dst, seg) === 0;
}

/** Computes and stores the checksum of `seg` (its checksum field must be 0 on entry). */
export function fillTcpChecksum(src: IpAddress, dst: IpAddress, seg: Uint8Array): void {
  const c = tcpChecksum(src, dst, seg);
  seg[field.CHECKSUM] = c >>> 8;
  seg[field.CHECKSUM + 1] = c & 0xff;
}
