/**
 * A v86 network adapter: an in-browser PC emulator's NIC (v86's `net0-send` /
 * `net0-receive` bus events) joins a tapstack daemon's segment over the WebSocket link,
 * so a Linux VM in the page sits on the same network as the page's own stack.
 *
 *   new V86({ ..., network_adapter: (bus) => new V86NetworkAdapter(url, bus) })
 *
 * The server gives every client one MAC and drops frames from any other (anti-
 * spoofing), while the emulated NIC has a MAC of its own. The adapter translates between
 * the two, as v86's own `mac_address_translation` does: outgoing, the Ethernet source,
 * the ARP sender and NDP source/target link-layer options (ICMPv6 checksum updated
 * incrementally); incoming, the Ethernet destination and the ARP target. The guest uses
 * the addresses of `adapter.hello` (static configuration: the daemon has no DHCP server).
 */
import { ETHERNET_HEADER_LEN, EtherType, IPV6_HEADER_LEN, updateChecksum } from '@tapstack/stack-core';
import { type Hello, type WebSocketConstructor, WebSocketLink } from '@tapstack/ws-link';

/** The part of v86's bus the adapter uses. */
export interface V86Bus {
  register(name: string, fn: (data: Uint8Array) => void, thisValue?: unknown): void;
  send(name: string, data: unknown): void;
}

export interface V86NetworkAdapterOptions {
  WebSocket?: WebSocketConstructor;
  /** v86 NIC index: events `net<id>-send` / `net<id>-receive`. Default 0. */
  id?: number;
  /** Frames the guest sends before the link is up, kept up to this many. Default 64. */
  queueFrames?: number;
  /** Called once the link is up (or failed). */
  onReady?: (hello: Hello | undefined, error?: Error) => void;
}

const ETH = ETHERNET_HEADER_LEN;
/** Ethernet/IPv4 ARP (RFC 826): 28 bytes; sender and target hardware addresses at 8 and 18. */
const ARP_LEN = 28;
const ARP_SHA = 8;
const ARP_THA = 18;
/** IPv6 header fields (RFC 8200 §3): payload length, next header. */
const IPV6_PAYLOAD_LEN = 4;
const IPV6_NEXT_HEADER = 6;
const IPPROTO_ICMPV6 = 58;

function sameMac(b: Uint8Array, off: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (b[off + i] !== mac[i]) return false;
  return true;
}

/**
 * Outgoing (guest -> segment): guest MAC -> assigned MAC in the Ethernet source, the ARP
 * sender hardware address and NDP link-layer address options. Edits `f` in place.
 */
export function translateOutgoing(f: Uint8Array, guest: Uint8Array, assigned: Uint8Array): void {
  if (f.length < ETH) return;
  if (sameMac(f, 6, guest)) f.set(assigned, 6);
  const type = (f[12]! << 8) | f[13]!;
  if (type === EtherType.Arp && f.length >= ETH + ARP_LEN && sameMac(f, ETH + ARP_SHA, guest))
    f.set(assigned, ETH + ARP_SHA);
  if (
    type === EtherType.Ipv6 &&
    f.length >= ETH + IPV6_HEADER_LEN + 4 &&
    f[ETH + IPV6_NEXT_HEADER] === IPPROTO_ICMPV6
  ) {
    const icmp = ETH + IPV6_HEADER_LEN;
    const t = f[icmp]!;
    // RS 133 (8-byte body), RA 134 (16), NS 135 (24), NA 136 (24), redirect 137 (40).
    const fixed = t === 133 ? 8 : t === 134 ? 16 : t === 135 || t === 136 ? 24 : t === 137 ? 40 : -1;
    if (fixed < 0) return;
    const end = Math.min(
      f.length,
      icmp + ((f[ETH + IPV6_PAYLOAD_LEN]! << 8) | f[ETH + IPV6_PAYLOAD_LEN + 1]!),
    );
    let o = icmp + fixed;
    let sum = (f[icmp + 2]! << 8) | f[icmp + 3]!;
    while (o + 8 <= end) {
      const len = f[o + 1]! * 8;
      if (len === 0) break;
      if ((f[o] === 1 || f[o] === 2) && len === 8 && sameMac(f, o + 2, guest)) {
        for (let w = 0; w < 6; w += 2)
          sum = updateChecksum(
            sum,
            (f[o + 2 + w]! << 8) | f[o + 3 + w]!,
            (assigned[w]! << 8) | assigned[w + 1]!,
          );
        f.set(assigned, o + 2);
      }
      o += len;
    }
    f[icmp + 2] = sum >> 8;
    f[icmp + 3] = sum & 0xff;
  }
}

/** Incoming (segment -> guest): assigned MAC -> guest MAC in the Ethernet destination and ARP target. */
export function translateIncoming(f: Uint8Array, guest: Uint8Array, assigned: Uint8Array): void {
  if (f.length < ETH) return;
  if (sameMac(f, 0, assigned)) f.set(guest, 0);
  const type = (f[12]! << 8) | f[13]!;
  if (type === EtherType.Arp && f.length >= ETH + ARP_LEN && sameMac(f, ETH + ARP_THA, assigned))
    f.set(guest, ETH + ARP_THA);
}

export class V86NetworkAdapter {
  private link: WebSocketLink | undefined;
  private guest: Uint8Array | undefined;
  private queue: Uint8Array[] = [];
  private readonly limit: number;
  private readonly bus: V86Bus;
  private readonly id: number;
  private destroyed = false;
  /** Frames dropped: queue full before the link was up, or the link closed. */
  dropped = 0;

  constructor(url: string, bus: V86Bus, options: V86NetworkAdapterOptions = {}) {
    this.bus = bus;
    this.id = options.id ?? 0;
    this.limit = options.queueFrames ?? 64;
    bus.register(`net${this.id}-send`, (data) => this.send(data), this);
    WebSocketLink.connect(url, options.WebSocket ? { WebSocket: options.WebSocket } : {}).then(
      (link) => {
        if (this.destroyed) {
          void link.close();
          return;
        }
        this.link = link;
        link.onFrames((frames) => {
          for (const fr of frames) {
            const copy = fr.slice();
            if (this.guest) translateIncoming(copy, this.guest, link.mac);
            this.bus.send(`net${this.id}-receive`, copy);
          }
        });
        const q = this.queue;
        this.queue = [];
        for (const f of q) this.send(f);
        options.onReady?.(link.hello);
      },
      (e: Error) => options.onReady?.(undefined, e),
    );
  }

  /** The server's hello (the guest's addresses), once connected. */
  get hello(): Hello | undefined {
    return this.link?.hello;
  }

  /** A frame from the guest's NIC. */
  send(data: Uint8Array): void {
    if (data.length < ETH || this.destroyed) return;
    // The guest's MAC: the source of its first frame (v86 picks it at random).
    this.guest ??= data.slice(6, 12);
    if (!this.link) {
      if (this.queue.length < this.limit) this.queue.push(data.slice());
      else this.dropped++;
      return;
    }
    const f = data.slice();
    translateOutgoing(f, this.guest, this.link.mac);
    if (!this.link.send(f)) this.dropped++;
  }

  destroy(): void {
    this.destroyed = true;
    void this.link?.close();
  }
}
