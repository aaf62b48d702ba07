/**
 * The application side of the AF_UNIX bridge: each call opens a Unix socket to the
 * daemon, sends one request line, waits for the reply and hands back an ordinary
 * `net.Socket` that is now the TCP connection's byte stream. Failures reject with a
 * Node-style error (`code` from the daemon's `ERR` line, syscall 'bridge').
 */
import { EventEmitter } from 'node:events';
import { type Socket, connect as unixConnect } from 'node:net';
import { parseIpAddress } from '@tapstack/stack-core';
import { type FamilyName, parseHostPort } from './address.js';
import {
  type BridgeRequest,
  DatagramDecoder,
  encodeDatagram,
  formatRequest,
  parseReply,
} from './bridge-protocol.js';
import { type SocketBridgeError, socketError } from './errors.js';
import { checkSocketOwner } from './local-path.js';

export interface BridgeEndpoints {
  /** "192.0.2.1:49152" on the virtual network. */
  local: string;
  remote: string;
}

/** A `net.Socket` to the daemon that now carries one TCP connection. */
export type BridgeSocket = Socket & { tapstack: BridgeEndpoints };

export interface BridgeOptions {
  /** The daemon's Unix socket path. */
  path: string;
  /**
   * Refuse a socket at `path` that is owned by neither this user nor root (EPERM)
   * [true]: another local user's socket there is not the daemon.
   */
  checkOwner?: boolean;
  /** Reject when no reply came within this many ms [30000]. */
  timeout?: number;
  /**
   * Keep our side open after the peer's FIN [false, as for net.Socket]: by default the
   * socket ends itself when the peer ends, which closes the bridge session.
   */
  allowHalfOpen?: boolean;
}

function replyError(code: string, message: string, syscall: string): SocketBridgeError {
  const e = socketError(code, syscall);
  e.message = `${syscall} ${code} ${message}`.trim();
  return e;
}

