/**
 * A small `net`-like TCP API over the page's stack: `TcpConnection` (read, write, end,
 * destroy) and `TcpListener` (accept). Promises instead of streams: `read()` resolves
 * with the next bytes or null at the peer's FIN; `write()` resolves once the stack has
 * taken every byte into its send buffer (so awaiting it is the backpressure).
 */
import {
  EOF,
  type Handle,
  type IpAddress,
  SocketEvent,
  type SocketEventMask,
  socketErrorName,
  type TcpSocketOptions,
} from '@tapstack/stack-core';
import type { SocketDriver } from './browser-stack.js';
import { NetError } from './errors.js';

/** The event a socket gets when the page's link is gone (not a stack event bit). */
export const LINK_DOWN = -1;

/** Largest single read. */
const READ_CHUNK = 64 * 1024;

function errorFor(code: number, syscall: string): NetError {
  const name = socketErrorName(code as never);
  return new NetError(`${syscall} ${name}`, name, syscall);
}

export class TcpConnection {
  private readonly d: SocketDriver;
  private h: Handle;
  private waiters: (() => void)[] = [];
  private released = false;
  private ended = false;
  private eof = false;
  private error: NetError | undefined;
  private readonly buf = new Uint8Array(READ_CHUNK);
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Bytes read and written so far. */
  bytesRead = 0;
  bytesWritten = 0;

  /** @internal */
  constructor(d: SocketDriver, h: Handle, remote: IpAddress | undefined, port: number) {
    this.d = d;
    this.h = h;
    this.remoteAddress = remote ? String(remote) : '';
    this.remotePort = port;
    d.register(h, (ev) => this.onEvent(ev));
  }

  /** @internal */
  static async connect(
    d: SocketDriver,
    address: IpAddress,
    port: number,
    opts: TcpSocketOptions,
  ): Promise<TcpConnection> {
    const s = d.stack;
    const h = s.tcpOpen(opts);
    const c = new TcpConnection(d, h, address, port);
    const rc = s.tcpConnect(h, address, port, d.now());
    if (rc !== 0) {
      c.release(true);
      throw errorFor(rc, 'connect');
    }
    d.kick();
    for (;;) {
      if (c.error) {
        c.release(true);
        throw new NetError(`connect ${c.error.code}`, c.error.code, 'connect');
      }
      const info = s.tcpInfo(h);
      if (info && info.state !== 'SYN-SENT' && info.state !== 'CLOSED') break;
      const err = s.socketError(h);
      if (err !== 0) {
        c.release(true);
        throw errorFor(err, 'connect');
      }
      if (!info || info.state === 'CLOSED') {
        c.release(true);
        throw new NetError('connect ECONNRESET', 'ECONNRESET', 'connect');
      }
      await c.wait();
    }
    return c;
  }

  private onEvent(ev: SocketEventMask): void {
    if (ev === LINK_DOWN) {
      this.error ??= new NetError('the WebSocket link closed', 'ENETDOWN', 'read');
    } else if (ev & SocketEvent.Error && !this.error) {
      const e = this.d.stack.socketError(this.h);
      if (e !== 0) this.error = errorFor(e, 'read');
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves at the socket's next event. */
  private wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  /** The next bytes (a fresh array), or null once the peer has closed and all was read. */
  async read(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.released) return null;
      if (this.error) throw this.error;
      const n = this.d.stack.tcpRecv(this.h, this.buf);
      if (n > 0) {
        this.bytesRead += n;
        this.d.kick(); // the window opened: let the stack say so
        return this.buf.slice(0, n);
      }
      if (n === EOF) {
        this.eof = true;
        if (this.ended) this.release(false);
        return null;
      }
      if (n < 0) {
        this.error = errorFor(-n, 'read');
        throw this.error;
      }
      await this.wait();
    }
  }

  /** Reads until the peer's FIN; calls onChunk with each piece. */
  async readAll(onChunk?: (chunk: Uint8Array) => void): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const c = await this.read();
      if (c === null) break;
      onChunk?.(c);
      parts.push(c);
      total += c.length;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** Copies `data` into the send buffer, waiting for room as needed. */
  async write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    let off = 0;
    while (off < bytes.length) {
      if (this.released || this.ended) throw new NetError('write EPIPE', 'EPIPE', 'write');
      if (this.error) throw this.error;
      const n = this.d.stack.tcpSend(this.h, bytes.subarray(off));
      if (n < 0) {
        this.error = errorFor(-n, 'write');
        throw this.error;
      }
      if (n > 0) {
        off += n;
        this.bytesWritten += n;
        this.d.kick();
        continue;
      }
      await this.wait();
    }
  }

  /** Sends FIN after the queued data; reading goes on until the peer's FIN. */
  end(): void {
    if (this.ended || this.released) return;
    this.ended = true;
    this.d.stack.tcpShutdown(this.h);
    this.d.kick();
    if (this.eof) this.release(false);
  }

  /**
   * Graceful close without reading further: FIN after the queued data, and the handle is
   * released now; the stack finishes the close on its own (data that still arrives is
   * answered with RST, as a kernel does).
   */
  close(): void {
    this.ended = true;
    this.release(false);
  }

  /** Resets the connection (RST) and releases it. */
  destroy(): void {
    this.release(true);
  }

  /** Round-trip and window figures from the stack. */
  info() {
    return this.released ? undefined : this.d.stack.tcpInfo(this.h);
  }

  private release(abort: boolean): void {
    if (this.released) return;
    this.released = true;
    this.d.unregister(this.h);
    if (abort) this.d.stack.tcpAbort(this.h);
    else this.d.stack.tcpClose(this.h);
    this.d.kick();
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export class TcpListener {
  private readonly d: SocketDriver;
  private readonly h: Handle;
  private waiters: (() => void)[] = [];
  private closed = false;
  readonly port: number;

  private constructor(d: SocketDriver, h: Handle, port: number) {
    this.d = d;
    this.h = h;
    this.port = port;
    d.register(h, (ev) => {
      if (ev === LINK_DOWN) this.closed = true;
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  /** @internal */
  static listen(d: SocketDriver, port: number, backlog: number, opts: TcpSocketOptions): TcpListener {
    const s = d.stack;
    const h = s.tcpOpen(opts);
    let rc = s.tcpBind(h, undefined, port);
    if (rc === 0) rc = s.tcpListen(h, backlog);
    if (rc !== 0) {
      s.tcpClose(h);
      throw errorFor(rc, 'listen');
    }
    return new TcpListener(d, h, port);
  }

  /** The next established connection. */
  async accept(): Promise<TcpConnection> {
    for (;;) {
      if (this.closed) throw new NetError('accept on a closed listener or link', 'EBADF', 'accept');
      const c = this.d.stack.tcpAccept(this.h);
      if (c !== undefined) {
        const info = this.d.stack.tcpInfo(c);
        return new TcpConnection(this.d, c, info?.remoteAddress, info?.remotePort ?? 0);
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.d.unregister(this.h);
    this.d.stack.tcpClose(this.h);
    this.d.kick();
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
