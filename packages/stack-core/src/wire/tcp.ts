/**
 * The TCP header (RFC 9293 §3.1) and the options TCP uses here: MSS (§3.2),
 * window scale and timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018).
 * `TcpRepr` is a reusable parsed form: `parse` fills it from untrusted bytes and says
 * whether they were well formed; `emit` writes it back (checksum left to the caller).
 */
import type { IpAddress } from './ip-address.js';
import { finishChecksum, onesSum, pseudoHeaderSum } from './checksum.js';

export const TCP_PROTOCOL = 6;
export const TCP_HEADER_LEN = 20;

/** Field offsets in the fixed header. */
const field = {
  srcPort: 0,
  dstPort: 2,
  seq: 4,
  ack: 8,
  dataOffset: 12,
  flags: 13,
  window: 14,
  checksum: 16,
  urgent: 18,
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
   * Fills this repr from `buf` (a whole segment). Returns false when the bytes are not a
   * well-formed TCP header (short, bad data offset, option running past the header).
   * Unknown options are skipped; a malformed known option makes the segment invalid.
   */
  parse(buf: Uint8Array): boolean {
    if (buf.length < TCP_HEADER_LEN) return false;
    const hlen = (buf[field.dataOffset]! >>> 4) * 4;
    if (hlen < TCP_HEADER_LEN || hlen > buf.length) return false;
    this.srcPort = (buf[field.srcPort]! << 8) | buf[field.srcPort + 1]!;
    this.dstPort = (buf[field.dstPort]! << 8) | buf[field.dstPort + 1]!;
    this.seq = readU32(buf, field.seq);
    this.ack = readU32(buf, field.ack);
    this.flags = buf[field.flags]!;
    this.window = (buf[field.window]! << 8) | buf[field.window + 1]!;
    this.checksum = (buf[field.checksum]! << 8) | buf[field.checksum + 1]!;
    this.urgent = (buf[field.urgent]! << 8) | buf[field.urgent + 1]!;
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
    buf[offset] = this.srcPort >>> 8;
    buf[offset + 1] = this.srcPort & 0xff;
    buf[offset + 2] = this.dstPort >>> 8;
    buf[offset + 3] = this.dstPort & 0xff;
    writeU32(buf, offset + 4, this.seq);
    writeU32(buf, offset + 8, this.ack);
    buf[offset + 12] = (hlen / 4) << 4;
    buf[offset + 13] = this.flags;
    buf[offset + 14] = this.window >>> 8;
    buf[offset + 15] = this.window & 0xff;
    buf[offset + 16] = this.checksum >>> 8;
    buf[offset + 17] = this.checksum & 0xff;
    buf[offset + 18] = this.urgent >>> 8;
    buf[offset + 19] = this.urgent & 0xff;
    let i = offset + TCP_HEADER_LEN;
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
  seg[field.checksum] = c >>> 8;
  seg[field.checksum + 1] = c & 0xff;
}
