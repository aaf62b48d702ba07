/**
 * ICMPv6 (RFC 4443), the Neighbor Discovery messages (RFC 4861): RS, RA, NS, NA
 * with their source/target link-layer address, prefix information and MTU options, and
 * the MLD query / MLDv2 report a host needs (RFC 3810).
 * The checksum covers the IPv6 pseudo-header.
 */
import { finishChecksum, onesSum, pseudoHeaderSum } from './checksum.js';
import { Ipv6Address } from './ip-address.js';
import { type WireError, getU16, getU32, setU16, setU32 } from './wire-error.js';

const field = { TYPE: 0, CODE: 1, CHECKSUM: 2, IDENT: 4, SEQ: 6, MTU: 4, POINTER: 4, DATA: 8 } as const;
export const ICMPV6_HEADER_LEN = 8;
export const Icmpv6Type = {
  DstUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParamProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  MldQuery: 130,
  Mldv2Report: 143,
  RouterSolicit: 133,
  RouterAdvert: 134,
  NeighborSolicit: 135,
  NeighborAdvert: 136,
  Redirect: 137,
} as const;
export const Icmpv6Unreachable = { NoRoute: 0, AdminProhibited: 1, Address: 3, Port: 4 } as const;
export const NdpOption = { SourceLinkAddr: 1, TargetLinkAddr: 2, PrefixInfo: 3, Mtu: 5 } as const;

export class Icmpv6Packet {
  private constructor(readonly buffer: Uint8Array) {}
  static newUnchecked(buffer: Uint8Array): Icmpv6Packet {
    return new Icmpv6Packet(buffer);
  }
  static newChecked(buffer: Uint8Array): Icmpv6Packet | WireError {
    if (buffer.length < ICMPV6_HEADER_LEN) return 'truncated';
    return new Icmpv6Packet(buffer);
  }
  get type(): number {
    return this.buffer[field.TYPE]!;
  }
  get code(): number {
    return this.buffer[field.CODE]!;
  }
  get checksum(): number {
    return getU16(this.buffer, field.CHECKSUM);
  }
  get echoIdent(): number {
    return getU16(this.buffer, field.IDENT);
  }
  get echoSeq(): number {
    return getU16(this.buffer, field.SEQ);
  }
  get mtu(): number {
    return getU32(this.buffer, field.MTU);
  }
  get data(): Uint8Array {
    return this.buffer.subarray(field.DATA);
  }
  verifyChecksum(src: Ipv6Address, dst: Ipv6Address): boolean {
    const n = this.buffer.length;
    return finishChecksum(onesSum(this.buffer, 0, n, pseudoHeaderSum(src, dst, 58, n))) === 0;
  }
  fillChecksum(src: Ipv6Address, dst: Ipv6Address): void {
    fillIcmpv6Checksum(this.buffer, 0, this.buffer.length, src, dst);
  }
}

export function fillIcmpv6Checksum(
  buf: Uint8Array,
  o: number,
  end: number,
  src: Ipv6Address,
  dst: Ipv6Address,
) {
  setU16(buf, o + 2, 0);
  setU16(buf, o + 2, finishChecksum(onesSum(buf, o, end, pseudoHeaderSum(src, dst, 58, end - o))));
}

export interface PrefixInfo {
  prefixLength: number;
  onLink: boolean;
  autonomous: boolean;
  validLifetime: number;
  preferredLifetime: number;
  prefix: Ipv6Address;
}

/** NDP options found in a message. Unknown options are skipped; a zero-length option is malformed. */
export interface NdpOptions {
  sourceLinkAddr?: Uint8Array;
  targetLinkAddr?: Uint8Array;
  mtu?: number;
  prefixes: PrefixInfo[];
}

