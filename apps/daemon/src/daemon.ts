/**
 * `Daemon`: one running tapstack node. start() opens the links, builds the stack
 * driver, then the fronts (AF_UNIX bridge, SOCKS5, port forwards, built-in services)
 * and the metrics endpoint; stop() drains: it stops taking new connections, waits up
 * to `shutdown.drainTimeoutMs` for the open ones to finish, closes what is left (the
 * clients see a reset, never a hang), then closes the stack and the links.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import {
  BridgeServer,
  createDgram,
  createNet,
  defaultBridgePath,
  ensurePrivateDir,
  Socks5Server,
} from '@tapstack/socket-bridge';
import { type SocketHost, StackDriver, StackThread } from '@tapstack/stack-driver';
import { type DaemonConfig, isLoopback, type LinkConfig, linkSchema } from './config.js';
import type { WireGuardLinkStatus } from '@tapstack/wireguard';
import { type RunningForward, startHostToVirtual, startVirtualToHost } from './forwards.js';
import {
  type RunningUdpForward,
  type UdpForwardStats,
  startUdpHostToVirtual,
  startUdpVirtualToHost,
} from './udp-forwards.js';
import { deriveMac, memorySwitch, openLink, type OpenedLink } from './links.js';
import { WebSocketLinkServer, type WebSocketLinkServerStats } from '@tapstack/ws-link/server';
import { createLogger, type Logger, reopenLog } from './log.js';
import { claimSocketPath, createMetrics, type MetricsServer, serveMetrics } from './metrics.js';
import { type RunningService, startServices, type VirtualDgram, type VirtualNet } from './services.js';
import { type SessionKind, SessionTable } from './sessions.js';
import type { Registry } from 'prom-client';

/** What the daemon needs from a running stack, whichever thread it runs on. */
export interface StackNode {
  sockets: SocketHost;
  /** One flat snapshot (StackDriver.stats() keys). */
  stats(): Record<string, number>;
  addresses(iface: number): { address: unknown; prefixLength: number }[];
  /** A link's own status() when it lives on the stack thread (WireGuard: its peers). */
  linkStatus?(index: number): unknown;
  close(): Promise<void>;
}

export interface DaemonOptions {
  /** A logger to use instead of one built from config.log (tests). */
  logger?: Logger;
}

export interface DaemonInfo {
  name: string;
  bridge: string | undefined;
  socks: string | undefined;
  metrics: string | undefined;
  links: { name: string; type: string; mac: string; mtu?: number; udp?: string; addresses: string[] }[];
  forwards: { description: string; listen: string }[];
  services: { name: string; port: number }[];
  /** The WebSocket link's URL (without the token), when it is on. */
  websocket?: string;
}

export interface WireGuardStatus {
  publicKey: string;
  listenPort: number;
  /** Transport data AEAD: 'openssl' (tap-io's batched addon) or 'node' (node:crypto fallback). */
  aead: 'openssl' | 'node';
  peers: {
    publicKey: string;
    endpoint: string | undefined;
    allowedIps: string[];
    /** Unix seconds of the latest handshake; 0 = none yet. */
    latestHandshake: number;
    rxBytes: number;
    txBytes: number;
    persistentKeepalive: number;
  }[];
}

export interface DaemonStatus {
  name: string;
  pid: number;
  uptimeSeconds: number;
  draining: boolean;
  bridge: string | undefined;
  socks: string | undefined;
  metrics: string | undefined;
  links: (DaemonInfo['links'][number] & {
    peers: string[];
    counters: Record<string, number>;
    /** WireGuard links: like `wg show`. */
    wireguard?: WireGuardStatus;
  })[];
  sessions: { open: Record<SessionKind, number>; accepted: { forward: number; service: number } };
  forwards: DaemonInfo['forwards'];
  /** Per UDP forward: flows open, opened, expired, refused (table full), datagrams. */
  udpFlows: Record<string, UdpForwardStats>;
  services: DaemonInfo['services'];
  /** The WebSocket link: its URL (without the token), counters and clients. */
  websocket?: {
    url: string;
    counters: WebSocketLinkServerStats;
    clients: { id: number; mac: string; addresses: string[]; remote: string }[];
  };
  stack: Record<string, number>;
}

