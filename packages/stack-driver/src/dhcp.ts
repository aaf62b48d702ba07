/**
 * A DHCPv4 client (RFC 2131 §4.4): INIT → SELECTING (DISCOVER, first OFFER) →
 * REQUESTING → BOUND; RENEWING (unicast REQUEST) at T1, REBINDING (broadcast) at T2,
 * back to INIT when the lease expires; RELEASE on stop. The lease installs the
 * address, the default route and hands the DNS servers to `onLease`.
 * Messages go out through a UDP socket bound to port 68 on one interface, which the
 * stack lets send from 0.0.0.0 to 255.255.255.255 before the interface has an address.
 */
import {
  type DhcpMessage,
  DhcpMessageType,
  DhcpOption,
  dhcpOptAddr as optAddr,
  dhcpReadAddrs as readAddrs,
  dhcpReadU32 as readU32,
  encodeDhcp,
  Ipv4Address,
  maskToPrefix,
  parseDhcpMessage,
  SocketEvent,
  type StackApi,
} from '@tapstack/stack-core';
import type { SocketHost } from './socket-host.js';

export interface DhcpLease {
  address: Ipv4Address;
  prefixLength: number;
  router: Ipv4Address | undefined;
  dnsServers: Ipv4Address[];
  server: Ipv4Address;
  /** Seconds, as granted. */
  leaseTime: number;
  renewalTime: number;
  rebindingTime: number;
  /** Driver clock (ms) when the lease was granted. */
  obtainedAt: number;
}

export type DhcpState = 'INIT' | 'SELECTING' | 'REQUESTING' | 'BOUND' | 'RENEWING' | 'REBINDING' | 'STOPPED';

export interface DhcpClientOptions {
  host: SocketHost;
  stack: StackApi;
  iface: number;
  mac: Uint8Array;
  random?: (buf: Uint8Array) => void;
  hostname?: string;
  /** First retransmission timeout ms; doubles up to 64 s (§4.1) [4000]. */
  initialTimeoutMs?: number;
  onLease?: (lease: DhcpLease) => void;
  onLeaseLost?: (lease: DhcpLease) => void;
}

export interface DhcpStats {
  discovers: number;
  requests: number;
  offers: number;
  acks: number;
  naks: number;
  renewals: number;
  rebinds: number;
  expiries: number;
  releases: number;
  badMessages: number;
}

const BROADCAST = Ipv4Address.BROADCAST;
const ZERO = Ipv4Address.UNSPECIFIED;

export class DhcpClient {
  state: DhcpState = 'INIT';
  lease: DhcpLease | undefined;
  readonly counters: DhcpStats = {
    discovers: 0,
    requests: 0,
    offers: 0,
    acks: 0,
    naks: 0,
    renewals: 0,
    rebinds: 0,
    expiries: 0,
    releases: 0,
    badMessages: 0,
  };
  private readonly o: DhcpClientOptions;
  private readonly random: (buf: Uint8Array) => void;
  private handle = 0;
  private xid = 0;
  private startedAt = 0;
  private offer: { address: Ipv4Address; server: Ipv4Address } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private retransmit: ReturnType<typeof setTimeout> | undefined;
  private tries = 0;
  private waiters: { resolve: (l: DhcpLease) => void; reject: (e: Error) => void }[] = [];

  constructor(options: DhcpClientOptions) {
    this.o = options;
    this.random = options.random ?? ((b) => crypto.getRandomValues(b));
  }

  start(): void {
    const { host, iface } = this.o;
    this.handle = host.udpOpen({ broadcast: true, iface });
    const e = host.udpBind(this.handle, undefined, 68);
    if (e)
      throw Object.assign(new Error(`DHCP client cannot bind port 68 (error ${e})`), { code: 'EADDRINUSE' });
    host.watch(this.handle, (ev) => {
      if (!(ev & SocketEvent.Readable)) return;
      for (let d = host.udpRecv(this.handle); d; d = host.udpRecv(this.handle)) {
        if (d.port !== 67) continue;
        const m = parseDhcpMessage(d.data);
        if (typeof m === 'string') {
          this.counters.badMessages++;
          continue;
        }
        this.onMessage(m);
      }
    });
    this.init();
  }

