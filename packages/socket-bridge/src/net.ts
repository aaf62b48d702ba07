/**
 * A `net`-compatible API over a SocketHost: `Socket` is a Duplex whose reads come
 * from `tcpRecv` and whose writes go to `tcpSend`. Backpressure reaches the stack both
 * ways: a write's callback runs only once the stack took every byte (so `write()`
 * returns false while the send buffer is full), and when `push()` returns false we
 * stop calling `tcpRecv`, so the receive buffer fills and the TCP window closes.
 */
import { EventEmitter } from 'node:events';
import { isIP, type Socket as NodeSocket } from 'node:net';
import { type ConnectionOptions as TlsConnectionOptions, connect as tlsConnect } from 'node:tls';
import { Duplex } from 'node:stream';
import {
  EOF,
  type Handle,
  type IpAddress,
  SocketError,
  SocketEvent,
  type SocketError as StackSocketError,
  type TcpSocketOptions,
  parseIpAddress,
} from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';
import { type FamilyName, familyName, literalAddress, resolveOne } from './address.js';
import { type SocketBridgeError, fromStackError, socketError } from './errors.js';
import { recvChunk } from './recv.js';

export interface AddressInfo {
  address: string;
  family: FamilyName;
  port: number;
}

export interface SocketOptions {
  allowHalfOpen?: boolean;
  /** TCP buffer sizes for the stack socket (bytes). */
  tcp?: TcpSocketOptions;
  /** Readable highWaterMark; the writable one is `writableHighWaterMark`. */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface ConnectOptions extends SocketOptions {
  port: number;
  host?: string;
  localAddress?: string;
  localPort?: number;
  family?: 0 | 4 | 6;
  /** Sets an idle timeout (like socket.setTimeout) once the socket exists. */
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

/** RFC 1122 4.2.3.6: keepalive idle time defaults to no less than two hours. */
const DEFAULT_KEEPALIVE_MS = 7_200_000;

/**
 * The StackServer that accepted a socket. Not `socket.server`: node:http (and tls)
 * overwrite that when the socket is handed over with `emit('connection', socket)`.
 */
const kOwner = Symbol('tapstack.owner');

/** The TCP socket of the in-process API (what `net.Socket` is to Node). */
export class StackSocket extends Duplex {
  readonly host: SocketHost;
  handle: Handle | undefined;
  connecting = false;
  bytesRead = 0;
  private _bytesTaken = 0;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: FamilyName | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  /** The Server that accepted this socket, if any (node:http replaces it with its own). */
  server: unknown;
  /** @internal */
  [kOwner]: StackServer | undefined;

  private readonly tcpOptions: TcpSocketOptions | undefined;
  private reading = false;
  private peerEnded = false;
  private pendingWrite: { chunk: Buffer; offset: number; cb: (e?: Error | null) => void } | undefined;
  private pendingFinal: ((e?: Error | null) => void) | undefined;
  private timeoutMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private connectTarget: { address: string; port: number } | undefined;
  private noDelayWanted: boolean | undefined;
  private keepAliveWanted: number | undefined;

  constructor(host: SocketHost, options: SocketOptions & { handle?: Handle } = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      emitClose: true,
      autoDestroy: true,
      decodeStrings: true,
    });
    this.host = host;
    this.tcpOptions = options.tcp;
    if (options.handle !== undefined) this.attach(options.handle);
  }

