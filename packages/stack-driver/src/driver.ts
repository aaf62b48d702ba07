/**
 * `StackDriver`: makes a stack run. It builds a `Stack`, attaches links to it,
 * configures addresses (static, SLAAC, DHCPv4), runs the loop (loop.ts), answers
 * name lookups with its DNS stub resolver, and offers one stats snapshot.
 */
import {
  type IpAddress,
  type KeyedPrf,
  parseIpAddress,
  SocketEvent,
  Stack,
  type StackApi,
  type StackConfig,
  type TcpConfig,
} from '@tapstack/stack-core';
import { FrameRing } from '@tapstack/frame-ring';
import { type Link, parseMac, withPcap } from '@tapstack/tap-io';
import { DhcpClient, type DhcpLease } from './dhcp.js';
import { DnsResolver } from './dns.js';
import type { WorkerLinkSpec } from './io-worker.js';
import { sipHash24 } from './keyed-prf.js';
import { DriverLoop } from './loop.js';
import type { SocketHost } from './socket-host.js';
import { ThreadedLink, type ThreadedLinkOptions } from './threaded-link.js';

export interface LinkConfig {
  /** A link on this thread (single-threaded mode). */
  link?: Link;
  /**
   * Threaded mode: the link is opened on a frame I/O worker thread from this spec
   * (e.g. `{ module: '@tapstack/tap-io', export: 'openTap', args: [{ name: 'tap0' }] }`)
   * and joined to the stack by an rx and a tx frame ring.
   */
  worker?: WorkerLinkSpec;
  /** Ring sizes and batch for `worker` links. */
  threading?: ThreadedLinkOptions;
  /** The stack's MAC on this link [the link's `mac`; a TAP link's is a random one, not the kernel side's]. */
  mac?: Uint8Array | string;
  /** Static addresses in CIDR form: "192.0.2.2/24", "2001:db8::2/64". */
  addresses?: string[];
  /** Default gateway(s): one IPv4 and/or one IPv6 address. */
  gateway?: string | string[];
  /** Accept router advertisements and form SLAAC addresses (RFC 4862). */
  slaac?: boolean;
  /** TAP links: let the native reader thread write into a ring drained in place [true]. */
  rxRing?: boolean;
  /** Get an IPv4 lease with the DHCPv4 client. */
  dhcp?: boolean | { hostname?: string; initialTimeoutMs?: number };
}

export interface StackDriverOptions {
  links: LinkConfig[];
  /** Static DNS servers (a DHCP lease's servers are added to these). */
  dns?: { servers?: string[]; timeoutMs?: number; retries?: number };
  /** Random source [crypto.getRandomValues]. */
  random?: (buf: Uint8Array) => void;
  /** Write every frame sent and received to this pcap file (one file per link: `.N` before the extension after the first). */
  pcap?: string;
  tcp?: Partial<TcpConfig>;
  /** The stack's keyed PRF (`StackConfig.keyedPrf`) [SipHash-2-4 from the siphash24 package]. */
  keyedPrf?: KeyedPrf;
  /** Frames handled per loop turn before yielding [256]. */
  rxBatch?: number;
  /** Receive coalescing on links without checksum offload (LoopOptions.gro) [true]. */
  gro?: boolean;
  /** Wait for the DHCP leases before create() resolves, up to this many ms [0: do not wait]. */
  waitForDhcpMs?: number;
  /** Build the stack (tests inject a recording stack) [new Stack(config)]. */
  createStack?: (config: StackConfig) => StackApi;
}

export interface PingResult {
  rttMs: number;
  ttl: number;
  from: string;
}

function defaultRandom(buf: Uint8Array): void {
  // getRandomValues takes at most 65536 bytes per call.
  for (let o = 0; o < buf.length; o += 65536)
    crypto.getRandomValues(buf.subarray(o, Math.min(buf.length, o + 65536)));
}

function pcapPath(base: string, i: number): string {
  if (i === 0) return base;
  const dot = base.lastIndexOf('.');
  return dot > base.lastIndexOf('/') ? `${base.slice(0, dot)}.${i}${base.slice(dot)}` : `${base}.${i}`;
}