  /** Resolves with the current lease, or the next one. */
  waitForLease(timeoutMs = 30_000): Promise<DhcpLease> {
    if (this.lease && (this.state === 'BOUND' || this.state === 'RENEWING' || this.state === 'REBINDING')) {
      return Promise.resolve(this.lease);
    }
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (l: DhcpLease) => {
          clearTimeout(t);
          resolve(l);
        },
        reject: (e: Error) => {
          clearTimeout(t);
          reject(e);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(Object.assign(new Error(`no DHCP lease within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /**
   * Releases the lease (RELEASE to the server, §4.4.6), removes the address and stops.
   * The address stays for `graceMs` so the unicast RELEASE can leave (it may need ARP).
   */
  async stop(graceMs = 100): Promise<void> {
    if (this.state === 'STOPPED') return;
    const lease = this.lease;
    const bound = this.state === 'BOUND' || this.state === 'RENEWING' || this.state === 'REBINDING';
    this.clearTimers();
    this.state = 'STOPPED';
    for (const w of this.waiters) w.reject(new Error('DHCP client stopped'));
    this.waiters = [];
    if (lease && bound) {
      this.counters.releases++;
      this.newXid();
      const opts = new Map<number, Uint8Array>([
        [DhcpOption.MessageType, Uint8Array.of(DhcpMessageType.Release)],
        [DhcpOption.ServerId, optAddr(lease.server)],
        [DhcpOption.ClientId, this.clientId()],
      ]);
      this.send(this.message(lease.address, opts, false), lease.server);
      if (graceMs > 0) await new Promise((r) => setTimeout(r, graceMs));
      this.uninstall(lease);
      this.lease = undefined;
    }
    this.o.host.unwatch(this.handle);
    this.o.host.udpClose(this.handle);
  }

  // --- states -----------------------------------------------------------------------

  private init(): void {
    this.clearTimers();
    this.state = 'SELECTING';
    this.offer = undefined;
    this.newXid();
    this.startedAt = this.o.host.now();
    this.tries = 0;
    this.sendDiscover();
  }

  private sendDiscover(): void {
    if (this.state !== 'SELECTING') return;
    this.counters.discovers++;
    const opts = this.baseOptions(DhcpMessageType.Discover);
    if (this.lease) opts.set(DhcpOption.RequestedAddress, optAddr(this.lease.address));
    this.send(this.message(ZERO, opts, true), BROADCAST);
    this.scheduleRetransmit(() => this.sendDiscover());
  }

  private sendRequest(): void {
    if (this.state !== 'REQUESTING' || !this.offer) return;
    this.counters.requests++;
    const opts = this.baseOptions(DhcpMessageType.Request);
    opts.set(DhcpOption.RequestedAddress, optAddr(this.offer.address));
    opts.set(DhcpOption.ServerId, optAddr(this.offer.server));
    this.send(this.message(ZERO, opts, true), BROADCAST);
    this.scheduleRetransmit(() => {
      // §4.4.1: after the retries on a REQUEST, go back to INIT.
      if (this.tries > 4) this.init();
      else this.sendRequest();
    });
  }

  /** RENEWING/REBINDING REQUEST: ciaddr set, no server id / requested address (§4.3.2). */
  private sendRenew(): void {
    const lease = this.lease;
    if (!lease || (this.state !== 'RENEWING' && this.state !== 'REBINDING')) return;
    this.counters.requests++;
    const opts = this.baseOptions(DhcpMessageType.Request);
    const rebinding = this.state === 'REBINDING';
    this.send(this.message(lease.address, opts, false), rebinding ? BROADCAST : lease.server);
    // §4.4.5: wait half the time remaining until T2 (RENEWING) or expiry (REBINDING).
    const deadline = lease.obtainedAt + (rebinding ? lease.leaseTime : lease.rebindingTime) * 1000;
    const wait = Math.max(1000, (deadline - this.o.host.now()) / 2);
    if (this.retransmit) clearTimeout(this.retransmit);
    this.retransmit = setTimeout(() => this.sendRenew(), wait);
  }

  private onMessage(m: DhcpMessage): void {
    if (m.op !== 2 || m.xid !== this.xid) return;
    if (!sameMac(m.chaddr, this.o.mac)) return;
    const type = m.options.get(DhcpOption.MessageType)?.[0];
    const serverId = readAddrs(m.options.get(DhcpOption.ServerId))[0];
    if (type === DhcpMessageType.Offer && this.state === 'SELECTING') {
      if (!serverId || m.yiaddr.isUnspecified()) {
        this.counters.badMessages++;
        return;
      }
      this.counters.offers++;
      this.offer = { address: m.yiaddr, server: serverId };
      this.state = 'REQUESTING';
      this.tries = 0;
      this.sendRequest();
      return;
    }
    if (type === DhcpMessageType.Ack) {
      if (this.state === 'REQUESTING' || this.state === 'RENEWING' || this.state === 'REBINDING') {
        this.counters.acks++;
        this.bind(m, serverId);
      }
      return;
    }
    if (type === DhcpMessageType.Nak) {
      if (this.state === 'REQUESTING' || this.state === 'RENEWING' || this.state === 'REBINDING') {
        this.counters.naks++;
        if (this.lease) this.lose();
        this.init();
      }
    }
  }

  private bind(m: DhcpMessage, serverId: Ipv4Address | undefined): void {
    const o = m.options;
    const leaseTime = readU32(o.get(DhcpOption.LeaseTime)) ?? 3600;
    const infinite = leaseTime === 0xffffffff;
    const lt = infinite ? 0x7fffffff : leaseTime;
    // §4.4.5 defaults: T1 = 0.5 × lease, T2 = 0.875 × lease.
    const t1 = readU32(o.get(DhcpOption.RenewalTime)) ?? Math.floor(lt * 0.5);
    const t2 = readU32(o.get(DhcpOption.RebindingTime)) ?? Math.floor(lt * 0.875);
    const mask = readU32(o.get(DhcpOption.SubnetMask));
    const prefixLength = (mask !== undefined ? maskToPrefix(mask) : undefined) ?? classfulPrefix(m.yiaddr);
    const lease: DhcpLease = {
      address: m.yiaddr,
      prefixLength,
      router: readAddrs(o.get(DhcpOption.Router))[0],
      dnsServers: readAddrs(o.get(DhcpOption.DnsServers)),
      server: serverId ?? this.lease?.server ?? this.offer?.server ?? ZERO,
      leaseTime: lt,
      renewalTime: Math.min(t1, lt),
      rebindingTime: Math.min(Math.max(t2, t1), lt),
      obtainedAt: this.o.host.now(),
    };
    const old = this.lease;
    const sameAddress =
      old?.address.equals(lease.address) === true && old.prefixLength === lease.prefixLength;
    if (old && !sameAddress) this.uninstall(old);
    if (!sameAddress) this.install(lease);
    else if (!sameRouter(old!.router, lease.router)) {
      this.uninstallRoute(old!);
      this.installRoute(lease);
    }
    if (this.state === 'RENEWING') this.counters.renewals++;
    if (this.state === 'REBINDING') this.counters.rebinds++;
    this.lease = lease;
    this.state = 'BOUND';
    this.clearTimers();
    if (!infinite) {
      this.timer = setTimeout(() => this.enterRenewing(), lease.renewalTime * 1000);
    }
    this.o.onLease?.(lease);
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.resolve(lease);
  }

  private enterRenewing(): void {
    const lease = this.lease!;
    this.state = 'RENEWING';
    this.newXid();
    this.startedAt = this.o.host.now();
    const elapsed = this.o.host.now() - lease.obtainedAt;
    this.timer = setTimeout(() => this.enterRebinding(), Math.max(0, lease.rebindingTime * 1000 - elapsed));
    this.sendRenew();
  }

  private enterRebinding(): void {
    const lease = this.lease!;
    this.state = 'REBINDING';
    this.newXid();
    const elapsed = this.o.host.now() - lease.obtainedAt;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.counters.expiries++;
        this.lose();
        this.init();
      },
      Math.max(0, lease.leaseTime * 1000 - elapsed),
    );
    this.sendRenew();
  }

  /** The lease ended without renewal: stop using the address (§4.4.5). */
  private lose(): void {
    const lease = this.lease;
    if (!lease) return;
    this.uninstall(lease);
    this.lease = undefined;
    this.o.onLeaseLost?.(lease);
  }

  private install(lease: DhcpLease): void {
    this.o.stack.addAddress(this.o.iface, `${lease.address}/${lease.prefixLength}`, 'dhcp');
    this.installRoute(lease);
    this.o.host.kick();
  }

  private installRoute(lease: DhcpLease): void {
    if (lease.router) {
      this.o.stack.addRoute({
        destination: '0.0.0.0/0',
        gateway: lease.router.toString(),
        iface: this.o.iface,
      });
    }
  }

  private uninstallRoute(lease: DhcpLease): void {
    if (lease.router) {
      try {
        this.o.stack.removeRoute('0.0.0.0/0');
      } catch {
        // already gone
      }
    }
  }

  private uninstall(lease: DhcpLease): void {
    this.uninstallRoute(lease);
    try {
      this.o.stack.removeAddress(this.o.iface, lease.address.toString());
    } catch {
      // already gone
    }
    this.o.host.kick();
  }

  // --- helpers ------------------------------------------------------------------------

  private scheduleRetransmit(fn: () => void): void {
    if (this.retransmit) clearTimeout(this.retransmit);
    const base = this.o.initialTimeoutMs ?? 4000;
    const r = new Uint8Array(1);
    this.random(r);
    // §4.1: doubling timeout up to 64 s, randomized by ±1 s.
    const delay = Math.min(64_000, base * 2 ** this.tries) + ((r[0]! / 255) * 2000 - 1000);
    this.tries++;
    this.retransmit = setTimeout(fn, Math.max(200, delay));
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.retransmit) clearTimeout(this.retransmit);
    this.timer = undefined;
    this.retransmit = undefined;
  }

  private newXid(): void {
    const b = new Uint8Array(4);
    this.random(b);
    this.xid = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  private clientId(): Uint8Array {
    const id = new Uint8Array(7);
    id[0] = 1;
    id.set(this.o.mac.subarray(0, 6), 1);
    return id;
  }

  private baseOptions(type: number): Map<number, Uint8Array> {
    const opts = new Map<number, Uint8Array>([
      [DhcpOption.MessageType, Uint8Array.of(type)],
      [DhcpOption.ClientId, this.clientId()],
      [DhcpOption.MaxMessageSize, Uint8Array.of(0x05, 0xdc)],
      [
        DhcpOption.ParameterRequestList,
        Uint8Array.of(
          DhcpOption.SubnetMask,
          DhcpOption.Router,
          DhcpOption.DnsServers,
          DhcpOption.DomainName,
          DhcpOption.LeaseTime,
          DhcpOption.RenewalTime,
          DhcpOption.RebindingTime,
        ),
      ],
    ]);
    if (this.o.hostname)
      opts.set(DhcpOption.HostName, new TextEncoder().encode(this.o.hostname.slice(0, 63)));
    return opts;
  }

  private message(ciaddr: Ipv4Address, options: Map<number, Uint8Array>, broadcast: boolean): DhcpMessage {
    const chaddr = new Uint8Array(16);
    chaddr.set(this.o.mac.subarray(0, 6));
    const secs = Math.min(0xffff, Math.floor((this.o.host.now() - this.startedAt) / 1000));
    return {
      op: 1,
      xid: this.xid,
      secs,
      broadcast,
      ciaddr,
      yiaddr: ZERO,
      siaddr: ZERO,
      giaddr: ZERO,
      chaddr,
      options,
    };
  }

  private send(m: DhcpMessage, to: Ipv4Address): void {
    this.o.host.udpSend(this.handle, encodeDhcp(m), to, 67);
  }
}

function sameMac(chaddr: Uint8Array, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (chaddr[i] !== mac[i]) return false;
  return true;
}

function sameRouter(a: Ipv4Address | undefined, b: Ipv4Address | undefined): boolean {
  return a === undefined ? b === undefined : a.equals(b);
}

function classfulPrefix(a: Ipv4Address): number {
  const top = a.value >>> 24;
  return top < 128 ? 8 : top < 192 ? 16 : 24;
}
