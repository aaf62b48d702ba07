/**
 * A device on a real UDP socket, with its timers on setTimeout: what the daemon and the
 * interop tests run. On Linux with tap-io's addon the socket is tap-io's BatchUdpSocket:
 * datagrams are read with recvmmsg(2) in bursts on the event loop and a turn's sends go
 * out with one sendmmsg(2); elsewhere (or `native: false`, or TAPSTACK_WG_NATIVE=0) it
 * is node:dgram, one system call per datagram. Endpoint host names are resolved once, at start.
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
import { type BatchUdpSocket, openBatchUdp, SendHealth } from '@tapstack/tap-io';
import type { InterfaceConfig } from './config.js';
import type { Limits } from './constants.js';
import { type Clock, type DeviceOptions, type Endpoint, WireGuardDevice, systemClock } from './device.js';
import type { AeadBackend } from './transport-aead.js';

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
  /**
   * Datagram I/O: undefined (default) = tap-io's batched socket where its addon is built,
   * else node:dgram (TAPSTACK_WG_NATIVE=0 in the environment makes the default dgram);
   * false = node:dgram; true = the batched socket or an error.
   */
  native?: boolean;
  underLoadThreshold?: number;
  /** Transport AEAD backend (WireGuardDevice `aead`). */
  aead?: AeadBackend;
  /** After each burst of received datagrams has been handled (its packets given to onPacket). */
  onBurstEnd?: () => void;
}

/** The UDP socket under a device: node:dgram or tap-io's batched socket. */
interface Io {
  readonly backend: 'native' | 'dgram';
  readonly family: 'IPv4' | 'IPv6';
  address(): { address: string; port: number };
  send(d: Uint8Array, address: string, port: number): void;
  /** Send errors, the last one's errno, and whether sends keep finding no path (tap-io SendHealth). */
  health(): UdpSocketHealth;
  close(): void;
  stats(): UdpIoStats;
}

/** What the UDP socket under a device lost: counted, never thrown. */
export interface UdpIoStats {
  /** Datagrams the kernel refused to send (or, on dgram, socket errors). */
  txErrors: number;
  /** Batched socket: datagrams to a new destination while its table was full. */
  txNoSlot: number;
  /** Batched socket: datagrams its receive ring could not hold. */
  rxDropped: number;
}

/** How the device's UDP socket is doing (a link's `down`, as a deleted TAP device's). */
export interface UdpSocketHealth {
  /** Datagrams the kernel refused. */
  txErrors: number;
  /** errno of the last refused datagram, 0 before one. */
  txLastErrno: number;
  /** 1 after sends in a row failed for lack of a path (no route, the bound address gone), until one gets out. */
  down: number;
}

type OnDatagram = (d: Uint8Array, address: string, port: number) => void;

/** Where a socket's datagrams go: one at a time (dgram), or collected per burst (batched). */
interface Sink {
  datagram: OnDatagram;
  /** After a recvmmsg burst, while its datagrams are still valid (batched socket only). */
  burstEnd: () => void;
}

