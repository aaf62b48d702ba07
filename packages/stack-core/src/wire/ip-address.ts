/**
 * IPv4 and IPv6 addresses as small immutable values. Parsing text throws a
 * clear error; parsing from packet bytes never fails (the bytes are the address).
 */

export class Ipv4Address {
  readonly version = 4 as const;
  /** The address as an unsigned 32-bit integer, network order (192.0.2.1 = 0xc0000201). */
  readonly value: number;

  constructor(value: number) {
    this.value = value >>> 0;
  }

  static readonly UNSPECIFIED = new Ipv4Address(0);
  static readonly BROADCAST = new Ipv4Address(0xffffffff);

  static parse(text: string): Ipv4Address {
    const parts = text.split('.');
    if (parts.length !== 4) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(text)}`);
    let v = 0;
    for (const p of parts) {
      if (!/^\d{1,3}$/.test(p)) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(text)}`);
      const n = Number(p);
      if (n > 255) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(text)}`);
      v = v * 256 + n;
    }
    return new Ipv4Address(v);
  }

  static fromBytes(buf: Uint8Array, offset = 0): Ipv4Address {
    return new Ipv4Address(
      ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0,
    );
  }

  writeTo(buf: Uint8Array, offset = 0): void {
    const v = this.value;
    buf[offset] = v >>> 24;
    buf[offset + 1] = (v >>> 16) & 0xff;
    buf[offset + 2] = (v >>> 8) & 0xff;
    buf[offset + 3] = v & 0xff;
  }

  equals(other: IpAddress | undefined): boolean {
    return other !== undefined && other.version === 4 && other.value === this.value;
  }

  isUnspecified(): boolean {
    return this.value === 0;
  }
  isBroadcast(): boolean {
    return this.value === 0xffffffff;
  }
  isMulticast(): boolean {
    return this.value >>> 28 === 0xe;
  }
  isLoopback(): boolean {
    return this.value >>> 24 === 127;
  }

  /** A string key usable in a Map (the dotted form). */
  key(): string {
    return this.toString();
  }

  toString(): string {
    const v = this.value;
    return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }
}

export class Ipv6Address {
  readonly version = 6 as const;
  /** The 16 address bytes. Treat as read-only. */
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    if (bytes.length !== 16) throw new TypeError(`IPv6 address needs 16 bytes, got ${bytes.length}`);
    this.bytes = bytes;
  }

  static readonly UNSPECIFIED = new Ipv6Address(new Uint8Array(16));
  static readonly LOOPBACK = Ipv6Address.parse('::1');
  static readonly ALL_NODES = Ipv6Address.parse('ff02::1');
  static readonly ALL_ROUTERS = Ipv6Address.parse('ff02::2');

  static parse(text: string): Ipv6Address {
    const bad = () => new TypeError(`invalid IPv6 address: ${JSON.stringify(text)}`);
    let s = text;
    const pct = s.indexOf('%');
    if (pct >= 0) s = s.slice(0, pct); // zone index is not part of the address
    const out = new Uint8Array(16);
    // An embedded IPv4 tail (::ffff:192.0.2.1).
    let tail: number[] = [];
    const lastColon = s.lastIndexOf(':');
    if (s.indexOf('.', lastColon) >= 0) {
      const v4 = Ipv4Address.parse(s.slice(lastColon + 1));
      tail = [v4.value >>> 16, v4.value & 0xffff];
      s = `${s.slice(0, lastColon + 1)}0:0`;
    }
    const halves = s.split('::');
    if (halves.length > 2) throw bad();
    const parseGroups = (h: string): number[] => {
      if (h === '') return [];
      return h.split(':').map((g) => {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
        return Number.parseInt(g, 16);
      });
    };
    const head = parseGroups(halves[0]!);
    const rest = halves.length === 2 ? parseGroups(halves[1]!) : [];
    let groups: number[];
    if (halves.length === 2) {
      const fill = 8 - head.length - rest.length;
      if (fill < 1) throw bad();
      groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
    } else {
      groups = head;
    }
    if (groups.length !== 8) throw bad();
    if (tail.length) {
      groups[6] = tail[0]!;
      groups[7] = tail[1]!;
    }
    for (let i = 0; i < 8; i++) {
      out[i * 2] = groups[i]! >>> 8;
      out[i * 2 + 1] = groups[i]! & 0xff;
    }
    return new Ipv6Address(out);
  }

  /** Copies 16 bytes out of a packet. */
  static fromBytes(buf: Uint8Array, offset = 0): Ipv6Address {
    return new Ipv6Address(buf.slice(offset, offset + 16));
  }

  writeTo(buf: Uint8Array, offset = 0): void {
    buf.set(this.bytes, offset);
  }

  equals(other: IpAddress | undefined): boolean {
    if (other === undefined || other.version !== 6) return false;
    const a = this.bytes;
    const b = other.bytes;
    for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  isUnspecified(): boolean {
    return this.bytes.every((b) => b === 0);
  }
  isMulticast(): boolean {
    return this.bytes[0] === 0xff;
  }
  isLinkLocal(): boolean {
    return this.bytes[0] === 0xfe && (this.bytes[1]! & 0xc0) === 0x80;
  }
  isLoopback(): boolean {
    return this.equals(Ipv6Address.LOOPBACK);
  }

  key(): string {
    return this.toString();
  }

  /** RFC 5952 text form. */
  toString(): string {
    const g: number[] = [];
    for (let i = 0; i < 8; i++) g.push((this.bytes[i * 2]! << 8) | this.bytes[i * 2 + 1]!);
    let bestStart = -1;
    let bestLen = 1;
    for (let i = 0; i < 8; ) {
      if (g[i] !== 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > bestLen) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    }
    const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
    if (bestStart < 0) return hex(g);
    return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
  }
}

export type IpAddress = Ipv4Address | Ipv6Address;

/** Parses dotted IPv4 or RFC 4291 IPv6 text; throws TypeError naming the bad input. */
export function parseIpAddress(text: string): IpAddress {
  return text.includes(':') ? Ipv6Address.parse(text) : Ipv4Address.parse(text);
}

/** Parses "address/prefix"; throws TypeError naming the bad input. */
export function parseCidr(text: string): { address: IpAddress; prefixLength: number } {
  const slash = text.indexOf('/');
  const address = parseIpAddress(slash < 0 ? text : text.slice(0, slash));
  const max = address.version === 4 ? 32 : 128;
  const prefixLength = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > max) {
    throw new TypeError(`invalid prefix length in ${JSON.stringify(text)} (0..${max})`);
  }
  return { address, prefixLength };
}
