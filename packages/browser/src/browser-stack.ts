/**
 * `BrowserStack`: a stack-core `Stack` on a WebSocket link, driven from a page's event
 * loop (or a worker's). Frames go into `stack.receive` as the WebSocket delivers them;
 * `poll(now)` runs once per burst (a posted task, so a burst of messages is handled
 * before the poll) and again when `pollAt()` says so (one `setTimeout`). Web-standard JS
 * only: no `node:` imports, no Node globals.
 */
import {
  type Handle,
  type KeyedPrf,
  parseIpAddress,
  type SocketEventMask,
  Stack,
  type TcpConfig,
  type TcpSocketOptions,
} from '@tapstack/stack-core';
import { type WebSocketConstructor, WebSocketLink } from '@tapstack/ws-link';
import { sipHash24 } from './keyed-prf.js';
import { NetError } from './errors.js';
import { type FetchInit, type FetchResponse, httpFetch } from './http.js';
import { LINK_DOWN, TcpConnection, TcpListener } from './tcp.js';

export interface BrowserStackOptions {
  /** The WebSocket class (default: the global one; pass the `ws` package's in Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Static addresses ("192.0.2.10/24") instead of the ones the server's hello assigns. */
  addresses?: string[];
  /** Default gateway(s). */
  gateway?: string[];
  /** TCP tunables for the stack (buffer sizes, RTOs, MSL). */
  tcp?: Partial<TcpConfig>;
  /** Random source (default crypto.getRandomValues). */
  random?: (buf: Uint8Array) => void;
  /** Keyed PRF for ISNs, offsets and SYN cookies (default SipHash-2-4 from the siphash24 package). */
  keyedPrf?: KeyedPrf;
  /** Clock in ms (default performance.now). */
  now?: () => number;
  connectTimeoutMs?: number;
}

/** What the page's socket objects need from the driver. */
export interface SocketDriver {
  readonly stack: Stack;
  now(): number;
  /** Poll soon: after socket calls, so their segments go out. */
  kick(): void;
  register(h: Handle, onEvent: (ev: SocketEventMask) => void): void;
  unregister(h: Handle): void;
}

function defaultRandom(buf: Uint8Array): void {
  for (let o = 0; o < buf.length; o += 65536)
    crypto.getRandomValues(buf.subarray(o, Math.min(buf.length, o + 65536)));
}

export class BrowserStack implements SocketDriver {
  readonly stack: Stack;
  readonly link: WebSocketLink;
  readonly iface: number;
  /** The addresses configured ("198.51.100.2/24", ...). */
  readonly addresses: string[];
  private readonly clock: () => number;
  private readonly sockets = new Map<Handle, (ev: SocketEventMask) => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private kicked = false;
  private closed = false;
  private readonly channel: MessageChannel | undefined;
  private readonly counters = { polls: 0, receiveBatches: 0, timerWakeups: 0 };

  /** Joins the network behind `url` (a tapstackd `--websocket` endpoint). */
  static async connect(url: string, options: BrowserStackOptions = {}): Promise<BrowserStack> {
    const link = await WebSocketLink.connect(url, {
      ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
      ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    });
    return new BrowserStack(link, options);
  }