async function bindDgram(port: number, host: string, sink: Sink): Promise<Io> {
  const socket: Socket = createSocket({
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
  // node:dgram emits one 'message' per datagram: a turn's datagrams (each its own Buffer)
  // are collected and handled as one burst at setImmediate, as the batched socket's are.
  let burstQueued = false;
  const endBurst = () => {
    burstQueued = false;
    sink.burstEnd();
  };
  socket.on('message', (msg, rinfo) => {
    sink.datagram(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), rinfo.address, rinfo.port);
    if (!burstQueued) {
      burstQueued = true;
      setImmediate(endBurst);
    }
  });
  let errors = 0;
  socket.on('error', () => {
    errors++;
  });
  const a = socket.address();
  const health = new SendHealth();
  // Sends have a callback, so their errors come here, not as 'error' events.
  const onSent = (err: Error | null) => {
    if (!err) health.sent();
    else {
      errors++;
      health.failedWith(err);
    }
  };
  return {
    backend: 'dgram',
    family: a.family === 'IPv6' ? 'IPv6' : 'IPv4',
    address: () => ({ address: a.address, port: a.port }),
    send: (d, address, p) => socket.send(d, p, address, onSent),
    health: () => ({ txErrors: errors, txLastErrno: health.lastErrno, down: health.down }),
    close: () => socket.close(),
    stats: () => ({ txErrors: errors, txNoSlot: 0, rxDropped: 0 }),
  };
}

function bindNative(port: number, host: string, sink: Sink): Io | undefined {
  let s: BatchUdpSocket | undefined;
  try {
    s = openBatchUdp({
      address: host,
      port,
      // The ring's records are reused after the burst: keep a copy of handshake messages
      // (transport messages are opened into a new buffer at the burst's end).
      onDatagram: (d, address, p) => sink.datagram(d[0] === 4 ? d : d.slice(), address, p),
      onBurstEnd: sink.burstEnd,
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw Object.assign(new Error(err.message), { code: err.code });
  }
  if (!s) return undefined;
  const sock = s;
  const a = sock.address();
  return {
    backend: 'native',
    family: a.family,
    address: () => ({ address: a.address, port: a.port }),
    send: (d, address, p) => {
      sock.send(d, address, p);
    },
    health: () => {
      const st = sock.stats();
      return { txErrors: st.txErrors, txLastErrno: st.txLastErrno, down: st.down };
    },
    close: () => sock.close(),
    stats: () => {
      const st = sock.stats();
      return { txErrors: st.txErrors, txNoSlot: st.txNoSlot, rxDropped: st.rxDropped };
    },
  };
}

async function bindSocket(port: number, host: string, native: boolean | undefined, on: Sink): Promise<Io> {
  if (native !== false && isIP(host) !== 0) {
    const io = bindNative(port, host, on);
    if (io) return io;
    if (native === true)
      throw Object.assign(new Error('native: true, but the tap-io addon is not available here'), {
        code: 'ENOTSUP',
      });
  }
  return bindDgram(port, host, on);
}

/** No host given: dual-stack `::`, else (IPv6 off here) 0.0.0.0. */
async function bindDefault(port: number, native: boolean | undefined, on: Sink): Promise<Io> {
  try {
    return await bindSocket(port, '::', native, on);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw e;
    return bindSocket(port, '0.0.0.0', native, on);
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
  #io!: Io;
  /** The socket is IPv6 (dual-stack unless bound to a specific IPv6 address). */
  #v6 = false;
  readonly #native: boolean | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  #closed = false;
  readonly #clock: Clock;
  readonly #onBurstEnd: (() => void) | undefined;

  private constructor(o: UdpWireGuardOptions, clock: Clock) {
    const self = this;
    this.#clock = clock;
    this.#onBurstEnd = o.onBurstEnd;
    this.#native = o.native ?? (process.env.TAPSTACK_WG_NATIVE === '0' ? false : undefined);
    this.device = new WireGuardDevice({
      privateKey: o.config.privateKey,
      clock,
      mtu: o.config.mtu ?? 1420,
      limits: o.limits,
      underLoadThreshold: o.underLoadThreshold,
      aead: o.aead,
      onPacket: o.onPacket,
      bind: {
        send: (d, to) => {
          // An IPv4 peer from a dual-stack socket goes to its mapped address.
          this.#io.send(d, this.#v6 ? this.#mapped(to.address) : to.address, to.port);
        },
        // The batched socket copies each datagram into its stage; node:dgram keeps it.
        get copies() {
          return self.#io?.backend === 'native';
        },
      },
    });
  }

  #lastV4 = '';
  #lastMapped = '';
  /** An IPv4 address as ::ffff:a.b.c.d for a dual-stack socket (the last one cached). */
  #mapped(address: string): string {
    if (address === this.#lastV4) return this.#lastMapped;
    if (isIP(address) !== 4) return address;
    this.#lastV4 = address;
    this.#lastMapped = `::ffff:${address}`;
    return this.#lastMapped;
  }

  /** What the UDP socket lost (send errors, full tables, a full receive ring). */
  ioStats(): UdpIoStats {
    return this.#io.stats();
  }

  /** The bound local address and port. */
  address(): { address: string; port: number } {
    return this.#io.address();
  }

  get port(): number {
    return this.#io.address().port;
  }

  /** Which datagram I/O is in use: tap-io's batched socket, or node:dgram. */
  get backend(): 'native' | 'dgram' {
    return this.#io.backend;
  }

  static async open(o: UdpWireGuardOptions): Promise<UdpWireGuard> {
    const c = o.config;
    const node = new UdpWireGuard(o, o.clock ?? systemClock);
    const socket = await node.#bind(c.listenPort ?? 0, o.host);
    const v6 = socket.family === 'IPv6';
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

  // A burst's datagrams and senders, handed to the device together at its end.
  readonly #rxData: Uint8Array[] = [];
  readonly #rxFrom: Endpoint[] = [];
  #rxCount = 0;
  #rxLast: Endpoint = { address: '', port: -1 };
  #rxLastRaw = '';

  /** Binds a socket whose datagrams go to the device while it is the current one. */
  async #bind(port: number, host: string | undefined): Promise<Io> {
    let io: Io | undefined;
    const on: Sink = {
      datagram: (d, address, p) => {
        if (io !== this.#io || this.#closed) return;
        // Most datagrams come from the last sender: one endpoint object for them (the device copies).
        let from = this.#rxLast;
        if (address !== this.#rxLastRaw || p !== from.port) {
          from = { address: this.#v6 ? unmapped(address) : address, port: p };
          this.#rxLast = from;
          this.#rxLastRaw = address;
        }
        this.#rxData[this.#rxCount] = d;
        this.#rxFrom[this.#rxCount++] = from;
      },
      burstEnd: () => {
        const n = this.#rxCount;
        if (n === 0) return;
        this.#rxCount = 0;
        if (io !== this.#io || this.#closed) return;
        this.device.receiveMany(this.#rxData, this.#rxFrom, n);
        this.#onBurstEnd?.();
        this.schedule();
      },
    };
    io =
      host === undefined || host === '::'
        ? await bindDefault(port, this.#native, on)
        : await bindSocket(port, host, this.#native, on);
    return io;
  }

  #attach(io: Io): void {
    this.#io = io;
    this.#v6 = io.family === 'IPv6';
  }

  /** The current socket's send health (a new socket after rebind() starts afresh). */
  socketHealth(): UdpSocketHealth {
    return this.#io.health();
  }

  /** Move to a new UDP socket (roaming); sessions and peers stay. Host as in open(). */
  async rebind(port = 0, host?: string): Promise<void> {
    const old = this.#io;
    this.#attach(await this.#bind(port, host));
    old.close();
  }

  #flushQueued = false;
  readonly #flushNow = () => {
    this.#flushQueued = false;
    if (this.#closed) return;
    this.device.flush();
    this.schedule();
  };

  /**
   * Send an IP packet into the tunnel. The bytes are taken now; the packets of one turn are
   * sealed together (one AEAD call per session key) and sent at its end, before the socket's
   * own end-of-turn sendmmsg.
   */
  send(packet: Uint8Array): boolean {
    const ok = this.device.sendDeferred(packet);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushNow);
    }
    return ok;
  }

  /**
   * Send a TCP super-segment cut into parts of gsoSize payload bytes
   * (WireGuardDevice.sendSegmented), sealed with the turn's other sends; returns the parts taken.
   */
  sendSegmented(packet: Uint8Array, gsoSize: number): number {
    const ok = this.device.sendSegmented(packet, gsoSize);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushNow);
    }
    return ok;
  }

  /** Send IP packets, sealed in batches (see WireGuardDevice.sendMany). */
  sendMany(packets: readonly Uint8Array[], accepted?: Uint8Array): number {
    const n = this.device.sendMany(packets, accepted);
    this.schedule();
    return n;
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
    this.device.flush();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#io.close();
    this.device.destroy();
  }
}