export class StackDriver {
  readonly stack: StackApi;
  readonly loop: DriverLoop;
  readonly resolver: DnsResolver;
  /** The socket API for socket-bridge (single-threaded: calls go straight to the stack). */
  readonly sockets: SocketHost;
  readonly dhcp: (DhcpClient | undefined)[] = [];
  private readonly staticDns: string[];
  private readonly random: (buf: Uint8Array) => void;
  private readonly links: Link[] = [];
  private readonly macs: Uint8Array[] = [];
  private readonly rxRings: (FrameRing | undefined)[] = [];
  private closed = false;

  private constructor(options: StackDriverOptions) {
    this.random = options.random ?? defaultRandom;
    // SipHash-2-4 from a library for ISNs and SYN cookies (made here, so also on a stack
    // thread: a function cannot cross into the worker with the options).
    const config: StackConfig = {
      random: this.random,
      keyedPrf: options.keyedPrf ?? sipHash24,
      ...(options.tcp ? { tcp: options.tcp } : {}),
    };
    this.stack = options.createStack ? options.createStack(config) : new Stack(config);
    let resolver: DnsResolver | undefined;
    this.loop = new DriverLoop(this.stack, {
      ...(options.rxBatch ? { rxBatch: options.rxBatch } : {}),
      ...(options.gro !== undefined ? { gro: options.gro } : {}),
      lookup: (name, family) => resolver!.lookup(name, family),
    });
    this.sockets = this.loop;
    this.staticDns = options.dns?.servers ?? [];
    resolver = new DnsResolver(this.loop, {
      servers: this.staticDns,
      random: this.random,
      now: this.loop.now,
      ...(options.dns?.timeoutMs ? { timeoutMs: options.dns.timeoutMs } : {}),
      ...(options.dns?.retries !== undefined ? { retries: options.dns.retries } : {}),
    });
    this.resolver = resolver;
  }

  /** Builds the stack, attaches the links, configures addresses and starts the loop. */
  static async create(options: StackDriverOptions): Promise<StackDriver> {
    if (!options.links || options.links.length === 0)
      throw new TypeError('StackDriver.create: at least one link is needed');
    const d = new StackDriver(options);
    try {
      for (const [i, lc] of options.links.entries()) {
        let link: Link;
        if (lc.worker) link = await ThreadedLink.open(lc.worker, lc.threading);
        else if (lc.link) link = lc.link;
        else throw new TypeError(`StackDriver.create: links[${i}] needs \`link\` or \`worker\``);
        d.attach(lc, link, i, options.pcap);
      }
      d.loop.kick();
      if (options.waitForDhcpMs) {
        await Promise.all(
          d.dhcp.filter((c) => c !== undefined).map((c) => c.waitForLease(options.waitForDhcpMs)),
        );
      }
    } catch (e) {
      await d.close();
      throw e;
    }
    return d;
  }

  private attach(lc: LinkConfig, raw: Link, i: number, pcap: string | undefined): void {
    const mac =
      lc.mac === undefined
        ? raw.mac
        : typeof lc.mac === 'string'
          ? parseMac(lc.mac)
          : Uint8Array.from(lc.mac);
    const link = pcap ? withPcap(raw, pcapPath(pcap, i)) : raw;
    this.links.push(link);
    // A link whose native reader thread writes into a ring (TAP, TUN) is drained in place:
    // no copy and no allocation per received frame (pcap needs every frame: no ring).
    const useRing = link.nativeRxRing === true && lc.rxRing !== false;
    const rxRing = useRing ? FrameRing.create({ capacity: 4 * 1024 * 1024, maxFrameSize: 65535 }) : undefined;
    const iface = this.loop.addLink(link, rxRing ? { rxRing, mac } : { mac });
    if (rxRing) this.rxRings[iface] = rxRing;
    this.macs[iface] = mac;
    for (const a of lc.addresses ?? []) this.stack.addAddress(iface, a, 'static');
    const gws = lc.gateway === undefined ? [] : Array.isArray(lc.gateway) ? lc.gateway : [lc.gateway];
    for (const g of gws) {
      const gw = parseIpAddress(g);
      this.stack.addRoute({ destination: gw.version === 4 ? '0.0.0.0/0' : '::/0', gateway: g, iface });
    }
    if (lc.slaac) this.stack.enableSlaac(iface);
    if (lc.dhcp) {
      const dhcpOpts = typeof lc.dhcp === 'object' ? lc.dhcp : {};
      const client = new DhcpClient({
        host: this.loop,
        stack: this.stack,
        iface,
        mac,
        random: this.random,
        ...(dhcpOpts.hostname ? { hostname: dhcpOpts.hostname } : {}),
        ...(dhcpOpts.initialTimeoutMs ? { initialTimeoutMs: dhcpOpts.initialTimeoutMs } : {}),
        onLease: () => this.refreshDnsServers(),
        onLeaseLost: () => this.refreshDnsServers(),
      });
      this.dhcp[iface] = client;
      client.start();
    }
  }

