/**
 * Address pool of a WebSocket segment: the server stack holds one address per family
 * ("192.0.2.1/24", "2001:db8:1::1/64"); each client gets the lowest free host address
 * of the same prefix, returned to the pool when the client leaves.
 */

interface Prefix {
  v6: boolean;
  base: bigint;
  server: bigint;
  length: number;
  /** Highest usable host (the IPv4 broadcast address excluded). */
  last: bigint;
}

export class AddressPool {
  private readonly prefixes: Prefix[];
  private readonly used = new Set<bigint>();

  constructor(serverAddresses: readonly string[]) {
    this.prefixes = serverAddresses.map(parsePrefix);
  }

  /** The server's addresses without prefix. */
  serverAddresses(): string[] {
    return this.prefixes.map((p) => format(p.server, p.v6));
  }

  /** One host offset per client (the same offset in every prefix); undefined when full. */
  take(): { offset: bigint; addresses: string[] } | undefined {
    for (let off = 1n; ; off++) {
      if (this.used.has(off)) continue;
      const addrs: string[] = [];
      for (const p of this.prefixes) {
        let a = p.base + off;
        if (a >= p.server) a += 1n; // skip the server's own address
        if (a > p.last) return undefined;
        addrs.push(`${format(a, p.v6)}/${p.length}`);
      }
      if (this.prefixes.length === 0 && off > 1n << 20n) return undefined;
      this.used.add(off);
      return { offset: off, addresses: addrs };
    }
  }

  give(offset: bigint): void {
    this.used.delete(offset);
  }
}

function parsePrefix(s: string): Prefix {
  const m = /^([^/]+)\/(\d+)$/.exec(s);
  if (!m) throw new TypeError(`'${s}': expected address/prefix`);
  const v6 = m[1]!.includes(':');
  const bits = v6 ? 128 : 32;
  const length = Number(m[2]);
  if (length > bits - 2) throw new TypeError(`'${s}': prefix too long for a segment with clients`);
  const server = v6 ? parseV6(m[1]!) : parseV4(m[1]!);
  const hostBits = BigInt(bits - length);
  const base = (server >> hostBits) << hostBits;
  const top = base + (1n << hostBits) - 1n;
  return { v6, base, server, length, last: v6 ? top : top - 1n };
}

export function parseV4(s: string): bigint {
  const p = s.split('.');
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255))
    throw new TypeError(`'${s}' is not an IPv4 address`);
  return p.reduce((a, x) => (a << 8n) | BigInt(x), 0n);
}

export function parseV6(s: string): bigint {
  const halves = s.split('::');
  if (halves.length > 2) throw new TypeError(`'${s}' is not an IPv6 address`);
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 2 && fill < 1) || (halves.length === 1 && fill !== 0))
    throw new TypeError(`'${s}' is not an IPv6 address`);
  const all = [...head, ...Array(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) throw new TypeError(`'${s}' is not an IPv6 address`);
    v = (v << 16n) | BigInt(Number.parseInt(g, 16));
  }
  return v;
}

function format(v: bigint, v6: boolean): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  const g: string[] = [];
  for (let i = 7n; i >= 0n; i--) g.push(((v >> (i * 16n)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}
