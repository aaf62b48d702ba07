/**
 * Opens the links a config names (tap-io): TAP devices, VXLAN-over-UDP tunnels, and
 * ports on in-process memory switches (tests), each optionally wrapped in a pcap
 * recorder — or, with `ioThread`, a spec from which the driver opens the link on a
 * frame I/O worker thread. MACs that the config leaves out are derived, locally
 * administered.
 */
import { createHash } from 'node:crypto';
import { constants, openSync, readFileSync, closeSync } from 'node:fs';
import { type Link, MemorySwitch, openTap, openVxlan, parseMac, withPcap } from '@tapstack/tap-io';
import { ConfigError as WgConfigError, WireGuardLink, formatPrefix, parseConfig } from '@tapstack/wireguard';
import { ConfigError, type LinkConfig } from './config.js';

/** In-process switches by name: daemons in one process that name the same switch share a segment. */
const switches = new Map<string, MemorySwitch>();

export function memorySwitch(name: string): MemorySwitch {
  let s = switches.get(name);
  if (!s) {
    s = new MemorySwitch();
    switches.set(name, s);
  }
  return s;
}

let macCounter = 0;

/** A locally administered unicast MAC (02:...) derived from the daemon, link and process. */
export function deriveMac(daemon: string, link: string): string {
  const h = createHash('sha256').update(`${daemon}/${link}/${process.pid}/${macCounter++}`).digest();
  const b = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** How the driver's I/O worker opens a link on its own thread (stack-driver `WorkerLinkSpec`). */
export interface WorkerLinkSpec {
  module: string;
  export: string;
  args?: unknown[];
}

export interface OpenedLink {
  config: LinkConfig;
  /** The stack's MAC on this link (on TAP, the kernel side keeps the device's own). */
  mac: string;
  /** The link, opened on this thread; absent when `worker` opens it on an I/O thread. */
  link?: Link;
  worker?: WorkerLinkSpec;
  /** For VXLAN on this thread: the bound UDP endpoint. */
  udp?: { address: string; port: number };
  /** The pcap file being written, if any. */
  pcap?: string;
  /** For WireGuard: the link (its device has the peers, their handshakes and counters). */
  wireguard?: WireGuardLink;
}

/** The inline form (YAML/JSON) as a wg file, parsed by the same parser; errors name the field. */
export function inlineWireGuardConfig(
  w: NonNullable<Extract<LinkConfig, { type: 'wireguard' }>['wireguard']>,
  where: string,
) {
  const lines = ['[Interface]', `PrivateKey = ${w.privateKey}`];
  if (w.listenPort !== undefined) lines.push(`ListenPort = ${w.listenPort}`);
  for (const p of w.peers) {
    lines.push('[Peer]', `PublicKey = ${p.publicKey}`);
    if (p.presharedKey !== undefined) lines.push(`PresharedKey = ${p.presharedKey}`);
    if (p.allowedIps.length) lines.push(`AllowedIPs = ${p.allowedIps.join(', ')}`);
    if (p.endpoint !== undefined) lines.push(`Endpoint = ${p.endpoint}`);
    if (p.persistentKeepalive !== undefined) lines.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  if (lines.some((l) => l.includes('\n')))
    throw new ConfigError('', [{ path: `${where}.wireguard`, message: 'values cannot contain newlines' }]);
  try {
    return parseConfig(lines.join('\n'));
  } catch (e) {
    if (e instanceof WgConfigError)
      throw new ConfigError('', [
        { path: `${where}.wireguard`, message: e.message.replace(/^line \d+: /, '') },
      ]);
    throw e;
  }
}

/** Reads and parses a WireGuard config file; errors name the link, the line and the field. */
export function readWireGuardConfig(file: string, where: string) {
  let text: string;
  try {
    // No symlinks: the file holds a private key.
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new ConfigError(file, [
      { path: `${where}.config`, message: `cannot read: ${(e as Error).message}` },
    ]);
  }
  try {
    return parseConfig(text);
  } catch (e) {
    if (e instanceof WgConfigError)
      throw new ConfigError(file, [{ path: `${where}.config`, message: e.message }]);
    throw e;
  }
}

export async function openLink(
  daemon: string,
  linkConfig: LinkConfig,
  pcapDefault: string | undefined,
  /** The stack runs on a worker thread: only describe how to open the link there. */
  onWorker = false,
  /** A write error stopped the pcap capture (the link goes on; SIGHUP starts a new file). */
  onPcapError?: (file: string, e: Error) => void,
): Promise<OpenedLink> {
  let cfg = linkConfig;
  const mac = cfg.mac ?? deriveMac(daemon, cfg.name);
  if ((cfg.type === 'tap' || cfg.type === 'vxlan') && (cfg.ioThread || onWorker)) {
    // Opened on a worker: the driver's frame I/O thread (joined to the stack by rings),
    // or the stack thread itself.
    const args =
      cfg.type === 'tap'
        ? [
            {
              name: cfg.name,
              mtu: cfg.mtu,
              offload: cfg.offload,
              rxMode: cfg.rxMode,
              ...(cfg.txQueueLen !== undefined ? { txQueueLen: cfg.txQueueLen } : {}),
            },
          ]
        : [
            {
              name: cfg.name,
              mac,
              vni: cfg.vni,
              mtu: cfg.mtu,
              address: cfg.localAddress,
              port: cfg.localPort,
              peers: cfg.peers.map((p) => ({ address: p.host, port: p.port })),
              learn: cfg.learn,
              maxLearnedMacs: cfg.maxLearnedMacs,
              macAgeMs: cfg.macAgeMs,
              maxLearnedEndpoints: cfg.maxLearnedEndpoints,
            },
          ];
    return {
      config: cfg,
      mac,
      worker: { module: '@tapstack/tap-io', export: cfg.type === 'tap' ? 'openTap' : 'openVxlan', args },
    };
  }
  if (cfg.type === 'wireguard' && onWorker) {
    // Opened on the stack thread: the file is read and checked here (errors name the field),
    // the link is opened there from the parsed config (keys travel as bytes, not as text).
    const wgc = cfg.config
      ? readWireGuardConfig(cfg.config, `links[${cfg.name}]`)
      : inlineWireGuardConfig(cfg.wireguard!, `links[${cfg.name}]`);
    const config = { ...wgc, ...(cfg.mtu ? { mtu: cfg.mtu } : {}) };
    if (cfg.addresses.length === 0) cfg = { ...cfg, addresses: wgc.addresses.map(formatPrefix) };
    if (cfg.mtu === undefined) cfg = { ...cfg, mtu: config.mtu ?? 1420 };
    return {
      config: cfg,
      mac,
      worker: {
        // The stack thread imports it from stack-driver, which does not depend on it: a URL.
        module: import.meta.resolve('@tapstack/wireguard'),
        export: 'openWireGuardLink',
        args: [{ config, mac: parseMac(mac), name: cfg.name, host: cfg.localAddress }],
      },
    };
  }
  let link: Link;
  let udp: { address: string; port: number } | undefined;
  let wireguard: WireGuardLink | undefined;
  switch (cfg.type) {
    case 'wireguard': {
      const wgc = cfg.config
        ? readWireGuardConfig(cfg.config, `links[${cfg.name}]`)
        : inlineWireGuardConfig(cfg.wireguard!, `links[${cfg.name}]`);
      wireguard = await WireGuardLink.open({
        config: { ...wgc, ...(cfg.mtu ? { mtu: cfg.mtu } : {}) },
        mac: parseMac(mac),
        name: cfg.name,
        host: cfg.localAddress,
      });
      udp = wireguard.address();
      link = wireguard;
      // The file's Address and MTU apply unless the daemon config gives its own.
      if (cfg.addresses.length === 0) cfg = { ...cfg, addresses: wgc.addresses.map(formatPrefix) };
      if (cfg.mtu === undefined) cfg = { ...cfg, mtu: wireguard.mtu };
      break;
    }
    case 'memory':
      link = memorySwitch(cfg.switch).createPort({ name: cfg.name, mac, mtu: cfg.mtu });
      break;
    case 'vxlan': {
      const v = await openVxlan({
        name: cfg.name,
        mac,
        vni: cfg.vni,
        mtu: cfg.mtu,
        address: cfg.localAddress,
        port: cfg.localPort,
        peers: cfg.peers.map((p) => ({ address: p.host, port: p.port })),
        learn: cfg.learn,
        maxLearnedMacs: cfg.maxLearnedMacs,
        macAgeMs: cfg.macAgeMs,
        maxLearnedEndpoints: cfg.maxLearnedEndpoints,
      });
      udp = v.address();
      link = v;
      break;
    }
    case 'tap':
      // The device's MAC is the kernel side's; the driver gives the stack `mac`.
      link = openTap({
        name: cfg.name,
        mtu: cfg.mtu,
        offload: cfg.offload,
        rxMode: cfg.rxMode,
        ...(cfg.txQueueLen !== undefined ? { txQueueLen: cfg.txQueueLen } : {}),
      });
      break;
  }
  // On a WireGuard link (bare IP packets) the pcap file is LINKTYPE_RAW.
  const pcapFile = cfg.pcap ?? pcapDefault?.replaceAll('%l', cfg.name);
  if (pcapFile) link = withPcap(link, pcapFile, { onError: (e) => onPcapError?.(pcapFile, e) });
  return {
    link,
    config: cfg,
    mac,
    ...(udp ? { udp } : {}),
    ...(pcapFile ? { pcap: pcapFile } : {}),
    ...(wireguard ? { wireguard } : {}),
  };
}