  get bytesWritten(): number {
    return this._bytesTaken;
  }
  get pending(): boolean {
    return this.handle === undefined || this.connecting;
  }
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.handle === undefined) return 'closed';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /** Connects: `connect(port[, host][, cb])` or `connect(options[, cb])`. */
  connect(port: number, host?: string, cb?: () => void): this;
  connect(port: number, cb?: () => void): this;
  connect(options: ConnectOptions, cb?: () => void): this;
  connect(a: number | ConnectOptions, b?: string | (() => void), c?: () => void): this {
    const opts: ConnectOptions =
      typeof a === 'object' ? a : { port: a, host: typeof b === 'string' ? b : undefined };
    const cb = typeof b === 'function' ? b : c;
    if (cb) this.once('connect', cb);
    if (this.handle !== undefined || this.connecting) {
      throw socketError('EISCONN', 'connect');
    }
    const port = Number(opts.port);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new RangeError(`Port should be > 0 and < 65536. Received ${opts.port}.`);
    }
    if (opts.localAddress !== undefined && !isIP(opts.localAddress)) {
      throw new TypeError(`Invalid IP address: ${opts.localAddress}`);
    }
    if (opts.timeout) this.setTimeout(opts.timeout);
    if (opts.noDelay) this.setNoDelay(true);
    if (opts.keepAlive) this.setKeepAlive(true, opts.keepAliveInitialDelay);
    this.connecting = true;
    const hostname = opts.host ?? 'localhost';
    const literal = literalAddress(hostname);
    if (literal) {
      this.startConnect(literal, port, opts);
    } else {
      resolveOne(this.host, hostname, opts.family ?? 0).then(
        (addr) => {
          if (this.destroyed) return;
          this.emit('lookup', null, addr.toString(), addr.version, hostname);
          this.startConnect(addr, port, opts);
        },
        (err: SocketBridgeError) => {
          if (this.destroyed) return;
          this.connecting = false;
          this.emit('lookup', err, undefined, undefined, hostname);
          this.destroy(err);
        },
      );
    }
    return this;
  }

  private startConnect(addr: IpAddress, port: number, opts: ConnectOptions): void {
    const h = this.host.tcpOpen(this.tcpOptions);
    this.connectTarget = { address: addr.toString(), port };
    if (opts.localAddress !== undefined || opts.localPort !== undefined) {
      const la = opts.localAddress !== undefined ? parseIpAddress(opts.localAddress) : undefined;
      const e = this.host.tcpBind(h, la, opts.localPort ?? 0);
      if (e) {
        this.host.tcpClose(h);
        this.connecting = false;
        this.destroy(fromStackError(e, 'bind', { address: opts.localAddress, port: opts.localPort }));
        return;
      }
    }
    this.handle = h;
    this.host.watch(h, (m) => this.onEvents(m));
    this.applyOptions();
    const e = this.host.tcpConnect(h, addr, port, this.host.now());
    if (e) {
      this.connecting = false;
      this.destroy(fromStackError(e, 'connect', this.connectTarget));
    }
  }

  /** Adopts an accepted (established) handle. */
  private attach(h: Handle): void {
    this.handle = h;
    this.host.watch(h, (m) => this.onEvents(m));
    this.applyOptions();
    this.recordAddresses();
  }

  private applyOptions(): void {
    const h = this.handle;
    if (h === undefined) return;
    if (this.noDelayWanted !== undefined) this.host.tcpSetNoDelay(h, this.noDelayWanted);
    if (this.keepAliveWanted !== undefined) this.host.tcpSetKeepAlive(h, this.keepAliveWanted);
  }

  private recordAddresses(): void {
    const info = this.handle !== undefined ? this.host.tcpInfo(this.handle) : undefined;
    if (!info) return;
    if (info.remoteAddress) {
      this.remoteAddress = info.remoteAddress.toString();
      this.remoteFamily = familyName(info.remoteAddress);
    }
    this.remotePort = info.remotePort;
    if (info.localAddress) this.localAddress = info.localAddress.toString();
    this.localPort = info.localPort;
  }

  private onEvents(m: number): void {
    if (this.handle === undefined) return;
    if (m & SocketEvent.Connected && this.connecting) {
      this.connecting = false;
      this.recordAddresses();
      this.touch();
      this.emit('connect');
      this.emit('ready');
      this.flushWrite();
      if (this.pendingFinal) this.doShutdown();
    }
    if (m & SocketEvent.Writable) this.flushWrite();
    if (m & (SocketEvent.Readable | SocketEvent.PeerClosed) && this.reading) this.readLoop();
    if (m & SocketEvent.Error) {
      const e = this.host.socketError(this.handle);
      if (e) this.fail(e);
    }
  }

  private fail(e: StackSocketError): void {
    // After the peer's FIN only writes remain; a reset then means the peer is gone for
    // writing, which Linux reports on the next write as EPIPE.
    if (e === SocketError.ECONNRESET && this.peerEnded && !this.writableFinished) {
      this.destroy(socketError('EPIPE', 'write'));
      return;
    }
    const syscall = this.connecting ? 'connect' : this.pendingWrite ? 'write' : 'read';
    const where = this.connecting ? this.connectTarget : undefined;
    this.connecting = false;
    this.destroy(fromStackError(e, syscall, where));
  }

  override _read(): void {
    this.reading = true;
    if (!this.connecting && this.handle !== undefined) this.readLoop();
  }

  private readLoop(): void {
    const h = this.handle;
    while (this.reading && h !== undefined && !this.peerEnded && !this.destroyed) {
      const r = recvChunk(this.host, h);
      if (r === 0) return;
      if (r === EOF) {
        this.peerEnded = true;
        this.reading = false;
        this.push(null);
        return;
      }
      if (typeof r === 'number') {
        this.fail(-r as StackSocketError);
        return;
      }
      this.bytesRead += r.length;
      this.touch();
      if (!this.push(r)) this.reading = false;
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.pendingWrite = { chunk, offset: 0, cb };
    if (!this.connecting && this.handle !== undefined) this.flushWrite();
  }

  private flushWrite(): void {
    const p = this.pendingWrite;
    const h = this.handle;
    if (!p || h === undefined || this.connecting) return;
    while (p.offset < p.chunk.length) {
      // tcpSend: bytes taken (0 when the send buffer is full) or a negative SocketError.
      const r = this.host.tcpSend(h, p.chunk.subarray(p.offset));
      if (r < 0) {
        this.pendingWrite = undefined;
        p.cb(fromStackError(-r as StackSocketError, 'write'));
        return;
      }
      if (r === 0) return; // send buffer full: wait for Writable
      p.offset += r;
      this._bytesTaken += r;
    }
    this.touch();
    this.pendingWrite = undefined;
    p.cb();
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.pendingFinal = cb;
    if (!this.connecting && this.handle !== undefined) this.doShutdown();
  }

  private doShutdown(): void {
    const cb = this.pendingFinal;
    if (!cb || this.handle === undefined) return;
    this.pendingFinal = undefined;
    const e = this.host.tcpShutdown(this.handle);
    cb(e ? fromStackError(e, 'shutdown') : null);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.clearTimer();
    const h = this.handle;
    if (h !== undefined) {
      this.host.unwatch(h);
      this.host.tcpClose(h);
      this.handle = undefined;
    }
    this.connecting = false;
    const pw = this.pendingWrite;
    this.pendingWrite = undefined;
    if (pw && !err) pw.cb(socketError('EPIPE', 'write'));
    const owner = this[kOwner];
    this[kOwner] = undefined;
    owner?.connectionClosed();
    cb(err);
  }

  /** Sends RST and destroys the socket (Node's resetAndDestroy). */
  resetAndDestroy(): this {
    const h = this.handle;
    if (h !== undefined) {
      this.host.unwatch(h);
      this.host.tcpAbort(h);
      this.handle = undefined;
    }
    this.destroy();
    return this;
  }

  setNoDelay(noDelay = true): this {
    this.noDelayWanted = noDelay;
    if (this.handle !== undefined) this.host.tcpSetNoDelay(this.handle, noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAliveWanted = enable ? initialDelay || DEFAULT_KEEPALIVE_MS : 0;
    if (this.handle !== undefined) this.host.tcpSetKeepAlive(this.handle, this.keepAliveWanted);
    return this;
  }

  /** Emits 'timeout' after `ms` without reads or writes (0 disables); does not close the socket. */
  setTimeout(ms: number, cb?: () => void): this {
    this.timeoutMs = ms;
    if (cb) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    this.clearTimer();
    if (ms > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.emit('timeout');
      }, ms);
      this.timer.unref?.();
    }
    return this;
  }

  get timeout(): number | undefined {
    return this.timeoutMs || undefined;
  }

  private touch(): void {
    if (this.timer) this.timer.refresh();
  }
  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  address(): AddressInfo | Record<string, never> {
    if (this.localAddress === undefined && this.handle !== undefined) this.recordAddresses();
    if (this.localAddress === undefined || this.localPort === undefined) return {};
    return {
      address: this.localAddress,
      family: isIP(this.localAddress) === 6 ? 'IPv6' : 'IPv4',
      port: this.localPort,
    };
  }

  /** TCP state and counters from the stack (srtt, cwnd, queued bytes...). */
  tcpInfo() {
    return this.handle !== undefined ? this.host.tcpInfo(this.handle) : undefined;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

export interface ServerOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  tcp?: TcpSocketOptions;
}

