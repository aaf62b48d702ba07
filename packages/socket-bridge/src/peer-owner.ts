/**
 * Who is at the other end of a loopback TCP connection: the uid that owns the peer's
 * socket, from Linux's /proc/net/tcp and /proc/net/tcp6. On loopback an address says
 * nothing about the client (every one of 127.0.0.0/8 is this machine, and any local user
 * can connect from any of them); the owning uid is what tells one local client from
 * another. One read answers for every connection to a port, so callers batch.
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { Ipv6Address } from '@tapstack/stack-core';

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.replace(/^::ffff:/i, '');
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/** A /proc/net/tcp address word (host byte order, hex) as 4 bytes in network order. */
function wordBytes(hex: string, out: number[]): void {
  const n = Number.parseInt(hex, 16) >>> 0;
  if (endianness() === 'LE') out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
  else out.push(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** "0100007F:1F90" (or the 32-digit IPv6 form) → "127.0.0.1|8080"; IPv4-mapped as IPv4. */
function endpointKey(field: string): string | undefined {
  const [hex, portHex] = field.split(':');
  if (!hex || !portHex) return undefined;
  const b: number[] = [];
  for (let i = 0; i < hex.length; i += 8) wordBytes(hex.slice(i, i + 8), b);
  const port = Number.parseInt(portHex, 16);
  if (b.length === 4) return `${b.join('.')}|${port}`;
  if (b.length !== 16) return undefined;
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `${b.slice(12).join('.')}|${port}`;
  return `${new Ipv6Address(Uint8Array.from(b)).toString()}|${port}`;
}

/** The key `endpointKey` gives for a Node socket's remote address and port. */
export function peerKey(address: string, port: number): string {
  const a = address.replace(/^::ffff:/i, '');
  // Both keys are stack-core's text form (RFC 5952 for IPv6), whatever Node printed.
  return `${a.includes(':') ? Ipv6Address.parse(a).toString() : a}|${port}`;
}

/**
 * uid of every socket connected to `port` on this host (the client ends of connections to
 * a local listener), keyed by `peerKey(address, port)` of that socket's local end.
 * Empty when /proc/net is not there (not Linux).
 */
export async function loopbackPeerOwners(port: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(file, 'latin1');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
      const f = lines[i]!.trim().split(/\s+/);
      if (f.length < 8) continue;
      const rem = f[2]!;
      if (Number.parseInt(rem.slice(rem.indexOf(':') + 1), 16) !== port) continue;
      const local = endpointKey(f[1]!);
      if (local !== undefined) out.set(local, Number(f[7]));
    }
  }
  return out;
}
