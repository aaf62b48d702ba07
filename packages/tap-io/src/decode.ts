/**
 * A small, forgiving frame decoder for the tracer: Ethernet (+802.1Q), ARP, IPv4, IPv6
 * and the L4 protocol with ports. Never throws; truncated frames say so.
 * (tap-io may not import stack-core, so this is deliberately minimal.)
 */
import { ETHERNET_HEADER_LEN, formatMac } from './link.js';

const L4: Record<number, string> = { 1: 'ICMP', 2: 'IGMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' };

export function ipv4String(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export function ipv6String(b: Uint8Array, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  // RFC 5952: compress the longest run (>= 2) of zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function l4(b: Uint8Array, off: number, proto: number): string {
  const name = L4[proto] ?? `proto ${proto}`;
  if ((proto === 6 || proto === 17) && b.length >= off + 4) {
    return `${name} ${(b[off]! << 8) | b[off + 1]!} > ${(b[off + 2]! << 8) | b[off + 3]!}`;
  }
  if ((proto === 1 || proto === 58) && b.length >= off + 1) return `${name} type ${b[off]}`;
  return name;
}

/** One-line summary: "src > dst ETHERTYPE details". */
export function describeFrame(b: Uint8Array): string {
  if (b.length < ETHERNET_HEADER_LEN) return `truncated (${b.length} B)`;
  const macs = `${formatMac(b, 6)} > ${formatMac(b, 0)}`;
  let off = 12;
  let type = (b[off]! << 8) | b[off + 1]!;
  let vlan = '';
  while ((type === 0x8100 || type === 0x88a8) && b.length >= off + 6) {
    vlan += ` vlan ${((b[off + 2]! << 8) | b[off + 3]!) & 0xfff}`;
    off += 4;
    type = (b[off]! << 8) | b[off + 1]!;
  }
  const p = off + 2;
  let rest: string;
  if (type === 0x0800) {
    rest = describeIpv4(b, p);
  } else if (type === 0x86dd) {
    rest = describeIpv6(b, p);
  } else if (type === 0x0806) {
    if (b.length < p + 28) rest = 'ARP truncated';
    else {
      const op = (b[p + 6]! << 8) | b[p + 7]!;
      rest =
        op === 1
          ? `ARP who-has ${ipv4String(b, p + 24)} tell ${ipv4String(b, p + 14)}`
          : op === 2
            ? `ARP ${ipv4String(b, p + 14)} is-at ${formatMac(b, p + 8)}`
            : `ARP op ${op}`;
    }
  } else if (type < 0x600) {
    rest = `802.3 length ${type}`;
  } else {
    rest = `ethertype 0x${type.toString(16).padStart(4, '0')}`;
  }
  return `${macs}${vlan} ${rest}`;
}

function describeIpv4(b: Uint8Array, p: number): string {
  if (b.length < p + 20) return 'IPv4 truncated';
  const ihl = (b[p]! & 15) * 4;
  const frag = ((b[p + 6]! << 8) | b[p + 7]!) & 0x3fff;
  return `IPv4 ${ipv4String(b, p + 12)} > ${ipv4String(b, p + 16)} ${frag & 0x1fff ? `${L4[b[p + 9]!] ?? b[p + 9]} fragment` : l4(b, p + ihl, b[p + 9]!)}`;
}

function describeIpv6(b: Uint8Array, p: number): string {
  return b.length < p + 40
    ? 'IPv6 truncated'
    : `IPv6 ${ipv6String(b, p + 8)} > ${ipv6String(b, p + 24)} ${l4(b, p + 40, b[p + 6]!)}`;
}

/** One-line summary of a bare IP packet (an IP-only link: TUN, WireGuard): "IPv4 src > dst details". */
export function describePacket(b: Uint8Array): string {
  const v = b.length > 0 ? b[0]! >> 4 : 0;
  if (v === 4) return describeIpv4(b, 0);
  if (v === 6) return describeIpv6(b, 0);
  return `not IP (${b.length} B)`;
}