export interface ListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
}

/** A listening TCP socket (what `net.Server` is to Node). Emits 'listening', 'connection', 'error', 'close'. */
export class StackServer extends EventEmitter {
  readonly host: SocketHost;
  handle: Handle | undefined;
  listening = false;
  maxConnections: number | undefined;
  private readonly options: ServerOptions;
  private connections = 0;
  private closing = false;
  private bound: AddressInfo | undefined;

  constructor(host: SocketHost, options: ServerOptions = {}, listener?: (s: StackSocket) => void) {
    super();
    this.host = host;
    this.options = options;
    if (listener) this.on('connection', listener);
  }

  listen(port?: number, host?: string, backlog?: number, cb?: () => void): this;
  listen(port: number, host: string, cb?: () => void): this;
  listen(port: number, cb?: () => void): this;
  listen(options: ListenOptions, cb?: () => void): this;
  listen(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    let opts: ListenOptions;
    if (typeof args[0] === 'object' && args[0] !== null) opts = args[0] as ListenOptions;
    else
      opts = {
        port: args[0] as number | undefined,
        host: typeof args[1] === 'string' ? args[1] : undefined,
        backlog: typeof args[1] === 'number' ? args[1] : (args[2] as number | undefined),
      };
    if (cb) this.once('listening', cb);
    if (this.handle !== undefined) throw socketError('EINVAL', 'listen');
    const port = Number(opts.port ?? 0);
    const addr = opts.host !== undefined && opts.host !== '' ? literalAddress(opts.host) : undefined;
    if (opts.host && !addr && opts.host !== 'localhost') throw socketError('EINVAL', 'listen');
    const h = this.host.tcpOpen(this.options.tcp);
    let e = this.host.tcpBind(h, addr, port);
    if (!e) e = this.host.tcpListen(h, opts.backlog ?? 511);
    if (e) {
      this.host.tcpClose(h);
      const err = fromStackError(e, 'listen', { address: opts.host ?? '::', port });
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    this.handle = h;
    const info = this.host.tcpInfo(h);
    const la = info?.localAddress;
    this.bound = {
      address: la && !la.isUnspecified() ? la.toString() : (addr?.toString() ?? '::'),
      family: la ? familyName(la) : addr ? familyName(addr) : 'IPv6',
      port: info?.localPort ?? port,
    };
    this.host.watch(h, (m) => this.onEvents(m));
    this.listening = true;
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  private onEvents(m: number): void {
    if (m & SocketEvent.Acceptable) this.acceptAll();
  }

  private acceptAll(): void {
    const h = this.handle;
    if (h === undefined) return;
    for (;;) {
      const c = this.host.tcpAccept(h);
      if (c === undefined) return;
      if (this.maxConnections !== undefined && this.connections >= this.maxConnections) {
        this.host.tcpAbort(c);
        continue;
      }
      const s = new StackSocket(this.host, { handle: c, allowHalfOpen: this.options.allowHalfOpen });
      s.server = this;
      s[kOwner] = this;
      this.connections++;
      if (this.options.noDelay) s.setNoDelay(true);
      if (this.options.keepAlive) s.setKeepAlive(true, this.options.keepAliveInitialDelay);
      if (this.options.pauseOnConnect) s.pause();
      this.emit('connection', s);
    }
  }

  /** @internal */
  connectionClosed(): void {
    this.connections--;
    this.maybeClosed();
  }

  private maybeClosed(): void {
    if (this.closing && this.connections === 0 && this.handle === undefined) {
      this.closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }

  /** Stops accepting; 'close' follows once every accepted connection has closed. */
  close(cb?: (err?: Error) => void): this {
    if (this.handle === undefined) {
      if (cb) process.nextTick(() => cb(socketError('ENOTCONN', 'close') as Error));
      return this;
    }
    if (cb) this.once('close', cb);
    this.host.unwatch(this.handle);
    this.host.tcpClose(this.handle);
    this.handle = undefined;
    this.listening = false;
    this.closing = true;
    this.maybeClosed();
    return this;
  }

  address(): AddressInfo | null {
    return this.handle !== undefined ? (this.bound ?? null) : null;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    process.nextTick(() => cb(null, this.connections));
    return this;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

export interface TapNet {
  Socket: new (options?: SocketOptions) => StackSocket;
  Server: new (options?: ServerOptions, listener?: (s: StackSocket) => void) => StackServer;
  createConnection(port: number, host?: string, cb?: () => void): StackSocket;
  createConnection(options: ConnectOptions, cb?: () => void): StackSocket;
  connect(port: number, host?: string, cb?: () => void): StackSocket;
  connect(options: ConnectOptions, cb?: () => void): StackSocket;
  createServer(listener?: (s: StackSocket) => void): StackServer;
  createServer(options: ServerOptions, listener?: (s: StackSocket) => void): StackServer;
  isIP: typeof isIP;
  isIPv4(s: string): boolean;
  isIPv6(s: string): boolean;
}

/**
 * True when the caller is Node's https (https.request / https.get, or an https.Agent):
 * it marks its options with its default agent, whose protocol is 'https:'.
 */
function wantsTls(opts: ConnectOptions): boolean {
  const o = opts as ConnectOptions & { protocol?: string; _defaultAgent?: { protocol?: string } };
  return o.protocol === 'https:' || o._defaultAgent?.protocol === 'https:';
}

/**
 * The in-process `net` look-alike bound to one host:
 * `const net = createNet(driver.sockets); net.createConnection({ host, port })`.
 */
export function createNet(host: SocketHost): TapNet {
  class Socket extends StackSocket {
    constructor(options?: SocketOptions) {
      super(host, options);
    }
  }
  class Server extends StackServer {
    constructor(options?: ServerOptions, listener?: (s: StackSocket) => void) {
      super(host, options, listener);
    }
  }
  function createConnection(
    a: number | ConnectOptions,
    b?: string | (() => void),
    c?: () => void,
  ): StackSocket {
    const opts: ConnectOptions =
      typeof a === 'object' ? a : { port: a, host: typeof b === 'string' ? b : undefined };
    const cb = typeof b === 'function' ? b : c;
    if (wantsTls(opts)) {
      // https.request / an https.Agent handed us its TLS options and expects a TLS
      // socket back (Node's own https Agent would call tls.connect here): run TLS over
      // our TCP socket, with the caller's options (servername, ca, ALPN, session, ...).
      const raw = new Socket(opts).connect(opts);
      const secure = tlsConnect({ ...(opts as TlsConnectionOptions), socket: raw as unknown as NodeSocket });
      if (cb) secure.once('secureConnect', cb);
      return secure as unknown as StackSocket;
    }
    const s = new Socket(opts);
    return s.connect(opts, cb);
  }
  function createServer(
    a?: ServerOptions | ((s: StackSocket) => void),
    b?: (s: StackSocket) => void,
  ): StackServer {
    return typeof a === 'function' ? new Server({}, a) : new Server(a, b);
  }
  return {
    Socket,
    Server,
    createConnection: createConnection as TapNet['createConnection'],
    connect: createConnection as TapNet['connect'],
    createServer: createServer as TapNet['createServer'],
    isIP,
    isIPv4: (s) => isIP(s) === 4,
    isIPv6: (s) => isIP(s) === 6,
  };
}

/** @deprecated Renamed `StackSocket`: a socket on the userspace stack (it has nothing to do with TAP). */
export const TapSocket = StackSocket;
/** @deprecated Renamed `StackSocket`. */
export type TapSocket = StackSocket;
/** @deprecated Renamed `StackServer`: a server on the userspace stack (it has nothing to do with TAP). */
export const TapServer = StackServer;
/** @deprecated Renamed `StackServer`. */
export type TapServer = StackServer;