export class Daemon {
  readonly config: DaemonConfig;
  readonly log: Logger;
  readonly sessions = new SessionTable();
  readonly registry: Registry;
  /** The running stack: a StackDriver on this thread, or a StackThread. */
  node: StackNode | undefined;
  private links: OpenedLink[] = [];
  private bridge: BridgeServer | undefined;
  private socks: Socks5Server | undefined;
  private socksAddress: string | undefined;
  private forwards: RunningForward[] = [];
  private udpForwards: RunningUdpForward[] = [];
  private services: RunningService[] = [];
  private metricsServer: MetricsServer | undefined;
  private websocket: WebSocketLinkServer | undefined;
  /** The in-process switch of the WebSocket segment (its name is unique to this daemon). */
  private websocketSwitch: string | undefined;
  private stopping: Promise<void> | undefined;
  private draining = false;
  private listenersClosing: Promise<void>[] | undefined;
  private snap: { at: number; stats: Record<string, number> } | undefined;
  /** Links seen down (logged once each). */
  private readonly linksDown = new Set<string>();
  private healthTimer: NodeJS.Timeout | undefined;

  private constructor(config: DaemonConfig, options: DaemonOptions) {
    this.config = config;
    this.log =
      options.logger ??
      createLogger({
        level: config.log.level,
        json: config.log.json,
        name: config.name,
        ...(config.log.file ? { file: config.log.file } : {}),
      });
    this.registry = createMetrics({
      daemon: config.name,
      open: () => this.openSessions(),
      totals: (k) => this.sessions.total(k),
      bytes: (k) => this.sessions.bytesOf(k),
      stack: () => this.stackStats(),
      driver: () => this.prefixed('driver.'),
      links: () => this.linkStats(),
      bridge: () =>
        this.bridge
          ? {
              sessions: this.bridge.sessions,
              openHandles: this.bridge.openHandles,
              rejected: this.bridge.rejected,
            }
          : undefined,
      socks: () =>
        this.socks
          ? {
              sessions: this.socks.sessions,
              openHandles: this.socks.openHandles,
              refused: this.socks.refused,
              refusedPerClient: this.socks.refusedPerClient,
              udpForeignDropped: this.socks.udpForeignDropped,
              udpDestRefused: this.socks.udpDestRefused,
              udpSendFailed: this.socks.udpSendFailed,
            }
          : undefined,
      websocket: () => (this.websocket ? { ...this.websocket.stats() } : undefined),
      draining: () => this.draining,
      udpForwards: () => {
        const out: Record<string, number> = {};
        for (const f of this.udpForwards)
          for (const [k, v] of Object.entries(f.stats())) out[k] = (out[k] ?? 0) + v;
        return this.udpForwards.length ? out : undefined;
      },
    });
  }

  /** Starts a daemon; on any failure, what was already opened is closed again. */
  static async start(config: DaemonConfig, options: DaemonOptions = {}): Promise<Daemon> {
    const d = new Daemon(config, options);
    try {
      await d.open();
    } catch (e) {
      await d.close().catch(() => {});
      throw e;
    }
    return d;
  }

