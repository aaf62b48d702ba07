/**
 * Opens the links a config names (tap-io): TAP devices, VXLAN-over-UDP tunnels, and
 * ports on in-process memory switches (tests), each optionally wrapped in a pcap
 * recorder. MACs that the config leaves out are derived, locally administered.
 */
import { createHash } from 'node:crypto';
import {
  type Link,
  MemorySwitch,
  openTap,
  openVxlan,
  parseMac,
  WrappedLink,
  withPcap,
} from '@tapstack/tap-io';
import type { LinkConfig } from './config.js';

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

/**
 * On a TAP device the kernel owns the device's MAC; the stack behind it needs its own
 * (two hosts on one Ethernet segment). This wrapper gives the inner link another MAC.
 */
class OwnMacLink extends WrappedLink {
  private readonly ownMac: Uint8Array;
  constructor(inner: Link, mac: Uint8Array) {
    super(inner);
    this.ownMac = mac;
  }
  override get mac(): Uint8Array {
    return this.ownMac;
  }
  send(frame: Uint8Array): boolean {
    return this.inner.send(frame);
  }
  protected receive(frames: readonly Uint8Array[]): void {
    this.deliver(frames);
  }
}

export interface OpenedLink {
  link: Link;
  config: LinkConfig;
  /** For VXLAN: the bound UDP endpoint. */
  udp?: { address: string; port: number };
  /** The pcap file being written, if any. */
  pcap?: string;
}

export async function openLink(
  daemon: string,
  cfg: LinkConfig,
  pcapDefault: string | undefined,
): Promise<OpenedLink> {
  const mac = cfg.mac ?? deriveMac(daemon, cfg.name);
  let link: Link;
  let udp: { address: string; port: number } | undefined;
  switch (cfg.type) {
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
      });
      udp = v.address();
      link = v;
      break;
    }
    case 'tap': {
      const t = openTap({ name: cfg.name, mtu: cfg.mtu });
      link = new OwnMacLink(t, parseMac(mac));
      break;
    }
  }
  const pcapFile = cfg.pcap ?? pcapDefault?.replaceAll('%l', cfg.name);
  if (pcapFile) link = withPcap(link, pcapFile);
  return { link, config: cfg, ...(udp ? { udp } : {}), ...(pcapFile ? { pcap: pcapFile } : {}) };
}