export function parseNdpOptions(b: Uint8Array, start: number): NdpOptions | WireError {
  const out: NdpOptions = { prefixes: [] };
  let i = start;
  while (i < b.length) {
    if (i + 2 > b.length) return 'truncated';
    const type = b[i]!;
    const len = b[i + 1]! * 8;
    if (len === 0) return 'malformed';
    if (i + len > b.length) return 'truncated';
    switch (type) {
      case NdpOption.SourceLinkAddr:
      case NdpOption.TargetLinkAddr:
        if (len >= 8) {
          const mac = b.slice(i + 2, i + 8);
          if (type === NdpOption.SourceLinkAddr) out.sourceLinkAddr = mac;
          else out.targetLinkAddr = mac;
        }
        break;
      case NdpOption.PrefixInfo:
        if (len !== 32) return 'malformed';
        out.prefixes.push({
          prefixLength: b[i + 2]!,
          onLink: (b[i + 3]! & 0x80) !== 0,
          autonomous: (b[i + 3]! & 0x40) !== 0,
          validLifetime: getU32(b, i + 4),
          preferredLifetime: getU32(b, i + 8),
          prefix: Ipv6Address.fromBytes(b, i + 16),
        });
        break;
      case NdpOption.Mtu:
        if (len !== 8) return 'malformed';
        out.mtu = getU32(b, i + 4);
        break;
    }
    i += len;
  }
  return out;
}

/** The parsed form of the ICMPv6 messages the stack handles. */
export type Icmpv6Repr =
  | { kind: 'echoRequest' | 'echoReply'; ident: number; seq: number; data: Uint8Array }
  | { kind: 'dstUnreachable'; code: number; data: Uint8Array }
  | { kind: 'packetTooBig'; mtu: number; data: Uint8Array }
  | { kind: 'timeExceeded'; code: number; data: Uint8Array }
  | { kind: 'paramProblem'; code: number; pointer: number; data: Uint8Array }
  | { kind: 'routerSolicit'; sourceLinkAddr: Uint8Array | undefined }
  /** MLDv1 or v2 query (RFC 3810 §5.1): `group` unspecified for a general query; delay in ms. */
  | { kind: 'mldQuery'; maxResponseDelay: number; group: Ipv6Address }
  /** MLDv2 report (RFC 3810 §5.2), records without sources (joins and current state). */
  | { kind: 'mldReport'; records: { type: number; group: Ipv6Address }[] }
  | {
      kind: 'routerAdvert';
      hopLimit: number;
      managed: boolean;
      other: boolean;
      routerLifetime: number;
      reachableTime: number;
      retransTimer: number;
      options: NdpOptions;
    }
  | { kind: 'neighborSolicit'; target: Ipv6Address; sourceLinkAddr: Uint8Array | undefined }
  | {
      kind: 'neighborAdvert';
      router: boolean;
      solicited: boolean;
      override: boolean;
      target: Ipv6Address;
      targetLinkAddr: Uint8Array | undefined;
    };

/**
 * Verifies the checksum and parses. NDP messages must arrive with hop limit 255
 * and code 0 (RFC 4861 §6.1, §7.1); pass the IPv6 hop limit in.
 */
