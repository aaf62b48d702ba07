/**
 * DHCPv4 messages (RFC 2131 §2, options from RFC 2132): the fixed BOOTP header plus
 * the options after the magic cookie. `parseDhcpMessage` is for untrusted input and
 * returns a `WireError` for anything malformed (the client drops such messages);
 * `encodeDhcp` builds our own messages. The client itself is in stack-driver.
 */
import { Ipv4Address } from './ip-address.js';
import { type WireError, getU16, getU32, setU16, setU32 } from './wire-error.js';

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

const field = {
  OP: 0,
  HTYPE: 1,
  HLEN: 2,
  HOPS: 3,
  XID: 4,
  SECS: 8,
  FLAGS: 10,
  CIADDR: 12,
  YIADDR: 16,
  SIADDR: 20,
  GIADDR: 24,
  CHADDR: 28,
  MAGIC: 236,
  OPTIONS: 240,
} as const;
const MAGIC = 0x63825363;
/** The fixed header and the magic cookie. */
export const DHCP_HEADER_LEN = field.OPTIONS;
/** BOOTP clients pad to 300 bytes: some relays and servers drop shorter messages (RFC 1542 §2.1). */
const MIN_LENGTH = 300;

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

/** Builds a message; an option value longer than 255 bytes is a caller error (RangeError). */
export function encodeDhcp(m: DhcpMessage): Uint8Array {
  let optLen = 0;
  for (const v of m.options.values()) optLen += 2 + v.length;
  const len = Math.max(MIN_LENGTH, DHCP_HEADER_LEN + optLen + 1);
  const b = new Uint8Array(len);
  b[field.OP] = m.op;
  b[field.HTYPE] = 1; // Ethernet
  b[field.HLEN] = 6;
  b[field.HOPS] = 0;
  setU32(b, field.XID, m.xid >>> 0);
  setU16(b, field.SECS, m.secs);
  setU16(b, field.FLAGS, m.broadcast ? 0x8000 : 0);
  m.ciaddr.writeTo(b, field.CIADDR);
  m.yiaddr.writeTo(b, field.YIADDR);
  m.siaddr.writeTo(b, field.SIADDR);
  m.giaddr.writeTo(b, field.GIADDR);
  b.set(m.chaddr.subarray(0, 16), field.CHADDR);
  setU32(b, field.MAGIC, MAGIC);
  let p = field.OPTIONS;
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

/** Parses an untrusted message: 'truncated' below the fixed header, 'malformed' for a bad cookie or option. */
export function parseDhcpMessage(b: Uint8Array): DhcpMessage | WireError {
  if (b.length < DHCP_HEADER_LEN) return 'truncated';
  if (getU32(b, field.MAGIC) !== MAGIC) return 'malformed';
  const options = new Map<number, Uint8Array>();
  let p = field.OPTIONS;
  while (p < b.length) {
    const code = b[p++]!;
    if (code === DhcpOption.Pad) continue;
    if (code === DhcpOption.End) break;
    if (p >= b.length) return 'malformed'; // option length missing
    const len = b[p++]!;
    if (p + len > b.length) return 'malformed'; // option runs past the message
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
    op: b[field.OP]!,
    xid: getU32(b, field.XID),
    secs: getU16(b, field.SECS),
    broadcast: (getU16(b, field.FLAGS) & 0x8000) !== 0,
    ciaddr: Ipv4Address.fromBytes(b, field.CIADDR),
    yiaddr: Ipv4Address.fromBytes(b, field.YIADDR),
    siaddr: Ipv4Address.fromBytes(b, field.SIADDR),
    giaddr: Ipv4Address.fromBytes(b, field.GIADDR),
    chaddr: b.slice(field.CHADDR, field.CHADDR + 16),
    options,
  };
}

/** A 32-bit option value (lease and renewal times). */
export function dhcpOptU32(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** An address option value. */
export function dhcpOptAddr(a: Ipv4Address): Uint8Array {
  const b = new Uint8Array(4);
  a.writeTo(b);
  return b;
}

/** A 32-bit option value, or undefined when absent or short. */
export function dhcpReadU32(v: Uint8Array | undefined): number | undefined {
  if (!v || v.length < 4) return undefined;
  return getU32(v, 0);
}

/** An address-list option (routers, DNS servers); a trailing partial address is ignored. */
export function dhcpReadAddrs(v: Uint8Array | undefined): Ipv4Address[] {
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
