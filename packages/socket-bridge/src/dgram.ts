/**
 * A `dgram`-like UDP socket over a SocketHost: `createSocket('udp4')`, `bind`,
 * `send`, 'message' with rinfo, `close`. Datagrams are read in the host's event
 * callback and emitted at once (UDP has no flow control to propagate).
 */
import { EventEmitter } from 'node:events';
import { type Handle, Ipv4Address, Ipv6Address, SocketEvent, type SocketError } from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';
import { type FamilyName, literalAddress, resolveOne } from './address.js';
import { fromStackError, socketError } from './errors.js';

export type UdpType = 'udp4' | 'udp6';

export interface RemoteInfo {
  address: string;
  family: FamilyName;
  port: number;
  size: number;
}

export interface UdpSocketOptions {
  type: UdpType;
  /** Bytes of datagrams the stack queues for this socket before dropping. */
  recvQueueBytes?: number;
}

type SendCb = (err: Error | null, bytes?: number) => void;

export class TapUdpSocket extends EventEmitter {
  readonly host: SocketHost;
  readonly type: UdpType;
  handle: Handle | undefined;
  private closed = false;
  private readonly recvQueueBytes: number | undefined;

  constructor(
    host: SocketHost,
    options: UdpSocketOptions,
    listener?: (msg: Buffer, rinfo: RemoteInfo) => void,
  ) {
    super();
    this.host = host;
    this.type = options.type;
    this.recvQueueBytes = options.recvQueueBytes;
    if (listener) this.on('message', listener);
  }

  private ensureOpen(): Handle {
    if (this.closed) throw socketError('EBADF', 'send');
    if (this.handle === undefined) {
      this.handle =
        this.recvQueueBytes !== undefined
          ? this.host.udpOpen({ recvQueueBytes: this.recvQueueBytes })
          : this.host.udpOpen();
      const h = this.handle;
      this.host.watch(h, (m) => {
        if (m & SocketEvent.Readable) this.drain();
        if (m & SocketEvent.Error) {
          const e = this.host.socketError(h);
          if (e) this.emit('error', fromStackError(e, 'recvmsg'));
        }
      });
    }
    return this.handle;
  }

  private drain(): void {
    const h = this.handle;
    while (h !== undefined && !this.closed) {
      const d = this.host.udpRecv(h);
      if (!d) return;
      const msg = Buffer.from(d.data.buffer, d.data.byteOffset, d.data.byteLength);
      this.emit('message', msg, {
        address: d.address.toString(),
        family: d.address.version === 4 ? 'IPv4' : 'IPv6',
        port: d.port,
        size: msg.length,
      } satisfies RemoteInfo);
    }
  }

  /** bind([port][, address][, cb]) or bind({ port, address }[, cb]). Emits 'listening'. */
  bind(
    port?: number | { port?: number; address?: string },
    address?: string | (() => void),
    cb?: () => void,
  ): this {
    let p = 0;
    let a: string | undefined;
    if (typeof port === 'object') {
      p = port.port ?? 0;
      a = port.address;
      if (typeof address === 'function') cb = address;
    } else {
      p = port ?? 0;
      if (typeof address === 'function') cb = address;
      else a = address;
    }
    if (cb) this.once('listening', cb);
    const h = this.ensureOpen();
    const addr = a ? literalAddress(a) : this.anyAddress();
    const e = this.host.udpBind(h, addr, p);
    if (e) {
      const err = fromStackError(e, 'bind', { address: a ?? this.anyAddress().toString(), port: p });
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  private anyAddress() {
    return this.type === 'udp4' ? Ipv4Address.UNSPECIFIED : Ipv6Address.UNSPECIFIED;
  }

  /**
   * send(msg, port, address[, cb]) or send(msg, offset, length, port, address[, cb]).
   * Host names are resolved through the host; the callback gets (err, bytes).
   */
  send(msg: Uint8Array | string | (Uint8Array | string)[], port: number, address?: string, cb?: SendCb): void;
  send(
    msg: Uint8Array | string,
    offset: number,
    length: number,
    port: number,
    address?: string,
    cb?: SendCb,
  ): void;
  send(msg: Uint8Array | string | (Uint8Array | string)[], ...rest: unknown[]): void {
    const cb = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as SendCb) : undefined;
    let data: Buffer;
    if (Array.isArray(msg))
      data = Buffer.concat(msg.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)));
    else
      data =
        typeof msg === 'string' ? Buffer.from(msg) : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
    let port: number;
    let address: string | undefined;
    if (rest.length >= 3 && typeof rest[0] === 'number' && typeof rest[1] === 'number') {
      data = data.subarray(rest[0] as number, (rest[0] as number) + (rest[1] as number));
      port = rest[2] as number;
      address = rest[3] as string | undefined;
    } else {
      port = rest[0] as number;
      address = rest[1] as string | undefined;
    }
    const done = (err: Error | null, n?: number) => {
      if (cb) cb(err, n);
      else if (err) this.emit('error', err);
    };
    let h: Handle;
    try {
      h = this.ensureOpen();
    } catch (e) {
      process.nextTick(() => done(e as Error));
      return;
    }
    const target = address ?? (this.type === 'udp4' ? '127.0.0.1' : '::1');
    resolveOne(this.host, target, this.type === 'udp4' ? 4 : 6).then(
      (dst) => {
        if (this.closed) return done(socketError('EBADF', 'send'));
        const where = { address: target, port };
        // udpSend returns the byte count or -(SocketError). Argument errors are caught
        // here first so they carry Node's wording; only a result equal to the length counts as sent.
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          return done(socketError('EINVAL', 'send', where));
        if (this.type === 'udp4' && dst.version !== 4) return done(socketError('EINVAL', 'send', where));
        if (dst.isUnspecified()) return done(socketError('EINVAL', 'send', where));
        const r = this.host.udpSend(h, data, dst, port);
        if (r === data.length) done(null, r);
        else done(fromStackError(-r as SocketError, 'send', where));
      },
      (err: Error) => done(err),
    );
  }

  address(): { address: string; family: FamilyName; port: number } {
    const l = this.handle !== undefined ? this.host.udpLocal(this.handle) : undefined;
    if (!l) throw socketError('EBADF', 'getsockname');
    const a = l.address ?? this.anyAddress();
    return { address: a.toString(), family: a.version === 4 ? 'IPv4' : 'IPv6', port: l.port };
  }

  close(cb?: () => void): this {
    if (this.closed) return this;
    this.closed = true;
    if (this.handle !== undefined) {
      this.host.unwatch(this.handle);
      this.host.udpClose(this.handle);
      this.handle = undefined;
    }
    if (cb) this.once('close', cb);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/** `const dgram = createDgram(host); dgram.createSocket('udp4')`. */
export function createDgram(host: SocketHost) {
  return {
    createSocket(
      type: UdpType | UdpSocketOptions,
      listener?: (msg: Buffer, rinfo: RemoteInfo) => void,
    ): TapUdpSocket {
      return new TapUdpSocket(host, typeof type === 'string' ? { type } : type, listener);
    },
  };
}