/** Sends one request and resolves with the socket and the reply's fields. */
export function bridgeRequest(
  opts: BridgeOptions,
  request: BridgeRequest,
): Promise<{ socket: Socket; fields: string[] }> {
  if (opts.checkOwner !== false) {
    try {
      checkSocketOwner(opts.path);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return new Promise((resolve, reject) => {
    const sock = unixConnect({ path: opts.path, allowHalfOpen: opts.allowHalfOpen ?? false });
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(socketError('ETIMEDOUT', 'bridge')), opts.timeout ?? 30_000);
    const onError = (e: Error) => fail(e);
    // EOF before the reply (the daemon stopped or dropped us): a bridge socket may be
    // half-open (allowHalfOpen), so 'close' alone would never come.
    const onClose = () =>
      fail(replyError('ECONNRESET', 'daemon closed the connection before replying', 'bridge'));
    sock.on('error', onError);
    sock.on('end', onClose);
    sock.on('close', onClose);
    sock.on('connect', () => sock.write(formatRequest(request)));
    const onReadable = () => {
      for (;;) {
        const c = sock.read() as Buffer | null;
        if (c === null) return;
        buf = buf.length ? Buffer.concat([buf, c]) : c;
        const nl = buf.indexOf(10);
        if (nl < 0) {
          if (buf.length > 4096) fail(socketError('EPROTO', 'bridge'));
          continue;
        }
        sock.off('readable', onReadable);
        const rest = buf.subarray(nl + 1);
        if (rest.length) sock.unshift(rest);
        const reply = parseReply(buf.subarray(0, nl).toString('latin1'));
        if (!reply) return fail(socketError('EPROTO', 'bridge'));
        if (!reply.ok) return fail(replyError(reply.code, reply.message, 'bridge'));
        settled = true;
        clearTimeout(timer);
        sock.off('error', onError);
        sock.off('end', onClose);
        sock.off('close', onClose);
        resolve({ socket: sock, fields: reply.fields });
        return;
      }
    };
    sock.on('readable', onReadable);
  });
}

function asBridgeSocket(socket: Socket, fields: string[]): BridgeSocket {
  const s = socket as BridgeSocket;
  s.tapstack = { local: fields[0] ?? '', remote: fields[1] ?? '' };
  return s;
}

/** Opens a TCP connection on the virtual network through the daemon. */
export async function bridgeConnect(
  opts: BridgeOptions & { host: string; port: number },
): Promise<BridgeSocket> {
  const { socket, fields } = await bridgeRequest(opts, { verb: 'CONNECT', host: opts.host, port: opts.port });
  return asBridgeSocket(socket, fields);
}

/** Waits on listener `id` for the next connection. */
export async function bridgeAccept(opts: BridgeOptions & { id: number }): Promise<BridgeSocket> {
  const { socket, fields } = await bridgeRequest(
    { ...opts, timeout: opts.timeout ?? 2 ** 31 - 1 },
    {
      verb: 'ACCEPT',
      id: opts.id,
    },
  );
  return asBridgeSocket(socket, fields);
}

/**
 * A TCP listener in the daemon. It lives as long as its control connection; `accept()`
 * opens one more bridge connection per accepted TCP connection.
 */
export class BridgeListener extends EventEmitter {
  private closed = false;
  constructor(
    private readonly opts: BridgeOptions,
    readonly id: number,
    /** "0.0.0.0:8080" as the daemon bound it. */
    readonly address: string,
    private readonly control: Socket,
  ) {
    super();
    // The daemon ending the control connection (EOF) ends the listener, even when
    // the socket is half-open and would otherwise wait for our side.
    control.on('end', () => this.close());
    control.on('close', () => this.close());
    control.on('error', () => {});
    control.resume();
  }

  /** True once the listener is gone (closed by us or by the daemon). */
  get isClosed(): boolean {
    return this.closed;
  }

  get port(): number {
    return parseHostPort(this.address)?.port ?? 0;
  }

  accept(): Promise<BridgeSocket> {
    return bridgeAccept({ ...this.opts, id: this.id });
  }

  /** Stops listening (closes the control connection). Emits 'close' once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.control.end();
    this.control.destroy();
    this.emit('close');
  }
}

export async function bridgeListen(
  opts: BridgeOptions & { port: number; address?: string; backlog?: number },
): Promise<BridgeListener> {
  const { socket, fields } = await bridgeRequest(opts, {
    verb: 'LISTEN',
    address: opts.address,
    port: opts.port,
    backlog: opts.backlog ?? 128,
  });
  return new BridgeListener(opts, Number(fields[0]), fields[1] ?? '', socket);
}

export interface BridgeRemoteInfo {
  address: string;
  family: FamilyName;
  port: number;
  size: number;
}

/** A UDP socket in the daemon; datagrams travel framed over one bridge connection. */
export class BridgeUdpSocket extends EventEmitter {
  private readonly dec = new DatagramDecoder();
  constructor(
    private readonly sock: Socket,
    /** "0.0.0.0:5353" as the daemon bound it. */
    readonly local: string,
  ) {
    super();
    sock.on('data', (c: Buffer) => {
      let ds: ReturnType<DatagramDecoder['push']>;
      try {
        ds = this.dec.push(c);
      } catch (e) {
        this.emit('error', e);
        sock.destroy();
        return;
      }
      for (const d of ds)
        this.emit('message', d.payload, {
          address: d.address.toString(),
          family: d.address.version === 4 ? 'IPv4' : 'IPv6',
          port: d.port,
          size: d.payload.length,
        } satisfies BridgeRemoteInfo);
    });
    sock.on('error', (e) => this.emit('error', e));
    // The daemon ended the session: nothing more can be sent either (even half-open).
    sock.on('end', () => sock.destroy());
    sock.on('close', () => this.emit('close'));
  }

  get port(): number {
    return parseHostPort(this.local)?.port ?? 0;
  }

  /** Sends one datagram to a literal address. Returns false when the bridge socket is backed up. */
  send(data: Uint8Array | string, port: number, address: string): boolean {
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    return this.sock.write(encodeDatagram(parseIpAddress(address), port, payload));
  }

  close(): void {
    this.sock.end();
  }
}

export async function bridgeUdp(
  opts: BridgeOptions & { port?: number; address?: string },
): Promise<BridgeUdpSocket> {
  const { socket, fields } = await bridgeRequest(opts, {
    verb: 'UDP',
    address: opts.address,
    port: opts.port ?? 0,
  });
  return new BridgeUdpSocket(socket, fields[0] ?? '');
}