export function parseIcmpv6(
  p: Icmpv6Packet,
  src: Ipv6Address,
  dst: Ipv6Address,
  hopLimit: number,
): Icmpv6Repr | WireError {
  if (!p.verifyChecksum(src, dst)) return 'badChecksum';
  const b = p.buffer;
  const t = p.type;
  if (t >= 133 && t <= 137 && (hopLimit !== 255 || p.code !== 0)) return 'malformed';
  switch (t) {
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      if (p.code !== 0) return 'malformed';
      return {
        kind: t === Icmpv6Type.EchoRequest ? 'echoRequest' : 'echoReply',
        ident: p.echoIdent,
        seq: p.echoSeq,
        data: p.data,
      };
    case Icmpv6Type.DstUnreachable:
      return { kind: 'dstUnreachable', code: p.code, data: p.data };
    case Icmpv6Type.PacketTooBig:
      return { kind: 'packetTooBig', mtu: p.mtu, data: p.data };
    case Icmpv6Type.TimeExceeded:
      return { kind: 'timeExceeded', code: p.code, data: p.data };
    case Icmpv6Type.ParamProblem:
      return { kind: 'paramProblem', code: p.code, pointer: getU32(b, 4), data: p.data };
    case Icmpv6Type.MldQuery: {
      if (b.length < 24) return 'truncated';
      // RFC 3810 §5.1.3: codes ≥ 32768 are a floating-point encoding.
      const code = getU16(b, 4);
      const delay = code < 32768 ? code : ((code & 0xfff) | 0x1000) << (((code >> 12) & 7) + 3);
      return { kind: 'mldQuery', maxResponseDelay: delay, group: Ipv6Address.fromBytes(b, 8) };
    }
    case Icmpv6Type.Mldv2Report: {
      const n = getU16(b, 6);
      const records: { type: number; group: Ipv6Address }[] = [];
      let o = 8;
      for (let k = 0; k < n; k++) {
        if (o + 20 > b.length) return 'truncated';
        const len = 20 + b[o + 1]! * 4 + getU16(b, o + 2) * 16;
        if (o + len > b.length) return 'truncated';
        records.push({ type: b[o]!, group: Ipv6Address.fromBytes(b, o + 4) });
        o += len;
      }
      return { kind: 'mldReport', records };
    }
    case Icmpv6Type.RouterSolicit: {
      const o = parseNdpOptions(b, 8);
      if (typeof o === 'string') return o;
      return { kind: 'routerSolicit', sourceLinkAddr: o.sourceLinkAddr };
    }
    case Icmpv6Type.RouterAdvert: {
      if (b.length < 16) return 'truncated';
      const o = parseNdpOptions(b, 16);
      if (typeof o === 'string') return o;
      return {
        kind: 'routerAdvert',
        hopLimit: b[4]!,
        managed: (b[5]! & 0x80) !== 0,
        other: (b[5]! & 0x40) !== 0,
        routerLifetime: getU16(b, 6),
        reachableTime: getU32(b, 8),
        retransTimer: getU32(b, 12),
        options: o,
      };
    }
    case Icmpv6Type.NeighborSolicit: {
      if (b.length < 24) return 'truncated';
      const target = Ipv6Address.fromBytes(b, 8);
      if (target.isMulticast()) return 'malformed';
      const o = parseNdpOptions(b, 24);
      if (typeof o === 'string') return o;
      return { kind: 'neighborSolicit', target, sourceLinkAddr: o.sourceLinkAddr };
    }
    case Icmpv6Type.NeighborAdvert: {
      if (b.length < 24) return 'truncated';
      const target = Ipv6Address.fromBytes(b, 8);
      if (target.isMulticast()) return 'malformed';
      const o = parseNdpOptions(b, 24);
      if (typeof o === 'string') return o;
      return {
        kind: 'neighborAdvert',
        router: (b[4]! & 0x80) !== 0,
        solicited: (b[4]! & 0x40) !== 0,
        override: (b[4]! & 0x20) !== 0,
        target,
        targetLinkAddr: o.targetLinkAddr,
      };
    }
    default:
      return 'unsupported';
  }
}

export function icmpv6BufferLen(r: Icmpv6Repr): number {
  switch (r.kind) {
    case 'routerSolicit':
      return 8 + (r.sourceLinkAddr ? 8 : 0);
    case 'mldQuery':
      return 24;
    case 'mldReport':
      return 8 + 20 * r.records.length;
    case 'routerAdvert':
      return (
        16 + (r.options.sourceLinkAddr ? 8 : 0) + (r.options.mtu ? 8 : 0) + 32 * r.options.prefixes.length
      );
    case 'neighborSolicit':
      return 24 + (r.sourceLinkAddr ? 8 : 0);
    case 'neighborAdvert':
      return 24 + (r.targetLinkAddr ? 8 : 0);
    default:
      return ICMPV6_HEADER_LEN + r.data.length;
  }
}

function emitLinkAddrOption(buf: Uint8Array, o: number, type: number, mac: Uint8Array): number {
  buf[o] = type;
  buf[o + 1] = 1;
  buf.set(mac.subarray(0, 6), o + 2);
  return o + 8;
}

