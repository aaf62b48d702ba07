/**
 * A DNS stub resolver (RFC 1035) over the driver's own sockets: A and AAAA queries
 * over UDP, retried over TCP when the answer is truncated (§4.2.2), with per-try
 * timeouts, retries across the configured servers, and a small cache that honours
 * record TTLs (and SOA-minimum negative caching, RFC 2308 §5).
 */
import {
  type DnsMessage,
  DnsRcode,
  DnsType,
  encodeDnsQuery as encodeQuery,
  type IpAddress,
  Ipv4Address,
  Ipv6Address,
  normalizeDnsName as normalizeName,
  parseDnsMessage,
  parseIpAddress,
  SocketEvent,
} from '@tapstack/stack-core';
import type { SocketHost } from './socket-host.js';

export interface ResolverOptions {
  servers?: (string | IpAddress)[];
  /** Per-try timeout ms [2000]. */
  timeoutMs?: number;
  /** Tries per server after the first [1]. */
  retries?: number;
  /** Most cached names [512]. */
  cacheSize?: number;
  /** Random source for query IDs. */
  random?: (buf: Uint8Array) => void;
  /** Clock in ms used for TTLs [performance.now]. */
  now?: () => number;
}

/** An error shaped like Node's dns errors: `code` is ENOTFOUND, ETIMEOUT, ESERVFAIL, EREFUSED or ECONNREFUSED. */
export class DnsError extends Error {
  readonly code: string;
  readonly hostname: string;
  readonly syscall = 'getaddrinfo';
  constructor(code: string, hostname: string, detail?: string) {
    super(`getaddrinfo ${code} ${hostname}${detail ? ` (${detail})` : ''}`);
    this.code = code;
    this.hostname = hostname;
  }
}

interface CacheEntry {
  addresses: IpAddress[];
  expires: number;
  /** NXDOMAIN (name does not exist) rather than "no records of this type". */
  nxdomain: boolean;
}

export interface ResolverStats {
  queries: number;
  cacheHits: number;
  timeouts: number;
  tcpFallbacks: number;
  badResponses: number;
}

/** The answer to one question: addresses with their TTL, or a negative result. */
interface Answer {
  addresses: IpAddress[];
  ttl: number;
  nxdomain: boolean;
}

export class DnsResolver {
  private servers: IpAddress[];
  private readonly host: SocketHost;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly cacheSize: number;
  private readonly random: (buf: Uint8Array) => void;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Answer>>();
  readonly counters: ResolverStats = {
    queries: 0,
    cacheHits: 0,
    timeouts: 0,
    tcpFallbacks: 0,
    badResponses: 0,
  };

  constructor(host: SocketHost, options: ResolverOptions = {}) {
    this.host = host;
    this.servers = (options.servers ?? []).map((s) => (typeof s === 'string' ? parseIpAddress(s) : s));
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.retries = options.retries ?? 1;
    this.cacheSize = options.cacheSize ?? 512;
    this.random = options.random ?? ((b) => crypto.getRandomValues(b));
    this.now = options.now ?? (() => performance.now());
  }

  /** Replaces the server list (static config or a DHCP lease). */
  setServers(servers: (string | IpAddress)[]): void {
    this.servers = servers.map((s) => (typeof s === 'string' ? parseIpAddress(s) : s));
  }

  getServers(): string[] {
    return this.servers.map((s) => s.toString());
  }

  clearCache(): void {
    this.cache.clear();
  }

  /**
   * Resolves `hostname` to addresses: a literal address is returned as is; otherwise A
   * (family 0 or 4) and AAAA (family 0 or 6) are asked, IPv4 results first.
   * Rejects with a DnsError (code ENOTFOUND when the name has no such addresses).
   */
  async lookup(hostname: string, family: 0 | 4 | 6 = 0): Promise<IpAddress[]> {
    const literal = parseLiteral(hostname);
    if (literal) {
      if (family !== 0 && literal.version !== family)
        throw new DnsError('ENOTFOUND', hostname, 'address family');
      return [literal];
    }
    const name = normalizeName(hostname);
    if (name === 'localhost') {
      return family === 6
        ? [Ipv6Address.LOOPBACK]
        : family === 4
          ? [Ipv4Address.parse('127.0.0.1')]
          : [Ipv4Address.parse('127.0.0.1'), Ipv6Address.LOOPBACK];
    }
    if (!/^[a-z0-9_.-]+$/i.test(name) || name.length > 253)
      throw new DnsError('ENOTFOUND', hostname, 'invalid name');
    const types = family === 4 ? [DnsType.A] : family === 6 ? [DnsType.AAAA] : [DnsType.A, DnsType.AAAA];
    const settled = await Promise.allSettled(types.map((t) => this.resolveType(name, t)));
    const out: IpAddress[] = [];
    let firstError: unknown;
    let nx = false;
    for (const s of settled) {
      if (s.status === 'fulfilled') {
        out.push(...s.value.addresses);
        nx ||= s.value.nxdomain;
      } else {
        firstError ??= s.reason;
      }
    }
    if (out.length > 0) return out;
    if (firstError && !nx)
      throw firstError instanceof DnsError ? new DnsError(firstError.code, hostname) : firstError;
    throw new DnsError('ENOTFOUND', hostname);
  }

