/**
 * Opens the links a config names (tap-io): TAP devices, VXLAN-over-UDP tunnels, and
 * ports on in-process memory switches (tests), each optionally wrapped in a pcap
 * recorder — or, with `ioThread`, a spec from which the driver opens the link on a
 * frame I/O worker thread. MACs that the config leaves out are derived, locally
 * administered.
 */
import { createHash } from 'node:crypto';
import { type Link, MemorySwitch, openTap, openVxlan, withPcap } from '@tapstack/tap-io';
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
}

export async function openLink(
  daemon: string,
  cfg: LinkConfig,
  pcapDefault: string | undefined,
  /** The stack runs on a worker thread: only describe how to open the link there. */
  onWorker = false,
): Promise<OpenedLink> {
  const mac = cfg.mac ?? deriveMac(daemon, cfg.name);
  if (cfg.type !== 'memory' && (cfg.ioThread || onWorker)) {
    // Opened on a worker: the driver's frame I/O thread (joined to the stack by rings),
    // or the stack thread itself.
    const args =
      cfg.type === 'tap'
        ? [{ name: cfg.name, mtu: cfg.mtu }]
        : [
            {
              name: cfg.name,
              mac,
              vni: cfg.vni,
              mtu: cfg.mtu,
              address: cfg.localAddress,
              port: cfg.localPort,
              peers: cfg.peers.map((p) => ({ address: p.host, port: p.port })),
            },
          ];
    return {
      config: cfg,
      mac,
      worker: { module: '@tapstack/tap-io', export: cfg.type === 'tap' ? 'openTap' : 'openVxlan', args },
    };
  }
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
    case 'tap':
      // The device's MAC is the kernel side's; the driver gives the stack `mac`.
      link = openTap({ name: cfg.name, mtu: cfg.mtu });
      break;
  }
  const pcapFile = cfg.pcap ?? pcapDefault?.replaceAll('%l', cfg.name);
  if (pcapFile) link = withPcap(link, pcapFile);
  return { link, config: cfg, mac, ...(udp ? { udp } : {}), ...(pcapFile ? { pcap: pcapFile } : {}) };
}
