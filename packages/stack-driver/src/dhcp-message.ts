/**
 * DHCPv4 messages (RFC 2131 §2, options from RFC 2132): the fixed BOOTP header plus
 * the options after the magic cookie. Parsing is for untrusted input and throws
 * `DhcpFormatError` on anything malformed; the client drops such messages.
 */
import { Ipv4Address } from '@tapstack/stack-core';

export const DhcpMessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;

export const DhcpOption = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DnsServers: 6,
  HostName: 12,
  DomainName: 15,
  RequestedAddress: 50,
  LeaseTime: 51,
  MessageType: 53,
  ServerId: 54,
  ParameterRequestList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  ClientId: 61,
  End: 255,
} as const;

const MAGIC = 0x63825363;
/** BOOTP clients pad to 300 bytes: some relays and servers drop shorter messages (RFC 1542 §2.1). */
const MIN_LENGTH = 300;

export class DhcpFormatError extends Error {}

export interface DhcpMessage {
  /** 1 = BOOTREQUEST, 2 = BOOTREPLY. */
  op: number;
  xid: number;
  secs: number;
  /** Broadcast flag (0x8000): the client cannot receive unicast before it has an address. */
  broadcast: boolean;
  ciaddr: Ipv4Address;
  yiaddr: Ipv4Address;
  siaddr: Ipv4Address;
  giaddr: Ipv4Address;
  chaddr: Uint8Array;
  /** Option code → raw value. */
  options: Map<number, Uint8Array>;
}

export function encodeDhcp(m: DhcpMessage): Uint8Array {
  let optLen = 0;
  for (const v of m.options.values()) optLen += 2 + v.length;
  const len = Math.max(MIN_LENGTH, 240 + optLen + 1);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  b[0] = m.op;
  b[1] = 1; // Ethernet
  b[2] = 6;
  b[3] = 0;
  dv.setUint32(4, m.xid >>> 0);
  dv.setUint16(8, m.secs);
  dv.setUint16(10, m.broadcast ? 0x8000 : 0);
  m.ciaddr.writeTo(b, 12);
  m.yiaddr.writeTo(b, 16);
  m.siaddr.writeTo(b, 20);
  m.giaddr.writeTo(b, 24);
  b.set(m.chaddr.subarray(0, 16), 28);
  dv.setUint32(236, MAGIC);
  let p = 240;
  for (const [code, v] of m.options) {
    if (v.length > 255) throw new RangeError(`DHCP option ${code} longer than 255 bytes`);
    b[p++] = code;
    b[p++] = v.length;
    b.set(v, p);
    p += v.length;
  }
  b[p] = DhcpOption.End;
  return b;
}

export function parseDhcp(b: Uint8Array): DhcpMessage {
  if (b.length < 240) throw new DhcpFormatError('DHCP message shorter than 240 bytes');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(236) !== MAGIC) throw new DhcpFormatError('no DHCP magic cookie');
  const options = new Map<number, Uint8Array>();
  let p = 240;
  while (p < b.length) {
    const code = b[p++]!;
    if (code === DhcpOption.Pad) continue;
    if (code === DhcpOption.End) break;
    if (p >= b.length) throw new DhcpFormatError('DHCP option length missing');
    const len = b[p++]!;
    if (p + len > b.length) throw new DhcpFormatError(`DHCP option ${code} runs past the message`);
    // RFC 3396: a repeated option is concatenated.
    const prev = options.get(code);
    const val = b.slice(p, p + len);
    if (prev) {
      const joined = new Uint8Array(prev.length + len);
      joined.set(prev);
      joined.set(val, prev.length);
      options.set(code, joined);
    } else {
      options.set(code, val);
    }
    p += len;
  }
  return {
    op: b[0]!,
    xid: dv.getUint32(4),
    secs: dv.getUint16(8),
    broadcast: (dv.getUint16(10) & 0x8000) !== 0,
    ciaddr: Ipv4Address.fromBytes(b, 12),
    yiaddr: Ipv4Address.fromBytes(b, 16),
    siaddr: Ipv4Address.fromBytes(b, 20),
    giaddr: Ipv4Address.fromBytes(b, 24),
    chaddr: b.slice(28, 44),
    options,
  };
}

export function optU32(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

export function optAddr(a: Ipv4Address): Uint8Array {
  const b = new Uint8Array(4);
  a.writeTo(b);
  return b;
}

export function readU32(v: Uint8Array | undefined): number | undefined {
  if (!v || v.length < 4) return undefined;
  return ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0;
}

export function readAddrs(v: Uint8Array | undefined): Ipv4Address[] {
  const out: Ipv4Address[] = [];
  if (!v) return out;
  for (let i = 0; i + 4 <= v.length; i += 4) out.push(Ipv4Address.fromBytes(v, i));
  return out;
}

/** Prefix length of a contiguous netmask; undefined when the mask has holes. */
export function maskToPrefix(mask: number): number | undefined {
  const m = mask >>> 0;
  let n = 0;
  while (n < 32 && m & (0x80000000 >>> n)) n++;
  const rebuilt = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return rebuilt === m ? n : undefined;
}