  private async resolveType(name: string, type: number): Promise<Answer> {
    const key = `${name}|${type}`;
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit && hit.expires > now) {
      this.counters.cacheHits++;
      return { addresses: hit.addresses, ttl: (hit.expires - now) / 1000, nxdomain: hit.nxdomain };
    }
    if (hit) this.cache.delete(key);
    let p = this.inflight.get(key);
    if (!p) {
      p = this.query(name, type).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    const ans = await p;
    if (ans.ttl > 0) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, {
        addresses: ans.addresses,
        expires: this.now() + ans.ttl * 1000,
        nxdomain: ans.nxdomain,
      });
    }
    return ans;
  }

  private async query(name: string, type: number): Promise<Answer> {
    if (this.servers.length === 0) throw new DnsError('ENOTFOUND', name, 'no DNS servers configured');
    let lastError: DnsError = new DnsError('ETIMEOUT', name);
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      for (const server of this.servers) {
        const idBuf = new Uint8Array(2);
        this.random(idBuf);
        const id = (idBuf[0]! << 8) | idBuf[1]!;
        const query = encodeQuery(id, name, type);
        this.counters.queries++;
        let reply: DnsMessage | undefined;
        try {
          const raw = await this.udpExchange(server, query, id, name, type);
          if (raw === 'truncated') {
            this.counters.tcpFallbacks++;
            const parsed = parseDnsMessage(await this.tcpExchange(server, query));
            if (typeof parsed === 'string') {
              this.counters.badResponses++;
              lastError = new DnsError('ETIMEOUT', name, `bad TCP reply (${parsed})`);
              continue;
            }
            reply = parsed;
            if (reply.id !== id) throw new DnsError('ETIMEOUT', name, 'mismatched TCP reply');
          } else {
            reply = raw;
          }
        } catch (e) {
          if (e instanceof DnsError) {
            if (e.code === 'ETIMEOUT') this.counters.timeouts++;
            lastError = e;
            continue;
          }
          this.counters.badResponses++;
          lastError = new DnsError('ETIMEOUT', name, String(e));
          continue;
        }
        if (reply.rcode === DnsRcode.NxDomain)
          return { addresses: [], ttl: negativeTtl(reply), nxdomain: true };
        if (reply.rcode === DnsRcode.ServFail) {
          lastError = new DnsError('ESERVFAIL', name);
          continue;
        }
        if (reply.rcode === DnsRcode.Refused) {
          lastError = new DnsError('EREFUSED', name);
          continue;
        }
        if (reply.rcode !== DnsRcode.NoError) {
          lastError = new DnsError('ESERVFAIL', name, `rcode ${reply.rcode}`);
          continue;
        }
        return extract(reply, name, type);
      }
    }
    throw lastError;
  }

  /** One UDP try: resolves the matching reply, 'truncated', or rejects with ETIMEOUT. */
  private udpExchange(
    server: IpAddress,
    query: Uint8Array,
    id: number,
    name: string,
    type: number,
  ): Promise<DnsMessage | 'truncated'> {
    const host = this.host;
    return new Promise((resolve, reject) => {
      const h = host.udpOpen();
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        host.unwatch(h);
        host.udpClose(h);
      };
      const timer = setTimeout(() => {
        if (done) return;
        finish();
        reject(new DnsError('ETIMEOUT', name));
      }, this.timeoutMs);
      host.watch(h, (ev) => {
        if (done || !(ev & SocketEvent.Readable)) return;
        for (let d = host.udpRecv(h); d; d = host.udpRecv(h)) {
          // Only the server we asked, from port 53, with our ID and question (RFC 5452 §9.1).
          if (d.port !== 53 || !d.address.equals(server)) continue;
          const buf = d.data;
          if (buf.length < 4 || ((buf[0]! << 8) | buf[1]!) !== id || !(buf[2]! & 0x80)) continue;
          if (buf[2]! & 0x02) {
            finish();
            resolve('truncated');
            return;
          }
          const m = parseDnsMessage(buf);
          if (typeof m === 'string') {
            this.counters.badResponses++;
            continue;
          }
          const q = m.questions[0];
          if (!q || q.name !== name || q.type !== type) continue;
          finish();
          resolve(m);
          return;
        }
      });
      const r = host.udpSend(h, query, server, 53);
      if (r !== query.length) {
        finish();
        reject(new DnsError('ETIMEOUT', name, `udpSend error ${r}`));
      }
    });
  }

  /** One TCP exchange (two-byte length prefix, §4.2.2). */
  private tcpExchange(server: IpAddress, query: Uint8Array): Promise<Uint8Array> {
    const host = this.host;
    return new Promise((resolve, reject) => {
      const h = host.tcpOpen();
      const chunks: Uint8Array[] = [];
      let have = 0;
      let done = false;
      const msg = new Uint8Array(query.length + 2);
      msg[0] = query.length >> 8;
      msg[1] = query.length & 0xff;
      msg.set(query, 2);
      let sent = 0;
      const finish = (err?: Error, data?: Uint8Array) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        host.unwatch(h);
        host.tcpClose(h);
        if (err) reject(err);
        else resolve(data!);
      };
      const timer = setTimeout(
        () => finish(new DnsError('ETIMEOUT', server.toString(), 'TCP')),
        this.timeoutMs * 2,
      );
      const pump = () => {
        while (sent < msg.length) {
          const n = host.tcpSend(h, msg.subarray(sent));
          if (n <= 0 || host.socketError(h)) break;
          sent += n;
        }
      };
      const buf = new Uint8Array(65536);
      host.watch(h, (ev) => {
        if (ev & SocketEvent.Error) {
          finish(new DnsError('ECONNREFUSED', server.toString(), `TCP error ${host.socketError(h)}`));
          return;
        }
        if (ev & (SocketEvent.Connected | SocketEvent.Writable)) pump();
        if (ev & (SocketEvent.Readable | SocketEvent.PeerClosed)) {
          let eof = false;
          for (;;) {
            const n = host.tcpRecv(h, buf);
            if (n > 0) {
              chunks.push(buf.slice(0, n));
              have += n;
              continue;
            }
            if (n === -1) eof = true;
            else if (n < 0) {
              finish(new DnsError('ECONNREFUSED', server.toString(), `TCP error ${-n}`));
              return;
            }
            break;
          }
          const all = concat(chunks, have);
          if (all.length >= 2) {
            const len = (all[0]! << 8) | all[1]!;
            if (all.length >= 2 + len) {
              finish(undefined, all.slice(2, 2 + len));
              return;
            }
          }
          if (eof) finish(new DnsError('ETIMEOUT', server.toString(), 'TCP closed before the whole answer'));
        }
      });
      const e = host.tcpConnect(h, server, 53, host.now());
      if (e) finish(new DnsError('ECONNREFUSED', server.toString(), `connect error ${e}`));
    });
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  chunks.length = 0;
  chunks.push(out);
  return out;
}

