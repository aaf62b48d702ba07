/**
 * A device on a real UDP socket (node:dgram, IPv4), with its timers on setTimeout: what the
 * daemon and the interop tests run. Endpoint host names are resolved once, at start.
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

export class UdpWireGuard {
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  #closed = false;

  private constructor(
    readonly device: WireGuardDevice,
    readonly socket: Socket,
    readonly port: number,
    private readonly clock: Clock,
  ) {}

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
    const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(c.listenPort ?? 0, o.host ?? '0.0.0.0', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const clock = o.clock ?? systemClock;
    let self: UdpWireGuard | undefined;
    const device = new WireGuardDevice({
      privateKey: c.privateKey,
      clock,
      mtu: c.mtu ?? 1420,
      limits: o.limits,
      underLoadThreshold: o.underLoadThreshold,
      onPacket: o.onPacket,
      bind: {
        send: (d, to) => {
          socket.send(d, to.port, to.address);
          self?.schedule();
        },
      },
    });
    self = new UdpWireGuard(device, socket, socket.address().port, clock);
    const node = self;
    socket.on('message', (msg, rinfo) => {
      device.receive(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), {
        address: rinfo.address,
        port: rinfo.port,
      });
      node.schedule();
    });
    socket.on('error', () => {});
    for (const p of peers) {
      device.addPeer({
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
      Math.max(0, at - this.clock.now()),
    );
    this.#timer.unref();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.socket.close();
    this.device.destroy();
  }
}
