/**
 * A device on a real UDP socket (node:dgram, IPv4), with its timers on setTimeout: what the
 * daemon and the interop tests run. Endpoint host names are resolved once, at start.
 * `rebind()` moves the device to a new socket (a new source address or port) keeping its
 * sessions: the peer follows it (roaming) on the next authenticated packet.
 */
import { lookup } from 'node:dns/promises';
import { type Socket, createSocket } from 'node:dgram';
import type { InterfaceConfig } from './config.js';
import type { Limits } from './constants.js';
import { type Clock, type DeviceOptions, WireGuardDevice, systemClock } from './device.js';

export interface UdpWireGuardOptions {
  config: InterfaceConfig;
  onPacket: DeviceOptions['onPacket'];
  /** Address to bind; default 0.0.0.0. Port: config.listenPort, or ephemeral. */
  host?: string;
  clock?: Clock;
  limits?: Partial<Limits>;
  underLoadThreshold?: number;
}

async function bindSocket(port: number, host: string): Promise<Socket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

export class UdpWireGuard {
  readonly device: WireGuardDevice;
  #socket!: Socket;
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
          this.#socket.send(d, to.port, to.address);
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
    const peers = [];
    for (const p of c.peers) {
      let endpoint: { address: string; port: number } | undefined;
      if (p.endpoint) {
        let address: string;
        try {
          address = (await lookup(p.endpoint.host, { family: 4 })).address;
        } catch (e) {
          throw new Error(`Endpoint: cannot resolve '${p.endpoint.host}': ${(e as Error).message}`);
        }
        endpoint = { address, port: p.endpoint.port };
      }
      peers.push({ ...p, endpoint });
    }
    const node = new UdpWireGuard(o, o.clock ?? systemClock);
    node.#attach(await bindSocket(c.listenPort ?? 0, o.host ?? '0.0.0.0'));
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
    socket.on('message', (msg, rinfo) => {
      if (socket !== this.#socket) return;
      this.device.receive(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), {
        address: rinfo.address,
        port: rinfo.port,
      });
      this.schedule();
    });
    socket.on('error', () => {});
  }

  /** Move to a new UDP socket (roaming); sessions and peers stay. */
  async rebind(port = 0, host = '0.0.0.0'): Promise<void> {
    const old = this.#socket;
    this.#attach(await bindSocket(port, host));
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