/** Addresses of `type` for `name`, following the CNAME chain in the answer section. */
function extract(m: DnsMessage, name: string, type: number): Answer {
  const names = new Set([name]);
  // Follow CNAMEs in whatever order the server put them (bounded by the record count).
  for (let i = 0; i < m.answers.length; i++) {
    for (const r of m.answers) {
      if (r.type === DnsType.CNAME && names.has(r.name) && r.target) names.add(r.target);
    }
  }
  const addresses: IpAddress[] = [];
  let ttl = Number.POSITIVE_INFINITY;
  for (const r of m.answers) {
    if (r.type !== type || !names.has(r.name) || r.class !== 1) continue;
    if (type === DnsType.A && r.data.length === 4) addresses.push(Ipv4Address.fromBytes(r.data));
    else if (type === DnsType.AAAA && r.data.length === 16) addresses.push(Ipv6Address.fromBytes(r.data));
    else continue;
    ttl = Math.min(ttl, r.ttl);
  }
  if (addresses.length === 0) return { addresses, ttl: negativeTtl(m), nxdomain: false };
  return { addresses, ttl, nxdomain: false };
}

/** RFC 2308 §5: negative answers live for min(SOA TTL, SOA MINIMUM); none without an SOA. */
function negativeTtl(m: DnsMessage): number {
  const soa = m.authorities.find((r) => r.type === DnsType.SOA);
  if (!soa) return 0;
  return Math.min(soa.ttl, soa.soaMinimum ?? 0, 3600);
}

function parseLiteral(text: string): IpAddress | undefined {
  let t = text;
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (!/^[0-9.]+$/.test(t) && !t.includes(':')) return undefined;
  try {
    return parseIpAddress(t);
  } catch {
    return undefined;
  }
}