  constructor(link: WebSocketLink, options: BrowserStackOptions = {}) {
    this.link = link;
    this.clock = options.now ?? (() => performance.now());
    this.stack = new Stack({
      random: options.random ?? defaultRandom,
      keyedPrf: options.keyedPrf ?? sipHash24,
      ...(options.tcp ? { tcp: options.tcp } : {}),
    });
    this.iface = this.stack.addInterface({
      name: link.name,
      mac: link.mac,
      mtu: link.mtu,
      medium: link.medium,
      transmit: (f) => {
        link.send(f);
      },
    });
    this.addresses = options.addresses ?? link.hello.addresses;
    for (const a of this.addresses) this.stack.addAddress(this.iface, a);
    for (const g of options.gateway ?? [])
      this.stack.addRoute({
        destination: g.includes(':') ? '::/0' : '0.0.0.0/0',
        gateway: g,
        iface: this.iface,
      });
    this.stack.setEventHandler((h, ev) => this.sockets.get(h)?.(ev));
    // A posted message is a task of its own: the messages already queued are received
    // first, then one poll answers them all.
    if (typeof MessageChannel === 'function') {
      this.channel = new MessageChannel();
      this.channel.port1.onmessage = () => this.runPoll();
      // Node: do not keep the process alive for the channel.
      (this.channel.port1 as { unref?: () => void }).unref?.();
    }
    link.onFrames((frames) => {
      this.counters.receiveBatches++;
      const now = this.clock();
      for (const f of frames) this.stack.receive(this.iface, f, now);
      this.kick();
    });
    link.onClose(() => this.linkDown());
    this.kick();
  }

  /** The WebSocket closed: no more polls; every socket's waiters fail with ENETDOWN. */
  private linkDown(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.channel?.port1.close();
    for (const f of [...this.sockets.values()]) f(LINK_DOWN);
  }

  now(): number {
    return this.clock();
  }

  kick(): void {
    if (this.kicked || this.closed) return;
    this.kicked = true;
    if (this.channel) this.channel.port2.postMessage(0);
    else setTimeout(() => this.runPoll(), 0);
  }

  private runPoll(): void {
    this.kicked = false;
    if (this.closed) return;
    const now = this.clock();
    this.counters.polls++;
    this.stack.poll(now);
    this.arm(this.stack.pollAt(), now);
  }

  private arm(at: number, now: number): void {
    if (!Number.isFinite(at)) return;
    if (at <= now) {
      this.kick();
      return;
    }
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.counters.timerWakeups++;
        this.runPoll();
      },
      Math.max(0, Math.ceil(at - now)),
    );
  }

  register(h: Handle, onEvent: (ev: SocketEventMask) => void): void {
    this.sockets.set(h, onEvent);
  }

  unregister(h: Handle): void {
    this.sockets.delete(h);
  }

  /** Opens a TCP connection (address literal, IPv4 or IPv6). */
  connect(options: { host: string; port: number } & TcpSocketOptions): Promise<TcpConnection> {
    if (this.closed) return Promise.reject(new NetError('the link is closed', 'ENETDOWN', 'connect'));
    let address: ReturnType<typeof parseIpAddress>;
    try {
      address = parseIpAddress(options.host.replace(/^\[|\]$/g, ''));
    } catch {
      return Promise.reject(
        new NetError(`'${options.host}' is not an IP address (no DNS here)`, 'EINVAL', 'connect'),
      );
    }
    const { host: _h, port, ...sockOpts } = options;
    return TcpConnection.connect(this, address, port, sockOpts);
  }

  /** Listens on a TCP port (all addresses). */
  listen(options: { port: number; backlog?: number } & TcpSocketOptions): TcpListener {
    const { port, backlog, ...sockOpts } = options;
    return TcpListener.listen(this, port, backlog ?? 16, sockOpts);
  }

  /** HTTP/1.1 request over a TCP connection of this stack (`http://` URLs, address literals). */
  fetch(url: string, init: FetchInit = {}): Promise<FetchResponse> {
    return httpFetch(this, url, init);
  }

  /** The stack's counters, the link's (`link.*`) and the driver's (`driver.*`). */
  stats(): Record<string, number> {
    const out: Record<string, number> = { ...this.stack.stats() };
    for (const [k, v] of Object.entries(this.link.stats())) out[`link.${k}`] = v;
    for (const [k, v] of Object.entries(this.counters)) out[`driver.${k}`] = v;
    return out;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the WebSocket; open connections stop (their reads end with ENETDOWN-like EOF). */
  async close(): Promise<void> {
    await this.link.close();
    this.linkDown();
  }
}