  private async open(): Promise<void> {
    const c = this.config;
    const multi = c.links.length + (c.websocket.enabled ? 1 : 0) > 1;
    const linkConfigs: LinkConfig[] = [...c.links];
    let wsIpLink: LinkConfig | undefined;
    if (c.websocket.enabled) {
      // The stack's interface on the WebSocket segment: a port on a switch of its own,
      // where every client connection gets another port.
      this.websocketSwitch = `websocket:${c.name}:${process.pid}:${++websocketSegments}`;
      const wsLink = linkSchema.parse({
        type: 'memory',
        name: c.websocket.name,
        switch: this.websocketSwitch,
        addresses: c.websocket.addresses,
        mtu: c.websocket.mtu,
      });
      // Ethernet: a port on that switch. IP: the server's own IP-medium link (added below).
      if (c.websocket.medium === 'ethernet') linkConfigs.push(wsLink);
      else wsIpLink = wsLink;
      const w = c.websocket;
      if (!isLoopback(w.listen.host))
        this.log.warn(
          { listen: w.listen.host },
          w.token
            ? 'the WebSocket link listens beyond loopback: its frames and token travel unencrypted (ws://)'
            : 'the WebSocket link listens beyond loopback without a token: anyone who reaches it joins the network',
        );
      const sw = memorySwitch(this.websocketSwitch!);
      // Listening before the stack is up is harmless: a client's frames wait on its port.
      this.websocket = await WebSocketLinkServer.listen({
        host: w.listen.host,
        port: w.listen.port,
        ...(w.medium === 'ip'
          ? { medium: 'ip' as const, name: w.name }
          : { createPort: (o) => sw.createPort(o) }),
        addresses: w.addresses,
        mtu: w.mtu,
        maxClients: w.maxClients,
        rateBytesPerSecond: w.rateBytesPerSecond,
        rateFramesPerSecond: w.rateFramesPerSecond,
        ...(w.token !== undefined ? { token: w.token } : {}),
        ...(w.origins ? { origins: w.origins } : {}),
        log: (level, msg, fields) => this.log[level](fields, msg),
      });
      this.log.info(
        { listen: this.websocketUrl(), link: w.name, medium: w.medium, token: w.token !== undefined },
        'WebSocket link listening',
      );
    }
    for (const lc of linkConfigs) {
      let pcap = c.pcap;
      if (pcap && multi && !pcap.includes('%l')) pcap = pcap.replace(/(\.pcap)?$/, '.%l$1');
      const opened = await openLink(c.name, lc, pcap, c.stackThread, (file, e) =>
        this.log.error(
          { link: lc.name, pcap: file, err: e },
          'pcap capture stopped: cannot write the file (SIGHUP starts a new one); the link goes on',
        ),
      );
      this.links.push(opened);
      if (lc.type === 'vxlan' && !isLoopback(lc.localAddress))
        this.log.warn(
          { link: lc.name, localAddress: lc.localAddress },
          'VXLAN is unencrypted and unauthenticated: anyone on the path can read and forge frames; use a WireGuard link between machines',
        );
      this.log.info(
        {
          link: lc.name,
          type: lc.type,
          // A VXLAN link without a configured MTU picks its own (larger on loopback).
          mtu: opened.link?.mtu ?? lc.mtu ?? 'link default',
          mac: opened.mac,
          ...(opened.worker ? { ioThread: true } : {}),
          ...(opened.udp ? { udp: `${opened.udp.address}:${opened.udp.port}` } : {}),
          ...(opened.pcap ? { pcap: opened.pcap } : {}),
          ...(opened.wireguard ? { aead: opened.wireguard.wg.device.aeadBackend } : {}),
        },
        opened.worker
          ? `link configured (opened on ${c.stackThread ? 'the stack' : 'an I/O'} thread)`
          : 'link up',
      );
    }
    if (wsIpLink && this.websocket) {
      const link = this.websocket.ipLink();
      this.links.push({ config: wsIpLink, mac: deriveMac(c.name, wsIpLink.name), link });
      this.log.info({ link: wsIpLink.name, type: 'websocket (ip)', mtu: link.mtu }, 'link up');
    }
    const addressing = (l: OpenedLink) => ({
      mac: l.mac,
      addresses: l.config.addresses,
      gateway: l.config.gateway,
      slaac: l.config.slaac,
      dhcp: l.config.dhcp ? { hostname: c.name } : false,
    });
    if (c.stackThread) {
      const t = await StackThread.start({
        links: this.links.map((l) => ({
          spec: l.worker!,
          ioThread: (l.config.type === 'tap' || l.config.type === 'vxlan') && l.config.ioThread,
          ...addressing(l),
        })),
        dns: { servers: c.dns },
        tcp: { msl: c.tcp.mslMs, maxTimeWait: c.tcp.maxTimeWait },
      });
      this.node = {
        sockets: t.sockets,
        stats: () => t.stats(),
        addresses: (i) => t.addresses(i),
        linkStatus: (i) => t.linkStatus(i),
        close: () => t.close(),
      };
      // A WireGuard link opened there binds its UDP socket there: ask it where.
      for (const [i, l] of this.links.entries()) {
        const st = l.config.type === 'wireguard' ? t.linkStatus<WireGuardLinkStatus>(i) : undefined;
        if (st) {
          l.udp = { address: st.address, port: st.listenPort };
          this.log.info(
            { link: l.config.name, udp: `${st.address}:${st.listenPort}`, aead: st.aead },
            'link up',
          );
        }
      }
    } else {
      const d = await StackDriver.create({
        links: this.links.map((l) => ({
          ...(l.link ? { link: l.link } : { worker: l.worker! }),
          ...addressing(l),
        })),
        dns: { servers: c.dns },
        tcp: { msl: c.tcp.mslMs, maxTimeWait: c.tcp.maxTimeWait },
      });
      this.node = {
        sockets: d.sockets,
        stats: () => d.stats(),
        addresses: (i) => d.stack.addresses(i),
        close: () => d.close(),
      };
    }
    for (const [i, l] of this.links.entries()) {
      for (const a of l.config.addresses)
        this.log.info({ link: l.config.name, address: a, iface: i }, 'address');
    }
    const host = this.node.sockets;
    const net = createNet(host) as unknown as VirtualNet;
    if (c.bridge.enabled) {
      // The default path's directory is made private (0700) here; a directory there
      // that another user made is refused rather than used.
      if (c.bridge.path === defaultBridgePath()) ensurePrivateDir(dirname(c.bridge.path));
      await claimSocketPath(c.bridge.path);
      this.bridge = new BridgeServer(host, { path: c.bridge.path, maxSessions: this.fdShare(10_000, 2) });
      this.bridge.on('error', (e: Error) => this.log.error({ err: e }, 'bridge error'));
      await this.bridge.listen();
      this.log.info({ path: c.bridge.path }, 'bridge listening');
    }
    if (c.socks.enabled) {
      this.socks = new Socks5Server(host, {
        // A UDP ASSOCIATE holds two descriptors.
        maxSessions: this.fdShare(c.socks.maxSessions, 4),
        maxSessionsPerClient: c.socks.maxSessionsPerClient,
      });
      this.socks.on('error', (e: Error) => this.log.error({ err: e }, 'socks error'));
      const a = await this.socks.listen(c.socks.listen.port, c.socks.listen.host);
      this.socksAddress = a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
      this.log.info({ listen: this.socksAddress }, 'SOCKS5 listening');
    }
    for (const fw of c.forwards.hostToVirtual) {
      const f = await startHostToVirtual(host, fw, { log: this.log, sessions: this.sessions });
      this.forwards.push(f);
      this.log.info({ forward: f.description }, 'forward listening');
    }
    for (const fw of c.forwards.virtualToHost) {
      const f = await startVirtualToHost(host, fw, { log: this.log, sessions: this.sessions });
      this.forwards.push(f);
      this.log.info({ forward: f.description }, 'forward listening');
    }
    const vdgram = createDgram(host) as unknown as VirtualDgram;
    const udpOpts = {
      log: this.log,
      sessions: this.sessions,
      idleTimeoutMs: c.forwards.udpIdleTimeoutMs,
      maxFlows: c.forwards.udpMaxFlows,
    };
    for (const fw of c.forwards.udpHostToVirtual) {
      const f = await startUdpHostToVirtual(vdgram, fw, udpOpts);
      this.udpForwards.push(f);
      this.log.info({ forward: f.description }, 'forward listening');
    }
    for (const fw of c.forwards.udpVirtualToHost) {
      const f = await startUdpVirtualToHost(vdgram, fw, udpOpts);
      this.udpForwards.push(f);
      this.log.info({ forward: f.description }, 'forward listening');
    }
    this.services = await startServices(net, vdgram, c.services, {
      name: c.name,
      log: this.log,
      sessions: this.sessions,
    });
    for (const s of this.services) this.log.info({ service: s.name, port: s.port }, 'service listening');
    if (c.metrics.listen) {
      this.metricsServer = await serveMetrics(
        this.registry,
        c.metrics.listen,
        () => {
          this.snap = undefined;
        },
        () => this.status(),
        () => this.health(),
      );
      this.log.info({ listen: this.metricsServer.address }, 'metrics listening');
    }
    // A link that fails (TAP device deleted) is logged once, even with nobody scraping.
    this.healthTimer = setInterval(() => this.health(), 1000);
    this.healthTimer.unref();
  }

