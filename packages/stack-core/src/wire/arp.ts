/** ARP packets for IPv4 over Ethernet (RFC 826). Other hardware/protocol types are `unsupported`. */
import { Ipv4Address } from './ip-address.js';
import { type WireError, getU16, setU16 } from './wire-error.js';

const field = { HTYPE: 0, PTYPE: 2, HLEN: 4, PLEN: 5, OPER: 6, SHA: 8, SPA: 14, THA: 18, TPA: 24 } as const;
export const ARP_PACKET_LEN = 28;
export const ArpOperation = { Request: 1, Reply: 2 } as const;

export class ArpPacket {
  private constructor(readonly buffer: Uint8Array) {}
  static newUnchecked(buffer: Uint8Array): ArpPacket {
    return new ArpPacket(buffer);
  }
  static newChecked(buffer: Uint8Array): ArpPacket | WireError {
    if (buffer.length < ARP_PACKET_LEN) return 'truncated';
    const p = new ArpPacket(buffer);
    if (p.htype !== 1 || p.ptype !== 0x0800 || p.hlen !== 6 || p.plen !== 4) return 'unsupported';
    return p;
  }
  get htype(): number {
    return getU16(this.buffer, field.HTYPE);
  }
  get ptype(): number {
    return getU16(this.buffer, field.PTYPE);
  }
  get hlen(): number {
    return this.buffer[field.HLEN]!;
  }
  get plen(): number {
    return this.buffer[field.PLEN]!;
  }
  get operation(): number {
    return getU16(this.buffer, field.OPER);
  }
  get senderHardwareAddr(): Uint8Array {
    return this.buffer.subarray(field.SHA, field.SHA + 6);
  }
  get senderProtocolAddr(): Ipv4Address {
    return Ipv4Address.fromBytes(this.buffer, field.SPA);
  }
  get targetHardwareAddr(): Uint8Array {
    return this.buffer.subarray(field.THA, field.THA + 6);
  }
  get targetProtocolAddr(): Ipv4Address {
    return Ipv4Address.fromBytes(this.buffer, field.TPA);
  }
}

export class ArpRepr {
  constructor(
    readonly operation: number,
    readonly senderHardwareAddr: Uint8Array,
    readonly senderProtocolAddr: Ipv4Address,
    readonly targetHardwareAddr: Uint8Array,
    readonly targetProtocolAddr: Ipv4Address,
  ) {}
  static parse(p: ArpPacket): ArpRepr | WireError {
    const op = p.operation;
    if (op !== ArpOperation.Request && op !== ArpOperation.Reply) return 'unsupported';
    return new ArpRepr(
      op,
      p.senderHardwareAddr.slice(),
      p.senderProtocolAddr,
      p.targetHardwareAddr.slice(),
      p.targetProtocolAddr,
    );
  }
  bufferLen(): number {
    return ARP_PACKET_LEN;
  }
  emit(buf: Uint8Array, offset = 0): void {
    setU16(buf, offset + field.HTYPE, 1);
    setU16(buf, offset + field.PTYPE, 0x0800);
    buf[offset + field.HLEN] = 6;
    buf[offset + field.PLEN] = 4;
    setU16(buf, offset + field.OPER, this.operation);
    buf.set(this.senderHardwareAddr, offset + field.SHA);
    this.senderProtocolAddr.writeTo(buf, offset + field.SPA);
    buf.set(this.targetHardwareAddr, offset + field.THA);
    this.targetProtocolAddr.writeTo(buf, offset + field.TPA);
  }
}
