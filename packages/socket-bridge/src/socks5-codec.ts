/**
 * SOCKS5 wire format (RFC 1928) and username/password sub-negotiation (RFC 1929).
 * Parsers take the bytes received so far and return `undefined` while more are
 * needed; they never throw on bad input (they return an error value instead).
 */
import { type IpAddress, Ipv4Address, Ipv6Address } from '@tapstack/stack-core';

export const SOCKS_VERSION = 5;
export const Method = { NoAuth: 0x00, UserPass: 0x02, NoAcceptable: 0xff } as const;
export const Command = { Connect: 0x01, Bind: 0x02, UdpAssociate: 0x03 } as const;
export const AddrType = { Ipv4: 0x01, Domain: 0x03, Ipv6: 0x04 } as const;
/** RFC 1928 section 6 reply codes. */
export const Reply = {
  Succeeded: 0x00,
  GeneralFailure: 0x01,
  NotAllowed: 0x02,
  NetworkUnreachable: 0x03,
  HostUnreachable: 0x04,
  ConnectionRefused: 0x05,
  TtlExpired: 0x06,
  CommandNotSupported: 0x07,
  AddressTypeNotSupported: 0x08,
} as const;

export type SocksAddress = { type: 'ip'; address: IpAddress } | { type: 'domain'; name: string };

export type Parsed<T> = { value: T; length: number } | { error: string } | undefined;

/** RFC 1928 section 3: VER NMETHODS METHODS. */
export function parseGreeting(b: Uint8Array): Parsed<number[]> {
  if (b.length < 2) return undefined;
  if (b[0] !== SOCKS_VERSION) return { error: `not SOCKS5 (version byte ${b[0]})` };
  const n = b[1]!;
  if (b.length < 2 + n) return undefined;
  return { value: [...b.subarray(2, 2 + n)], length: 2 + n };
}

/** RFC 1929 section 2: VER(1) ULEN UNAME PLEN PASSWD. */
export function parseUserPass(b: Uint8Array): Parsed<{ username: string; password: string }> {
  if (b.length < 2) return undefined;
  if (b[0] !== 0x01) return { error: 'bad username/password sub-negotiation version' };
  const ulen = b[1]!;
  if (b.length < 3 + ulen) return undefined;
  const plen = b[2 + ulen]!;
  if (b.length < 3 + ulen + plen) return undefined;
  const td = new TextDecoder();
  return {
    value: {
      username: td.decode(b.subarray(2, 2 + ulen)),
      password: td.decode(b.subarray(3 + ulen, 3 + ulen + plen)),
    },
    length: 3 + ulen + plen,
  };
}

/** ATYP DST.ADDR DST.PORT at `off`; used by requests and UDP headers. */
function parseAddrPort(b: Uint8Array, off: number): Parsed<{ address: SocksAddress; port: number }> {
  if (b.length < off + 1) return undefined;
  const t = b[off]!;
  let addr: SocksAddress;
  let end: number;
  if (t === AddrType.Ipv4) {
    end = off + 1 + 4;
    if (b.length < end + 2) return undefined;
    addr = { type: 'ip', address: Ipv4Address.fromBytes(b, off + 1) };
  } else if (t === AddrType.Ipv6) {
    end = off + 1 + 16;
    if (b.length < end + 2) return undefined;
    addr = { type: 'ip', address: Ipv6Address.fromBytes(b, off + 1) };
  } else if (t === AddrType.Domain) {
    if (b.length < off + 2) return undefined;
    const n = b[off + 1]!;
    end = off + 2 + n;
    if (b.length < end + 2) return undefined;
    if (n === 0) return { error: 'empty domain name' };
    addr = { type: 'domain', name: new TextDecoder().decode(b.subarray(off + 2, end)) };
  } else return { error: `address type ${t} not supported` };
  return { value: { address: addr, port: (b[end]! << 8) | b[end + 1]! }, length: end + 2 - off };
}

export interface SocksRequest {
  command: number;
  address: SocksAddress;
  port: number;
}

/** RFC 1928 section 4: VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function parseRequest(b: Uint8Array): Parsed<SocksRequest> {
  if (b.length < 4) return undefined;
  if (b[0] !== SOCKS_VERSION) return { error: 'bad request version' };
  const ap = parseAddrPort(b, 3);
  if (!ap || 'error' in ap) return ap;
  return { value: { command: b[1]!, ...ap.value }, length: 3 + ap.length };
}

function encodeAddrPort(addr: IpAddress | undefined, port: number): Uint8Array {
  const a = addr ?? Ipv4Address.UNSPECIFIED;
  const out = new Uint8Array(a.version === 4 ? 7 : 19);
  out[0] = a.version === 4 ? AddrType.Ipv4 : AddrType.Ipv6;
  a.writeTo(out, 1);
  out[out.length - 2] = port >>> 8;
  out[out.length - 1] = port & 0xff;
  return out;
}

/** RFC 1928 section 6: VER REP RSV ATYP BND.ADDR BND.PORT. */
export function encodeReply(rep: number, bound?: IpAddress, port = 0): Uint8Array {
  const ap = encodeAddrPort(bound, port);
  const out = new Uint8Array(3 + ap.length);
  out[0] = SOCKS_VERSION;
  out[1] = rep;
  out.set(ap, 3);
  return out;
}

export interface SocksUdpDatagram {
  frag: number;
  address: SocksAddress;
  port: number;
  data: Uint8Array;
}

/** RFC 1928 section 7: RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA. */
export function parseUdpDatagram(b: Uint8Array): SocksUdpDatagram | undefined {
  if (b.length < 4) return undefined;
  const ap = parseAddrPort(b, 3);
  if (!ap || 'error' in ap) return undefined;
  return { frag: b[2]!, address: ap.value.address, port: ap.value.port, data: b.subarray(3 + ap.length) };
}

export function encodeUdpDatagram(from: IpAddress, port: number, data: Uint8Array): Uint8Array {
  const ap = encodeAddrPort(from, port);
  const out = new Uint8Array(3 + ap.length + data.length);
  out.set(ap, 3);
  out.set(data, 3 + ap.length);
  return out;
}

/** The reply code for a Node-style error code. */
export function replyForCode(code: string | undefined): number {
  switch (code) {
    case 'ECONNREFUSED':
      return Reply.ConnectionRefused;
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return Reply.HostUnreachable;
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return Reply.NetworkUnreachable;
    default:
      return Reply.GeneralFailure;
  }
}