  /**
   * Links that failed (a TAP device deleted under us: its reads and writes fail; a VXLAN
   * or WireGuard socket whose sends find no path: no route, its address gone), each
   * logged once when it fails (and once when a UDP link's sends get out again);
   * `/healthz` answers 503 while any is down.
   */
  health(): { ok: boolean; problems: string[] } {
    const problems: string[] = [];
    for (const [name, st] of Object.entries(this.linkStats())) {
      if (!st.down) {
        if (this.linksDown.delete(name)) this.log.warn({ link: name }, 'link up again');
        continue;
      }
      const errno = st.rxLastErrno || st.txLastErrno || 0;
      const why = errnoName(errno);
      problems.push(`link ${name} is down${why ? ` (${why})` : ''}`);
      if (!this.linksDown.has(name)) {
        this.linksDown.add(name);
        this.log.error({ link: name, errno: why }, 'link failed: its device or socket is gone or unusable');
      }
    }
    return { ok: problems.length === 0, problems };
  }

  /**
   * `wanted` sessions, but at most 1/`part` of the descriptors the open-file limit
   * leaves after FD_RESERVE (links, log, metrics, forwards): each front that holds a
   * descriptor per session is capped by its share, so no front can exhaust the limit.
   */
  private fdShare(wanted: number, part: number): number {
    const limit = openFileLimit();
    if (limit === undefined) return wanted;
    return Math.max(1, Math.min(wanted, Math.floor((limit - FD_RESERVE) / part)));
  }

