/**
 * Port-forward plumbing: a host socket joined straight to a stack TCP handle by a
 * HandlePump (no Duplex in between, so no copies beyond the send and receive rings).
 * `forwardToStack` connects out on the stack for an accepted host socket; `StackAcceptor`
 * listens on the stack and hands each accepted handle over to be joined to a host socket.
 */
import type { Socket } from 'node:net';
import {
  type Handle,
  SocketError,
  SocketEvent,
  type TcpSocketOptions,
  socketErrorName,
} from '@tapstack/stack-core';
import type { SocketHost } from '@tapstack/stack-driver';
import { literalAddress, resolveOne } from './address.js';
import { HandlePump, type PumpEnd } from './pump.js';

/**
 * A forward's TCP handles: Nagle off (a relay cannot know when the application's message
 * is whole) and 1 MiB buffers, so the window covers a fast local path's bandwidth-delay
 * product. Ring storage grows on use and is released when idle.
 */
export const FORWARD_TCP: TcpSocketOptions = {
  noDelay: true,
  sendBufferSize: 1 << 20,
  recvBufferSize: 1 << 20,
};

export interface ForwardHooks {
  /** Bytes as they move: up = host socket → stack, down = stack → host socket. */
  onBytes?: (direction: 'up' | 'down', n: number) => void;
  /** The session is over: how it ended, and the stack error if the connect failed or it was reset. */
  onEnd?: (how: PumpEnd | 'refused', error?: string) => void;
  tcp?: TcpSocketOptions;
}

export interface ForwardSession {
  /** Ends it now: RST on the stack side, the host socket destroyed. */
  abort(): void;
}

/**
 * Connects to `target` on the stack and joins `stream` (an accepted host socket; pause it
 * before the call, or pass it as `pauseOnConnect`) to it. A failed connect destroys the
 * stream (its client sees a reset).
 */
export function forwardToStack(
  host: SocketHost,
  stream: Socket,
  target: { host: string; port: number },
  hooks: ForwardHooks = {},
): ForwardSession {
  stream.pause();
  let pump: HandlePump | undefined;
  let handle: Handle | undefined;
  let over = false;
  const refuse = (e: string) => {
    if (over) return;
    over = true;
    stream.resetAndDestroy();
    hooks.onEnd?.('refused', e);
  };
  const abandon = () => {
    // The host client left while we were connecting.
    if (pump || handle === undefined || over) return;
    over = true;
    host.unwatch(handle);
    host.tcpAbort(handle);
    hooks.onEnd?.('aborted');
  };
  stream.once('close', abandon);
  const start = (addr: NonNullable<ReturnType<typeof literalAddress>>) => {
    if (stream.destroyed || over) return;
    const h = host.tcpOpen({ ...FORWARD_TCP, ...hooks.tcp });
    handle = h;
    host.watch(h, (m) => {
      if (m & SocketEvent.Connected) {
        stream.off('close', abandon);
        stream.setNoDelay(true);
        pump = new HandlePump(host, h, stream, (how, p) => hooks.onEnd?.(how, p.error), {
          onBytes: hooks.onBytes,
        });
        stream.resume();
      } else if (m & (SocketEvent.Error | SocketEvent.Closed)) {
        const e = host.socketError(h) || SocketError.ECONNREFUSED;
        host.unwatch(h);
        host.tcpClose(h);
        refuse(socketErrorName(e));
      }
    });
    const e = host.tcpConnect(h, addr, target.port, host.now());
    if (e) {
      host.unwatch(h);
      host.tcpClose(h);
      refuse(socketErrorName(e));
    }
  };
  const lit = literalAddress(target.host);
  if (lit) start(lit);
  else resolveOne(host, target.host).then(start, () => refuse('ENOTFOUND'));
  return {
    abort: () => {
      if (pump) pump.abort();
      else {
        abandon();
        stream.destroy();
      }
    },
  };
}

/** A connection accepted on the stack, waiting for its host socket. */
export interface AcceptedConnection {
  /** Joins it to `stream` (a host socket, connected or connecting; reading starts now). */
  join(stream: Socket, hooks?: Omit<ForwardHooks, 'tcp'>): ForwardSession;
  /** Refuses it: RST to the stack peer. */
  reset(): void;
}

/** Listens on a stack address/port and hands over every accepted connection. */
export class StackAcceptor {
  private handle: Handle | undefined;
  private bound: { address: string; port: number } | undefined;

  constructor(
    private readonly host: SocketHost,
    private readonly onConnection: (c: AcceptedConnection) => void,
    private readonly tcp: TcpSocketOptions = {},
  ) {}

  /** Binds and listens; throws an Error with `code` (EADDRINUSE, EADDRNOTAVAIL...) when it cannot. */
  listen(port: number, address?: string, backlog = 511): { address: string; port: number } {
    const addr = address !== undefined ? literalAddress(address) : undefined;
    if (address !== undefined && !addr) throw new Error(`not an IP address: ${address}`);
    const h = this.host.tcpOpen({ ...FORWARD_TCP, ...this.tcp });
    let e = this.host.tcpBind(h, addr, port);
    if (!e) e = this.host.tcpListen(h, backlog);
    if (e) {
      this.host.tcpClose(h);
      const err = new Error(`listen ${socketErrorName(e)} ${address ?? ''}:${port}`) as Error & {
        code: string;
      };
      err.code = socketErrorName(e);
      throw err;
    }
    this.handle = h;
    this.host.watch(h, (m) => {
      if (m & SocketEvent.Acceptable) this.acceptAll();
    });
    const info = this.host.tcpInfo(h);
    this.bound = {
      address: info?.localAddress?.toString() ?? address ?? '0.0.0.0',
      port: info?.localPort ?? port,
    };
    return this.bound;
  }

  address(): { address: string; port: number } | undefined {
    return this.handle !== undefined ? this.bound : undefined;
  }

  private acceptAll(): void {
    const l = this.handle;
    while (l !== undefined && this.handle === l) {
      const h = this.host.tcpAccept(l);
      if (h === undefined) return;
      this.onConnection(this.accepted(h));
    }
  }

  private accepted(h: Handle): AcceptedConnection {
    const host = this.host;
    let used = false;
    return {
      reset: () => {
        if (used) return;
        used = true;
        host.unwatch(h);
        host.tcpAbort(h);
      },
      join: (stream, hooks = {}) => {
        if (used) throw new Error('accepted connection already joined or reset');
        used = true;
        stream.setNoDelay(true);
        const pump = new HandlePump(host, h, stream, (how, p) => hooks.onEnd?.(how, p.error), {
          onBytes: hooks.onBytes,
        });
        return { abort: () => pump.abort() };
      },
    };
  }

  /** Stops listening (connections already accepted go on). */
  close(): void {
    const h = this.handle;
    if (h === undefined) return;
    this.handle = undefined;
    this.host.unwatch(h);
    this.host.tcpClose(h);
  }
}
