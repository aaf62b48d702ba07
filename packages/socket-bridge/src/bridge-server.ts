/**
 * The daemon side of the AF_UNIX bridge: listens on a Unix socket (mode 0600 by
 * default), reads one request line per connection, answers with one reply line and
 * then pumps bytes between that Unix socket and a stack TCP handle (or frames UDP
 * datagrams). Bad input gets `ERR <code> <message>` and a close, never a crash; every
 * session is counted so tests can see it return to zero.
 */
import { EventEmitter } from 'node:events';
import { lstatSync, unlinkSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import {
  type Handle,
  Ipv4Address,
  SocketEvent,
  SocketError,
  type TcpSocketOptions,
  socketErrorName,
} from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';
import { formatHostPort, literalAddress, resolveOne } from './address.js';
import {
  type BridgeRequest,
  DatagramDecoder,
  MAX_REQUEST_LINE,
  encodeDatagram,
  formatErr,
  formatOk,
  parseRequest,
} from './bridge-protocol.js';
import { type SocketBridgeError, messageFor, socketError } from './errors.js';
import { listenUnixPrivate } from './local-path.js';
import { HandlePump } from './pump.js';

export interface BridgeServerOptions {
  /** Filesystem path of the Unix socket. */
  path: string;
  /** File mode of the socket [0o600: only the daemon's user]. */
  mode?: number;
  /** Milliseconds a client has to send its request line [10000]. */
  requestTimeout?: number;
  /** Bridge connections beyond this get `ERR EMFILE` [10000]. */
  maxSessions?: number;
  /**
   * Options for the stack sockets opened for clients. `noDelay` defaults to true: the
   * client's writes arrive already batched, and small requests should not wait for ACKs.
   */
  tcp?: TcpSocketOptions;
}

export interface BridgeCloseOptions {
  /** Let open sessions finish instead of ending them now [false]. */
  drain?: boolean;
  /** With `drain`: close the sessions still open after this many ms [wait for ever]. */
  timeout?: number;
}

interface AcceptWaiter {
  socket: Socket;
  give(h: Handle): void;
}

interface ListenerEntry {
  id: number;
  handle: Handle;
  control: Socket;
  waiters: AcceptWaiter[];
}

export class BridgeServer extends EventEmitter {
  readonly host: SocketHost;
  readonly path: string;
  private readonly opts: Required<Omit<BridgeServerOptions, 'tcp'>> & { tcp?: TcpSocketOptions };
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly tcpListeners = new Map<number, ListenerEntry>();
  private readonly handles = new Set<Handle>();
  private nextListenerId = 1;
  private stopped = false;
  private serverClosed: Promise<void> | undefined;
  private socketIno: number | undefined;
  /** Requests that failed (bad input, timeouts, errors from the stack). */
  rejected = 0;

  constructor(host: SocketHost, options: BridgeServerOptions) {
    super();
    this.host = host;
    this.path = options.path;
    this.opts = {
      path: options.path,
      mode: options.mode ?? 0o600,
      requestTimeout: options.requestTimeout ?? 10_000,
      maxSessions: options.maxSessions ?? 10_000,
      tcp: options.tcp,
    };
  }

  /** Open bridge connections (in any phase). */
  get sessions(): number {
    return this.sockets.size;
  }
  /** Stack handles the bridge holds open (TCP connections, listeners, UDP sockets). */
  get openHandles(): number {
    return this.handles.size;
  }

  /**
   * Starts listening. A stale socket file at `path` (nobody accepts on it) is replaced;
   * if another process is still serving there, rejects with EADDRINUSE.
   */
  async listen(): Promise<void> {
    let isSocket = false;
    try {
      isSocket = lstatSync(this.path).isSocket();
    } catch {
      /* no such file */
    }
    if (isSocket) {
      if (await someoneListens(this.path)) throw socketError('EADDRINUSE', 'listen', { address: this.path });
      unlinkSync(this.path);
    }
    if (this.server) throw socketError('EINVAL', 'listen', { address: this.path });
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (s) => this.onConnection(s));
    this.server = server;
    this.stopped = false;
    this.serverClosed = undefined;
    await listenUnixPrivate(server, this.path, this.opts.mode);
    server.on('error', (e) => this.emit('error', e));
    this.socketIno = lstatSync(this.path).ino;
  }

  /** Listening and taking requests: false before `listen()` and once `stopAccepting()` (or a drain) began. */
  get accepting(): boolean {
    return this.server !== undefined && !this.stopped;
  }

  /**
   * Stops taking new work while open sessions go on: the Unix socket stops listening
   * and its file is removed (new clients get ENOENT), TCP listeners opened with LISTEN
   * close (waiting ACCEPTs get `ERR EBADF`, their control connections end), and a
   * request line that arrives from now on gets `ERR ESHUTDOWN`. Established CONNECT/
   * ACCEPT streams and UDP sessions continue. Safe to call more than once.
   */
  stopAccepting(): void {
    if (this.stopped) return;
    this.stopped = true;
    const s = this.server;
    if (s) this.serverClosed = new Promise<void>((r) => s.close(() => r()));
    this.removeSocketFile();
    for (const l of [...this.tcpListeners.values()]) this.closeListener(l);
  }

  /**
   * Closes the bridge. By default at once: every session ends (RST to stack peers).
   * With `{ drain: true }` it first stops accepting (see `stopAccepting()`) and waits
   * for the open sessions to finish on their own; with `timeout` (ms) it then closes
   * whatever is left. Resolves with the number of sessions that had to be closed (0
   * when everything finished in time).
   */
  async close(options: BridgeCloseOptions = {}): Promise<number> {
    this.stopAccepting();
    if (options.drain && this.sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer =
          options.timeout !== undefined
            ? setTimeout(() => finish(), Math.max(0, options.timeout))
            : undefined;
        const finish = () => {
          clearTimeout(timer);
          this.off('drained', finish);
          resolve();
        };
        this.on('drained', finish);
      });
    }
    const left = this.sockets.size;
    const gone = left > 0 ? new Promise((r) => this.once('drained', r)) : undefined;
    for (const sock of this.sockets) sock.destroy();
    await gone;
    for (const l of [...this.tcpListeners.values()]) this.closeListener(l);
    this.server = undefined;
    await this.serverClosed;
    return left;
  }

  /** Removes the socket file, unless it is no longer ours (another daemon took the path). */
  private removeSocketFile(): void {
    try {
      if (this.socketIno !== undefined && lstatSync(this.path).ino !== this.socketIno) return;
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }

  private onConnection(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => {
      this.sockets.delete(sock);
      if (this.sockets.size === 0) this.emit('drained');
    });
    sock.on('error', () => {
      /* the client went away; 'close' follows */
    });
    if (this.sockets.size > this.opts.maxSessions) {
      this.reject(sock, 'EMFILE', 'too many bridge sessions');
      return;
    }
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.off('data', onData);
      this.reject(sock, 'ETIMEDOUT', 'request line not received in time');
    }, this.opts.requestTimeout);
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      // Only the first MAX_REQUEST_LINE bytes can hold the newline, whether it came in
      // this read or not: a longer line is refused either way.
      const nl = buf.subarray(0, MAX_REQUEST_LINE).indexOf(10);
      if (nl < 0) {
        if (buf.length >= MAX_REQUEST_LINE) {
          clearTimeout(timer);
          sock.off('data', onData);
          this.reject(sock, 'EPROTO', 'request line too long');
        }
        return;
      }
      clearTimeout(timer);
      sock.off('data', onData);
      sock.pause();
      const rest = buf.subarray(nl + 1);
      if (rest.length) sock.unshift(rest);
      const line = buf.subarray(0, nl).toString('latin1');
      const parsed = parseRequest(line);
      if (!parsed.ok) this.reject(sock, parsed.code, parsed.message);
      else if (this.stopped) this.reject(sock, 'ESHUTDOWN', 'bridge is shutting down');
      else this.handle(sock, parsed.request);
    };
    sock.on('data', onData);
    sock.on('close', () => clearTimeout(timer));
  }

  private reject(sock: Socket, code: string, message: string): void {
    this.rejected++;
    if (!sock.destroyed) sock.end(formatErr(code, message));
    // A client that never reads its error must not hold the session open.
    setTimeout(() => sock.destroy(), 1000).unref();
  }

  private handle(sock: Socket, r: BridgeRequest): void {
    switch (r.verb) {
      case 'CONNECT':
        this.connect(sock, r.host, r.port);
        return;
      case 'LISTEN':
        this.listenTcp(sock, r.address, r.port, r.backlog);
        return;
      case 'ACCEPT':
        this.accept(sock, r.id);
        return;
      case 'UDP':
        this.udp(sock, r.address, r.port);
        return;
    }
  }

  private startPump(sock: Socket, h: Handle): void {
    const info = this.host.tcpInfo(h);
    const local = info?.localAddress ? formatHostPort(info.localAddress, info.localPort) : '-';
    const remote = info?.remoteAddress ? formatHostPort(info.remoteAddress, info.remotePort) : '-';
    sock.write(formatOk(local, remote));
    new HandlePump(this.host, h, sock, () => this.handles.delete(h));
    sock.resume();
  }

  private connect(sock: Socket, hostname: string, port: number): void {
    resolveOne(this.host, hostname).then(
      (addr) => {
        if (sock.destroyed) return;
        const h = this.host.tcpOpen({ noDelay: true, ...this.opts.tcp });
        this.handles.add(h);
        const abandon = () => {
          // The client left while we were connecting.
          this.host.unwatch(h);
          this.host.tcpAbort(h);
          this.handles.delete(h);
        };
        sock.once('close', abandon);
        this.host.watch(h, (m) => {
          if (m & SocketEvent.Connected) {
            sock.off('close', abandon);
            this.startPump(sock, h);
          } else if (m & (SocketEvent.Error | SocketEvent.Closed)) {
            const e = this.host.socketError(h) || SocketError.ECONNREFUSED;
            sock.off('close', abandon);
            this.host.unwatch(h);
            this.host.tcpClose(h);
            this.handles.delete(h);
            this.reject(sock, socketErrorName(e), messageFor(socketErrorName(e)));
          }
        });
        const e = this.host.tcpConnect(h, addr, port, this.host.now());
        if (e) {
          sock.off('close', abandon);
          this.host.unwatch(h);
          this.host.tcpClose(h);
          this.handles.delete(h);
          this.reject(sock, socketErrorName(e), messageFor(socketErrorName(e)));
        }
      },
      (err: SocketBridgeError) => this.reject(sock, err.code, `${messageFor(err.code)}: ${hostname}`),
    );
  }

  private listenTcp(sock: Socket, address: string | undefined, port: number, backlog: number): void {
    let addr: ReturnType<typeof literalAddress>;
    if (address !== undefined) {
      addr = literalAddress(address);
      if (!addr) {
        this.reject(sock, 'EINVAL', 'LISTEN needs a literal address');
        return;
      }
    }
    const h = this.host.tcpOpen({ noDelay: true, ...this.opts.tcp });
    let e = this.host.tcpBind(h, addr, port);
    if (!e) e = this.host.tcpListen(h, backlog);
    if (e) {
      this.host.tcpClose(h);
      this.reject(sock, socketErrorName(e), messageFor(socketErrorName(e)));
      return;
    }
    this.handles.add(h);
    const entry: ListenerEntry = { id: this.nextListenerId++, handle: h, control: sock, waiters: [] };
    this.tcpListeners.set(entry.id, entry);
    this.host.watch(h, (m) => {
      if (m & SocketEvent.Acceptable) this.serveWaiters(entry);
    });
    const info = this.host.tcpInfo(h);
    const bound = formatHostPort(
      info?.localAddress && !info.localAddress.isUnspecified()
        ? info.localAddress
        : (addr ?? Ipv4Address.UNSPECIFIED),
      info?.localPort ?? port,
    );
    sock.write(formatOk(entry.id, bound));
    // The listener lives as long as this control connection; anything sent on it is ignored.
    sock.on('data', () => {});
    sock.on('end', () => sock.end());
    sock.on('close', () => this.closeListener(entry));
    sock.resume();
  }

  private closeListener(l: ListenerEntry): void {
    if (!this.tcpListeners.delete(l.id)) return;
    this.host.unwatch(l.handle);
    this.host.tcpClose(l.handle);
    this.handles.delete(l.handle);
    for (const w of l.waiters) this.reject(w.socket, 'EBADF', `listener ${l.id} closed`);
    l.waiters = [];
    l.control.destroy();
  }

  private serveWaiters(l: ListenerEntry): void {
    while (l.waiters.length) {
      const h = this.host.tcpAccept(l.handle);
      if (h === undefined) return;
      l.waiters.shift()!.give(h);
    }
  }

  private accept(sock: Socket, id: number): void {
    const l = this.tcpListeners.get(id);
    if (!l) {
      this.reject(sock, 'EBADF', `no listener ${id}`);
      return;
    }
    const w: AcceptWaiter = {
      socket: sock,
      give: (h) => {
        sock.off('close', drop);
        this.handles.add(h);
        this.startPump(sock, h);
      },
    };
    const drop = () => {
      l.waiters = l.waiters.filter((x) => x !== w);
    };
    sock.once('close', drop);
    l.waiters.push(w);
    this.serveWaiters(l);
  }

  private udp(sock: Socket, address: string | undefined, port: number): void {
    let addr: ReturnType<typeof literalAddress>;
    if (address !== undefined) {
      addr = literalAddress(address);
      if (!addr) {
        this.reject(sock, 'EINVAL', 'UDP needs a literal address');
        return;
      }
    }
    const h = this.host.udpOpen();
    const e = this.host.udpBind(h, addr, port);
    if (e) {
      this.host.udpClose(h);
      this.reject(sock, socketErrorName(e), messageFor(socketErrorName(e)));
      return;
    }
    this.handles.add(h);
    const l = this.host.udpLocal(h);
    sock.write(formatOk(formatHostPort(l?.address ?? addr ?? Ipv4Address.UNSPECIFIED, l?.port ?? port)));
    let blocked = false;
    const drain = () => {
      while (!blocked && !sock.destroyed) {
        const d = this.host.udpRecv(h);
        if (!d) return;
        if (!sock.write(encodeDatagram(d.address, d.port, d.data))) blocked = true;
      }
    };
    sock.on('drain', () => {
      blocked = false;
      drain();
    });
    this.host.watch(h, (m) => {
      if (m & SocketEvent.Readable) drain();
    });
    const dec = new DatagramDecoder();
    sock.on('data', (chunk: Buffer) => {
      let ds: ReturnType<DatagramDecoder['push']>;
      try {
        ds = dec.push(chunk);
      } catch {
        sock.destroy();
        return;
      }
      for (const d of ds) this.host.udpSend(h, d.payload, d.address, d.port);
    });
    sock.on('end', () => sock.end());
    sock.on('close', () => {
      this.host.unwatch(h);
      this.host.udpClose(h);
      this.handles.delete(h);
    });
    sock.resume();
  }
}

/** Does a process accept connections on this Unix socket path? */
function someoneListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
