/** ICMPv4 messages (RFC 792): echo, destination unreachable, time exceeded. */
import { internetChecksum } from './checksum.js';
import { type WireError, getU16, setU16 } from './wire-error.js';

const field = { TYPE: 0, CODE: 1, CHECKSUM: 2, IDENT: 4, SEQ: 6, UNUSED: 4, MTU: 6, DATA: 8 } as const;
export const ICMPV4_HEADER_LEN = 8;
export const Icmpv4Type = { EchoReply: 0, DstUnreachable: 3, EchoRequest: 8, TimeExceeded: 11 } as const;
export const Icmpv4Unreachable = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragNeeded: 4,
  AdminProhibited: 13,
} as const;

export class Icmpv4Packet {
  private constructor(readonly buffer: Uint8Array) {}
  static newUnchecked(buffer: Uint8Array): Icmpv4Packet {
    return new Icmpv4Packet(buffer);
  }
  static newChecked(buffer: Uint8Array): Icmpv4Packet | WireError {
    if (buffer.length < ICMPV4_HEADER_LEN) return 'truncated';
    return new Icmpv4Packet(buffer);
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
  /** Next-hop MTU of a Fragmentation Needed message (RFC 1191). */
  get nextHopMtu(): number {
    return getU16(this.buffer, field.MTU);
  }
  get data(): Uint8Array {
    return this.buffer.subarray(field.DATA);
  }
  verifyChecksum(): boolean {
    return internetChecksum(this.buffer) === 0;
  }
  fillChecksum(): void {
    setU16(this.buffer, field.CHECKSUM, 0);
    setU16(this.buffer, field.CHECKSUM, internetChecksum(this.buffer));
  }
}

/** The parsed form. `data` is the echo payload, or the quoted IP header + 8 bytes for errors. */
export type Icmpv4Repr =
  | { kind: 'echoRequest' | 'echoReply'; ident: number; seq: number; data: Uint8Array }
  | { kind: 'dstUnreachable'; code: number; mtu: number; data: Uint8Array }
  | { kind: 'timeExceeded'; code: number; data: Uint8Array };

export function parseIcmpv4(p: Icmpv4Packet): Icmpv4Repr | WireError {
  if (!p.verifyChecksum()) return 'badChecksum';
  switch (p.type) {
    case Icmpv4Type.EchoRequest:
    case Icmpv4Type.EchoReply:
      if (p.code !== 0) return 'malformed';
      return {
        kind: p.type === Icmpv4Type.EchoRequest ? 'echoRequest' : 'echoReply',
        ident: p.echoIdent,
        seq: p.echoSeq,
        data: p.data,
      };
    case Icmpv4Type.DstUnreachable:
      return { kind: 'dstUnreachable', code: p.code, mtu: p.code === 4 ? p.nextHopMtu : 0, data: p.data };
    case Icmpv4Type.TimeExceeded:
      return { kind: 'timeExceeded', code: p.code, data: p.data };
    default:
      return 'unsupported';
  }
}

export function icmpv4BufferLen(r: Icmpv4Repr): number {
  return ICMPV4_HEADER_LEN + r.data.length;
}

/** Writes the message at `o` with its checksum. */
export function emitIcmpv4(buf: Uint8Array, o: number, r: Icmpv4Repr): void {
  switch (r.kind) {
    case 'echoRequest':
    case 'echoReply':
      buf[o] = r.kind === 'echoRequest' ? Icmpv4Type.EchoRequest : Icmpv4Type.EchoReply;
      buf[o + 1] = 0;
      setU16(buf, o + 4, r.ident);
      setU16(buf, o + 6, r.seq);
      break;
    case 'dstUnreachable':
      buf[o] = Icmpv4Type.DstUnreachable;
      buf[o + 1] = r.code;
      setU16(buf, o + 4, 0);
      setU16(buf, o + 6, r.mtu);
      break;
    case 'timeExceeded':
      buf[o] = Icmpv4Type.TimeExceeded;
      buf[o + 1] = r.code;
      setU16(buf, o + 4, 0);
      setU16(buf, o + 6, 0);
      break;
  }
  buf.set(r.data, o + ICMPV4_HEADER_LEN);
  const end = o + ICMPV4_HEADER_LEN + r.data.length;
  setU16(buf, o + 2, 0);
  setU16(buf, o + 2, internetChecksum(buf, o, end));
}