  /**
   * The driver's one flat snapshot, split for the metrics: stack counters have no
   * prefix; `driver.`, `link.<name>.`, `dns.` and `dhcp.<i>.` name the other parts.
   */
  private snapshot(): Record<string, number> {
    // One scrape reads it several times (stack, driver, links): take it once per scrape
    // (serveMetrics drops it before each). With the stack on a worker thread every read
    // is a round trip.
    const now = Date.now();
    if (!this.snap || now - this.snap.at > 1000) this.snap = { at: now, stats: this.node?.stats() ?? {} };
    return this.snap.stats;
  }

  private prefixed(prefix: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.snapshot()))
      if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
    return out;
  }

  private stackStats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.snapshot())) {
      if (!/^(driver|link|dhcp)\./.test(k)) out[k] = v;
    }
    return out;
  }

  /** `{ wireguard }` for a WireGuard link, on this thread or on the stack thread; else {}. */
  private wireguardStatus(i: number): { wireguard?: WireGuardStatus } {
    const l = this.links[i];
    if (l?.config.type !== 'wireguard') return {};
    const st = l.wireguard
      ? l.wireguard.status()
      : (this.node?.linkStatus?.(i) as WireGuardLinkStatus | undefined);
    return st ? { wireguard: wireguardStatus(st) } : {};
  }

  private linkStats(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const l of this.links) out[l.config.name] = this.prefixed(`link.${l.config.name}.`);
    return out;
  }

  /**
   * SIGHUP: opens the log file and every pcap file again, so that logrotate (or `mv`)
   * can move them away and the daemon goes on writing to new files at the same paths.
   */
  reopen(): void {
    const logFile = reopenLog(this.log);
    const pcaps: string[] = [];
    for (const l of this.links) {
      const r = (l.link as { reopen?: () => void } | undefined)?.reopen;
      if (l.pcap && r) {
        try {
          r.call(l.link);
          pcaps.push(l.pcap);
        } catch (e) {
          this.log.error({ err: e, pcap: l.pcap }, 'cannot reopen the pcap file');
        }
      }
    }
    this.log.info(
      { logFile: logFile ? this.config.log.file : undefined, pcap: pcaps },
      'reopened log and pcap files',
    );
  }

  /** The pcap files being written (one per captured link). */
  pcapFiles(): string[] {
    return this.links.flatMap((l) => (l.pcap ? [l.pcap] : []));
  }

  /** The WebSocket link's URL, without the token. */
  private websocketUrl(): string | undefined {
    return this.websocket?.url().replace(/\?.*$/, '');
  }

  /** Open sessions by kind: bridge and SOCKS5 from their servers, the rest from the table. */
  openSessions(): Record<SessionKind, number> {
    return {
      bridge: this.bridge?.sessions ?? 0,
      socks: this.socks?.sessions ?? 0,
      forward: this.sessions.count('forward'),
      service: this.sessions.count('service'),
    };
  }

  private totalOpen(): number {
    const o = this.openSessions();
    return o.bridge + o.socks + o.forward + o.service;
  }

  info(): DaemonInfo {
    return {
      name: this.config.name,
      bridge: this.bridge ? this.config.bridge.path : undefined,
      socks: this.socksAddress,
      metrics: this.metricsServer?.address,
      links: this.links.map((l, i) => ({
        name: l.config.name,
        // The WebSocket segment's interface is a memory-switch port (or the server's IP link).
        type:
          l.config.type === 'memory' && l.config.switch === this.websocketSwitch
            ? 'websocket'
            : l.config.type,
        mac: l.mac,
        // Unknown here when a worker opened the link with its default MTU.
        ...(l.link ? { mtu: l.link.mtu } : l.config.mtu ? { mtu: l.config.mtu } : {}),
        ...(l.udp ? { udp: `${l.udp.address}:${l.udp.port}` } : {}),
        addresses: this.node
          ? this.node.addresses(i).map((a) => `${String(a.address)}/${a.prefixLength}`)
          : [],
      })),
      forwards: [...this.forwards, ...this.udpForwards].map((f) => ({
        description: f.description,
        listen: f.listening.host.includes(':')
          ? `[${f.listening.host}]:${f.listening.port}`
          : `${f.listening.host}:${f.listening.port}`,
      })),
      services: this.services.map((s) => ({ name: s.name, port: s.port })),
      ...(this.websocket ? { websocket: this.websocketUrl()! } : {}),
    };
  }

  /**
   * What `tapstackd status` shows (GET /status on the metrics endpoint): info() plus,
   * per link, its VXLAN peers and main counters; sessions open and accepted; the stack's
   * TCP/UDP levels and a few counters.
   */
  status(): DaemonStatus {
    const info = this.info();
    const stack = this.stackStats();
    const pick = (o: Record<string, number>, keys: string[]) =>
      Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]!]));
    const linkKeys = [
      'rxFrames',
      'rxBytes',
      'txFrames',
      'txBytes',
      'rxDropped',
      'txDropped',
      'txErrors',
      'down',
    ];
    const links = this.linkStats();
    return {
      name: info.name,
      pid: process.pid,
      uptimeSeconds: Math.round(process.uptime()),
      draining: this.draining,
      bridge: info.bridge,
      socks: info.socks,
      metrics: info.metrics,
      links: info.links.map((l, i) => {
        const lc = this.links[i]!.config;
        return {
          ...l,
          peers: lc.type === 'vxlan' ? lc.peers.map((p) => `${p.host}:${p.port}`) : [],
          counters: pick(links[l.name] ?? {}, linkKeys),
          ...this.wireguardStatus(i),
        };
      }),
      sessions: {
        open: this.openSessions(),
        accepted: { forward: this.sessions.total('forward'), service: this.sessions.total('service') },
      },
      forwards: info.forwards,
      udpFlows: Object.fromEntries(this.udpForwards.map((f) => [f.description, f.stats()])),
      services: info.services,
      ...(this.websocket
        ? {
            websocket: {
              url: this.websocketUrl()!,
              counters: this.websocket.stats(),
              clients: this.websocket
                .clientList()
                .map((x) => ({ id: x.id, mac: x.mac, addresses: x.addresses, remote: x.remote })),
            },
          }
        : {}),
      stack: pick(stack, [
        'tcp.connections',
        'tcp.handles',
        'udp.sockets',
        'arp.entries',
        'ndp.entries',
        'tcp.segmentsSent',
        'tcp.segmentsReceived',
        'tcp.retransmits',
        'stack.rxDropped',
      ]),
    };
  }

  /**
   * Graceful stop: no new connections, wait up to the drain timeout for the open ones,
   * then close everything. Safe to call more than once (returns the same promise).
   */
  stop(drainTimeoutMs = this.config.shutdown.drainTimeoutMs): Promise<void> {
    this.stopping ??= this.drainAndClose(drainTimeoutMs);
    return this.stopping;
  }

  private async drainAndClose(timeoutMs: number): Promise<void> {
    this.draining = true;
    const open = this.totalOpen();
    this.log.info({ open, drainTimeoutMs: timeoutMs }, 'stopping: no new connections, draining');
    // New bridge clients connect by path: removing it refuses them (ENOENT) while the
    // sessions already open keep running.
    if (this.bridge && existsSync(this.config.bridge.path)) {
      try {
        unlinkSync(this.config.bridge.path);
      } catch {
        /* already gone */
      }
    }
    // Listeners stop accepting now; their close promises settle only once their
    // connections have ended, which is what the drain below waits for (bounded).
    this.listenersClosing = [...this.forwards.map((f) => f.close()), ...this.services.map((s) => s.close())];
    if (open > 0 && timeoutMs > 0) {
      const deadline = Date.now() + timeoutMs;
      while (this.totalOpen() > 0 && Date.now() < deadline) await sleep(Math.min(50, deadline - Date.now()));
    }
    const left = this.totalOpen();
    if (left > 0) this.log.warn({ open: left }, 'drain timeout: closing the remaining connections');
    await this.close();
    this.log.info('stopped');
  }

  /** Closes everything at once (connections are reset). */
  private async close(): Promise<void> {
    clearInterval(this.healthTimer);
    this.sessions.abortAll();
    await Promise.all(
      [this.bridge?.close(), this.socks?.close(), this.websocket?.close()].map((p) => settle(p)),
    );
    const closing = this.listenersClosing ?? [
      ...this.forwards.map((f) => f.close()),
      ...this.services.map((s) => s.close()),
    ];
    await Promise.all(closing.map((p) => settle(p, 500)));
    await Promise.all(this.udpForwards.map((f) => settle(f.close(), 500)));
    this.forwards = [];
    this.udpForwards = [];
    this.services = [];
    // Let the resets go out before the links close.
    await sleep(10);
    if (this.node) await settle(this.node.close());
    else await Promise.all(this.links.map((l) => settle(l.link?.close())));
    if (this.metricsServer) await settle(this.metricsServer.close());
  }
}

