/** Small address helpers shared by the IP layer's modules: map keys, prefix math, byte concatenation. */
import { type IpAddress, Ipv6Address } from '../wire/ip-address.js';

export const EMPTY = new Uint8Array(0);
export const ZERO_MAC = new Uint8Array(6);

/**
 * A compact Map key for an IPv6 address (8 UTF-16 units), much cheaper than the
 * RFC 5952 text form on per-packet paths.
 */
export function v6Key(a: Ipv6Address): string {
  const b = a.bytes;
  return String.fromCharCode(
    (b[0]! << 8) | b[1]!,
    (b[2]! << 8) | b[3]!,
    (b[4]! << 8) | b[5]!,
    (b[6]! << 8) | b[7]!,
    (b[8]! << 8) | b[9]!,
    (b[10]! << 8) | b[11]!,
    (b[12]! << 8) | b[13]!,
    (b[14]! << 8) | b[15]!,
  );
}

/**
 * A Map key for an IPv4 address on per-packet paths: the value as a signed 32-bit
 * integer, which V8 keeps as a small integer. The unsigned form of an address from
 * 128.0.0.0 up is a heap number, allocated and hashed as a double on every lookup.
 */
export function v4Key(v: number): number {
  return v | 0;
}

/** Map key for either family: the number for IPv4, `v6Key` for IPv6. */
export function addrKey(a: IpAddress): string | number {
  return a.version === 4 ? a.value : v6Key(a);
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Number of leading bits two 16-byte addresses share. */
export function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

export function maskV6(a: Ipv6Address, len: number): Ipv6Address {
  const b = a.bytes.slice();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    b[i] = b[i]! & ((0xff00 >> keep) & 0xff);
  }
  return new Ipv6Address(b);
}

/** The IPv4 source and destination of the header at `h` as unsigned numbers. */
export function ipv4Src(h: Uint8Array): number {
  return ((h[12]! << 24) | (h[13]! << 16) | (h[14]! << 8) | h[15]!) >>> 0;
}
export function ipv4Dst(h: Uint8Array): number {
  return ((h[16]! << 24) | (h[17]! << 16) | (h[18]! << 8) | h[19]!) >>> 0;
}
