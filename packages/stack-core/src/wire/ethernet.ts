/**
 * Ethernet II frames (IEEE 802.3 with an EtherType). 802.1Q-tagged frames are
 * recognised (`isVlanTagged`) so the stack can count and drop them; a host
 * stack without VLAN interfaces has nowhere to deliver them.
 */
import { type WireError, getU16, setU16 } from './wire-error.js';

const field = { DST: 0, SRC: 6, ETHERTYPE: 12, PAYLOAD: 14 } as const;
export const ETHERNET_HEADER_LEN = 14;

export const EtherType = { Ipv4: 0x0800, Arp: 0x0806, Vlan: 0x8100, QinQ: 0x88a8, Ipv6: 0x86dd } as const;

export type MacAddress = Uint8Array;
export const BROADCAST_MAC: MacAddress = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function macToString(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
}
export function parseMac(text: string): MacAddress {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new TypeError(`invalid MAC address: ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(parts, (p) => Number.parseInt(p, 16));
}
export function macEquals(a: Uint8Array, ao: number, b: Uint8Array, bo = 0): boolean {
  for (let i = 0; i < 6; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

/** A view over an Ethernet II frame. */
export class EthernetFrame {
  private constructor(readonly buffer: Uint8Array) {}

  /** Trusted input (our own transmit buffers): no length check. */
  static newUnchecked(buffer: Uint8Array): EthernetFrame {
    return new EthernetFrame(buffer);
  }
  /** Untrusted input: at least a full header. */
  static newChecked(buffer: Uint8Array): EthernetFrame | WireError {
    if (buffer.length < ETHERNET_HEADER_LEN) return 'truncated';
    return new EthernetFrame(buffer);
  }

  get dst(): Uint8Array {
    return this.buffer.subarray(field.DST, field.DST + 6);
  }
  get src(): Uint8Array {
    return this.buffer.subarray(field.SRC, field.SRC + 6);
  }
  get ethertype(): number {
    return getU16(this.buffer, field.ETHERTYPE);
  }
  set ethertype(v: number) {
    setU16(this.buffer, field.ETHERTYPE, v);
  }
  isVlanTagged(): boolean {
    const t = this.ethertype;
    return t === EtherType.Vlan || t === EtherType.QinQ;
  }
  isBroadcast(): boolean {
    return macEquals(this.buffer, field.DST, BROADCAST_MAC);
  }
  /** Group bit of the destination (broadcast or multicast). */
  isMulticast(): boolean {
    return (this.buffer[field.DST]! & 1) === 1;
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(field.PAYLOAD);
  }
}

/** The parsed form of an Ethernet II header. */
export class EthernetRepr {
  constructor(
    readonly src: MacAddress,
    readonly dst: MacAddress,
    readonly ethertype: number,
  ) {}

  static parse(frame: EthernetFrame): EthernetRepr {
    return new EthernetRepr(frame.src.slice(), frame.dst.slice(), frame.ethertype);
  }
  bufferLen(): number {
    return ETHERNET_HEADER_LEN;
  }
  emit(buf: Uint8Array, offset = 0): void {
    emitEthernetHeader(buf, offset, this.dst, this.src, this.ethertype);
  }
}

/** Writes a 14-byte header at `offset` (the hot-path form of `EthernetRepr.emit`). */
export function emitEthernetHeader(
  buf: Uint8Array,
  offset: number,
  dst: Uint8Array,
  src: Uint8Array,
  ethertype: number,
): void {
  // A byte loop: for six bytes, `set` costs more than the copy.
  for (let i = 0; i < 6; i++) {
    buf[offset + field.DST + i] = dst[i]!;
    buf[offset + field.SRC + i] = src[i]!;
  }
  setU16(buf, offset + field.ETHERTYPE, ethertype);
}