  /** The MAC the stack uses on a link. */
  macOf(linkIndex = 0): Uint8Array | undefined {
    return this.macs[linkIndex];
  }

  private refreshDnsServers(): void {
    const fromDhcp = this.dhcp.flatMap((c) => c?.lease?.dnsServers.map(String) ?? []);
    this.resolver.setServers([...new Set([...this.staticDns, ...fromDhcp])]);
  }

  /** The DHCP lease of a link (index in `links`), waiting for it up to `timeoutMs`. */
  lease(linkIndex = 0, timeoutMs = 30_000): Promise<DhcpLease> {
    const c = this.dhcp[linkIndex];
    if (!c) return Promise.reject(new Error(`link ${linkIndex} does not run DHCP`));
    return c.waitForLease(timeoutMs);
  }

  /** Resolves a name (or literal) with the driver's resolver. */
  lookup(hostname: string, family: 0 | 4 | 6 = 0): Promise<IpAddress[]> {
    return this.resolver.lookup(hostname, family);
  }

  /** Sends one ICMP echo request and resolves with the reply's round-trip time. */
  ping(address: string | IpAddress, { timeoutMs = 2000, size = 56, sequence = 1 } = {}): Promise<PingResult> {
    const dst = typeof address === 'string' ? parseIpAddress(address) : address;
    const stack = this.stack;
    const loop = this.loop;
    return new Promise((resolve, reject) => {
      const h = stack.icmpOpen();
      const payload = new Uint8Array(size);
      this.random(payload);
      let t0 = 0;
      const done = (err?: Error, r?: PingResult) => {
        clearTimeout(timer);
        loop.unwatch(h);
        stack.icmpClose(h);
        if (err) reject(err);
        else resolve(r!);
      };
      const timer = setTimeout(
        () =>
          done(
            Object.assign(new Error(`ping ${dst}: no reply within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }),
          ),
        timeoutMs,
      );
      loop.watch(h, (ev) => {
        if (!(ev & SocketEvent.Readable)) return;
        for (let m = stack.icmpRecv(h); m; m = stack.icmpRecv(h)) {
          if (m.sequence !== sequence || !sameBytes(m.payload, payload)) continue;
          done(undefined, { rttMs: loop.now() - t0, ttl: m.ttl, from: m.from.toString() });
          return;
        }
      });
      t0 = loop.now();
      const e = stack.icmpSendEcho(h, dst, sequence, payload);
      if (e) {
        done(Object.assign(new Error(`ping ${dst}: send failed (error ${e})`), { code: 'EHOSTUNREACH' }));
        return;
      }
      loop.kick();
    });
  }

  /**
   * One flat snapshot: every stack counter, the loop's counters under `driver.`,
   * each link's under `link.<name>.`, the resolver's under `dns.`, DHCP under `dhcp.<i>.`.
   */
  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.stack.stats() };
    for (const [k, v] of Object.entries(this.loop.stats())) out[`driver.${k}`] = v;
    this.links.forEach((l, i) => {
      for (const [k, v] of Object.entries(l.stats())) out[`link.${l.name}.${k}`] = v;
      const ring = this.rxRings[i];
      if (ring) for (const [k, v] of Object.entries(ring.stats())) out[`link.${l.name}.rxRing.${k}`] = v;
    });
    for (const [k, v] of Object.entries(this.resolver.counters)) out[`dns.${k}`] = v;
    this.dhcp.forEach((c, i) => {
      if (c) for (const [k, v] of Object.entries(c.counters)) out[`dhcp.${i}.${k}`] = v;
    });
    return out;
  }

  /** Releases DHCP leases, stops the loop and closes the links. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.dhcp.map((c) => c?.stop()));
    this.loop.runNow();
    this.loop.close();
    await Promise.all(this.links.map((l) => l.close()));
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
