/**
 * Address text helpers shared by the net API, the bridge and SOCKS5: parsing
 * "host:port" (IPv6 in brackets), formatting, and resolving names through the host.
 */
import { isIP } from 'node:net';
import { type IpAddress, parseIpAddress } from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';
import { socketError } from './errors.js';

export type FamilyName = 'IPv4' | 'IPv6';

export function familyName(a: IpAddress): FamilyName {
  return a.version === 4 ? 'IPv4' : 'IPv6';
}

/** "192.0.2.1:80" or "[2001:db8::1]:80". */
export function formatHostPort(address: IpAddress | string, port: number): string {
  const s = typeof address === 'string' ? address : address.toString();
  return s.includes(':') ? `[${s}]:${port}` : `${s}:${port}`;
}

/** Splits "host:port" / "[v6]:port"; undefined when malformed. Port must be 0..65535. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return undefined;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return undefined;
  }
  const port = parsePort(portText);
  if (port === undefined || host === '') return undefined;
  return { host, port };
}

export function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

/** A literal address, or undefined when `text` is a host name. */
export function literalAddress(text: string): IpAddress | undefined {
  return isIP(text) ? parseIpAddress(text) : undefined;
}

/**
 * Resolves `hostname` to one address: literals directly, names through `host.lookup`.
 * Rejects with an ENOTFOUND error (syscall getaddrinfo) when nothing is found.
 */
export async function resolveOne(
  host: SocketHost,
  hostname: string,
  family: 0 | 4 | 6 = 0,
): Promise<IpAddress> {
  const lit = literalAddress(hostname);
  if (lit) return lit;
  let found: IpAddress[] = [];
  try {
    found = await host.lookup(hostname, family);
  } catch {
    found = [];
  }
  const pick = found.find((a) => family === 0 || a.version === family);
  if (!pick) throw socketError('ENOTFOUND', 'getaddrinfo', { hostname });
  return pick;
}