/** Numbers the WebSocket segments of the daemons in this process. */
let websocketSegments = 0;

/** Linux errnos that node:os does not list: a read of a TAP whose device was deleted gives EBADFD. */
const MORE_ERRNOS: Record<number, string> = { 77: 'EBADFD' };

/** "EIO" for 5 (Linux errno numbers from node:os, and MORE_ERRNOS). */
function errnoName(n: number): string | undefined {
  if (!n) return undefined;
  for (const [k, v] of Object.entries(osConstants.errno)) if (v === n) return k;
  return MORE_ERRNOS[n] ?? `errno ${n}`;
}

/** File descriptors kept out of the fronts' shares (links, log, pcap, metrics, forwards). */
const FD_RESERVE = 64;

/** The soft RLIMIT_NOFILE (Linux /proc), or undefined when it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits for `p` (errors ignored), but never longer than `ms`: a stuck close must not stop the shutdown. */
function settle(p: Promise<unknown> | undefined, ms = 2000): Promise<void> {
  if (!p) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    p.then(done, done);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** A WireGuard link's device as `wg show` would print it. */
function wireguardStatus(s: WireGuardLinkStatus): WireGuardStatus {
  return {
    publicKey: s.publicKey,
    listenPort: s.listenPort,
    aead: s.aead,
    peers: s.peers.map((p) => ({
      publicKey: p.publicKey,
      endpoint: p.endpoint
        ? `${p.endpoint.address.includes(':') ? `[${p.endpoint.address}]` : p.endpoint.address}:${p.endpoint.port}`
        : undefined,
      allowedIps: p.allowedIps,
      latestHandshake: Math.floor(p.latestHandshake / 1000),
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      persistentKeepalive: p.persistentKeepalive,
    })),
  };
}