/** Writes the message at `o` and fills its checksum; returns the end offset. */
export function emitIcmpv6(
  buf: Uint8Array,
  o: number,
  r: Icmpv6Repr,
  src: Ipv6Address,
  dst: Ipv6Address,
): number {
  buf.fill(0, o, o + icmpv6BufferLen(r));
  let end: number;
  switch (r.kind) {
    case 'echoRequest':
    case 'echoReply':
      buf[o] = r.kind === 'echoRequest' ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply;
      setU16(buf, o + 4, r.ident);
      setU16(buf, o + 6, r.seq);
      buf.set(r.data, o + 8);
      end = o + 8 + r.data.length;
      break;
    case 'dstUnreachable':
    case 'timeExceeded':
      buf[o] = r.kind === 'dstUnreachable' ? Icmpv6Type.DstUnreachable : Icmpv6Type.TimeExceeded;
      buf[o + 1] = r.code;
      buf.set(r.data, o + 8);
      end = o + 8 + r.data.length;
      break;
    case 'packetTooBig':
      buf[o] = Icmpv6Type.PacketTooBig;
      setU32(buf, o + 4, r.mtu);
      buf.set(r.data, o + 8);
      end = o + 8 + r.data.length;
      break;
    case 'paramProblem':
      buf[o] = Icmpv6Type.ParamProblem;
      buf[o + 1] = r.code;
      setU32(buf, o + 4, r.pointer);
      buf.set(r.data, o + 8);
      end = o + 8 + r.data.length;
      break;
    case 'mldQuery':
      buf[o] = Icmpv6Type.MldQuery;
      setU16(buf, o + 4, Math.min(r.maxResponseDelay, 32767));
      buf.set(r.group.bytes, o + 8);
      end = o + 24;
      break;
    case 'mldReport':
      buf[o] = Icmpv6Type.Mldv2Report;
      setU16(buf, o + 6, r.records.length);
      end = o + 8;
      for (const rec of r.records) {
        buf[end] = rec.type;
        buf.set(rec.group.bytes, end + 4);
        end += 20;
      }
      break;
    case 'routerSolicit':
      buf[o] = Icmpv6Type.RouterSolicit;
      end = o + 8;
      if (r.sourceLinkAddr) end = emitLinkAddrOption(buf, end, NdpOption.SourceLinkAddr, r.sourceLinkAddr);
      break;
    case 'routerAdvert': {
      buf[o] = Icmpv6Type.RouterAdvert;
      buf[o + 4] = r.hopLimit;
      buf[o + 5] = (r.managed ? 0x80 : 0) | (r.other ? 0x40 : 0);
      setU16(buf, o + 6, r.routerLifetime);
      setU32(buf, o + 8, r.reachableTime);
      setU32(buf, o + 12, r.retransTimer);
      end = o + 16;
      if (r.options.sourceLinkAddr) {
        end = emitLinkAddrOption(buf, end, NdpOption.SourceLinkAddr, r.options.sourceLinkAddr);
      }
      if (r.options.mtu) {
        buf[end] = NdpOption.Mtu;
        buf[end + 1] = 1;
        setU32(buf, end + 4, r.options.mtu);
        end += 8;
      }
      for (const p of r.options.prefixes) {
        buf[end] = NdpOption.PrefixInfo;
        buf[end + 1] = 4;
        buf[end + 2] = p.prefixLength;
        buf[end + 3] = (p.onLink ? 0x80 : 0) | (p.autonomous ? 0x40 : 0);
        setU32(buf, end + 4, p.validLifetime);
        setU32(buf, end + 8, p.preferredLifetime);
        buf.set(p.prefix.bytes, end + 16);
        end += 32;
      }
      break;
    }
    case 'neighborSolicit':
      buf[o] = Icmpv6Type.NeighborSolicit;
      buf.set(r.target.bytes, o + 8);
      end = o + 24;
      if (r.sourceLinkAddr) end = emitLinkAddrOption(buf, end, NdpOption.SourceLinkAddr, r.sourceLinkAddr);
      break;
    case 'neighborAdvert':
      buf[o] = Icmpv6Type.NeighborAdvert;
      buf[o + 4] = (r.router ? 0x80 : 0) | (r.solicited ? 0x40 : 0) | (r.override ? 0x20 : 0);
      buf.set(r.target.bytes, o + 8);
      end = o + 24;
      if (r.targetLinkAddr) end = emitLinkAddrOption(buf, end, NdpOption.TargetLinkAddr, r.targetLinkAddr);
      break;
  }
  fillIcmpv6Checksum(buf, o, end, src, dst);
  return end;
}
