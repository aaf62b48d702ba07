/**
 * A device on a real UDP socket (node:dgram), with its timers on setTimeout: what the
 * daemon and the interop tests run. Endpoint host names are resolved once, at start.
 * Without a `host` the socket is dual-stack (`::`, IPv4 peers seen as ::ffff:a.b.c.d and
 * reported without that prefix), so peers may have IPv4 or IPv6 endpoints; where IPv6 is
 * off it falls back to 0.0.0.0. `rebind()` moves the device to a new socket (a new source
 * address or port) keeping its sessions: the peer follows it (roaming) on the next
 * authenticated packet.
 */
import { type LookupOneOptions, lookup as dnsLookup } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { type Socket, createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { InterfaceConfig } from './config.js';
import type { Limits } from './constants.js';
import { type Clock, type DeviceOptions, WireGuardDevice, systemClock } from './device.js';

export interface UdpWireGuardOptions {
  config: InterfaceConfig;
  onPacket: DeviceOptions['onPacket'];
  /**
   * Address to bind; default `::` (dual-stack: IPv4 and IPv6 peers), or 0.0.0.0 where IPv6
   * is off. An IPv4 address takes IPv4 peers only. Port: config.listenPort, or ephemeral.
   */
  host?: string;
  clock?: Clock;
  limits?: Partial<Limits>;
  underLoadThreshold?: number;
}

async function bindSocket(port: number, host: string): Promise<Socket> {
  const socket = createSocket({
    type: isIP(host) === 6 ? 'udp6' : 'udp4',
    ipv6Only: false,
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
    lookup: literalLookup,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

/** No host given: dual-stack `::`, else (IPv6 off here) 0.0.0.0. */
async function bindDefault(port: number): Promise<Socket> {
  try {
    return await bindSocket(port, '::');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw e;
    return bindSocket(port, '0.0.0.0');
  }
}

/**
 * dgram's address lookup: IP literals (every endpoint, they are resolved at start) are
 * answered at once, so `send()` reaches the kernel before it returns instead of one
 * process.nextTick later (dns.lookup defers even a literal).
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family === 0) dnsLookup(hostname, options, callback);
  else callback(null, hostname, family);
}

/** An IPv4 sender on a dual-stack socket (::ffff:a.b.c.d) as a.b.c.d. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export class UdpWireGuard {
  readonly device: WireGuardDevice;
  #socket!: Socket;
  /** The socket is IPv6 (dual-stack unless bound to a specific IPv6 address). */
  #v6 = false;
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  #closed = false;
  readonly #clock: Clock;

  private constructor(o: UdpWireGuardOptions, clock: Clock) {
    this.#clock = clock;
    this.device = new WireGuardDevice({
      privateKey: o.config.privateKey,
      clock,
      mtu: o.config.mtu ?? 1420,
      limits: o.limits,
      underLoadThreshold: o.underLoadThreshold,
      onPacket: o.onPacket,
      bind: {
        send: (d, to) => {
          // An IPv4 peer from a dual-stack socket goes to its mapped address.
          const address = this.#v6 && isIP(to.address) === 4 ? `::ffff:${to.address}` : to.address;
          this.#socket.send(d, to.port, address);
        },
      },
    });
  }

  get socket(): Socket {
    return this.#socket;
  }

  get port(): number {
    return this.#socket.address().port;
  }

  static async open(o: UdpWireGuardOptions): Promise<UdpWireGuard> {
    const c = o.config;
    const socket =
      o.host === undefined || o.host === '::'
        ? await bindDefault(c.listenPort ?? 0)
        : await bindSocket(c.listenPort ?? 0, o.host);
    const v6 = socket.address().family === 'IPv6';
    const peers = [];
    try {
      for (const p of c.peers) {
        let endpoint: { address: string; port: number } | undefined;
        if (p.endpoint) {
          const host = p.endpoint.host;
          let address: string;
          if (isIP(host) !== 0) address = host;
          else {
            try {
              address = (await lookup(host, { family: v6 ? 0 : 4 })).address;
            } catch (e) {
              throw new Error(`Endpoint: cannot resolve '${host}': ${(e as Error).message}`);
            }
          }
          address = unmapped(address);
          if (isIP(address) === 6 && !v6)
            throw new Error(
              `Endpoint: ${host} is IPv6 but the socket is bound to IPv4 ${socket.address().address} (bind :: or an IPv6 address)`,
            );
          if (isIP(address) === 4 && v6 && socket.address().address !== '::')
            throw new Error(
              `Endpoint: ${host} is IPv4 but the socket is bound to IPv6 ${socket.address().address} (bind :: or an IPv4 address)`,
            );
          endpoint = { address, port: p.endpoint.port };
        }
        peers.push({ ...p, endpoint });
      }
    } catch (e) {
      socket.close();
      throw e;
    }
    const node = new UdpWireGuard(o, o.clock ?? systemClock);
    node.#attach(socket);
    for (const p of peers) {
      node.device.addPeer({
        publicKey: p.publicKey,
        presharedKey: p.presharedKey,
        allowedIps: p.allowedIps,
        endpoint: p.endpoint,
        persistentKeepalive: p.persistentKeepalive,
      });
    }
    node.schedule();
    return node;
  }

  #attach(socket: Socket): void {
    this.#socket = socket;
    this.#v6 = socket.address().family === 'IPv6';
    const v6 = this.#v6;
    socket.on('message', (msg, rinfo) => {
      if (socket !== this.#socket) return;
      this.device.receive(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), {
        address: v6 ? unmapped(rinfo.address) : rinfo.address,
        port: rinfo.port,
      });
      this.schedule();
    });
    socket.on('error', () => {});
  }

  /** Move to a new UDP socket (roaming); sessions and peers stay. Host as in open(). */
  async rebind(port = 0, host?: string): Promise<void> {
    const old = this.#socket;
    this.#attach(
      host === undefined || host === '::' ? await bindDefault(port) : await bindSocket(port, host),
    );
    old.close();
  }

  /** Send an IP packet into the tunnel. */
  send(packet: Uint8Array): boolean {
    const ok = this.device.send(packet);
    this.schedule();
    return ok;
  }

  /** Re-arm the timer for the device's next deadline. */
  schedule(): void {
    if (this.#closed) return;
    const at = this.device.pollAt();
    if (at === this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === undefined) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = undefined;
        this.device.poll();
        this.schedule();
      },
      Math.max(0, at - this.#clock.now()),
    );
    this.#timer.unref();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#socket.close();
    this.device.destroy();
  }
}
